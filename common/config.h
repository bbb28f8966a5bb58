/*
 * config: upstream copilot-bridge's config.json, parsed, validated, diffed.
 *
 * A struct cfg is immutable once returned by cfg_load()/cfg_parse(): nothing
 * (handle resolution, DM discovery, ...) writes into it, so a diff of two
 * configs only ever shows what changed in the file.
 */
#ifndef COMMON_CONFIG_H
#define COMMON_CONFIG_H

#include <stddef.h>

#include <jansson.h>

#include "log.h"

#define CFG_FILE_MAX		(4 * 1024 * 1024)
#define CFG_ERR_MAX		1024
#define CFG_DEFAULT_DRAIN_MS	10000
#define CFG_DEFAULT_RECONNECT_MS 10000
#define CFG_DEFAULT_SLACK_API	"https://slack.com/api/"

struct cfg_bot {
	char	*platform;	/* key under "platforms" */
	char	*name;		/* key under "bots", or "default" for botToken */
	char	*key;		/* "platform:name" */
	char	*token;
	char	*app_token;	/* Slack Socket Mode token, else NULL */
	char	*url;		/* platform url (non-Slack), else NULL */
	int	 admin;		/* bots.<b>.admin */
	int	 has_adapter;	/* platform is "mattermost" or "slack" */
};

struct cfg {
	json_t		*root;		/* the validated document, access entries normalised */
	json_t		*grace;		/* array: static channels removed from the file, kept serving */
	char		*path;		/* file it was read from, or NULL */
	struct cfg_bot	*bots;
	size_t		 nbots;
	enum log_level	 log_level;
	int		 drain_timeout_ms;	/* reloadDrainTimeoutMs */
	int		 reconnect_timeout_ms;	/* reconnectTimeoutMs */
	int		 auto_reload_bots;	/* autoReloadBots */
	char		*state_dir;	/* stateDir, ~ expanded; default ~/.copilot-bridge */
	char		*log_dir;	/* logDir, ~ expanded; NULL = stderr */
	char		*control_socket; /* controlSocket; default <stateDir>/control.sock */
	char		 hash[65];	/* sha256 hex of the canonical root */
};

struct cfg_strlist {
	char	**v;
	size_t	  n;
};

/* One bot whose worker must be replaced to apply the new config. */
struct cfg_botreload {
	char			*key;		/* "platform:bot" */
	struct cfg_strlist	 reasons;	/* "token", "appToken", "url", "added", "removed" */
	struct cfg_strlist	 texts;		/* upstream-style lines, e.g. bot "mattermost:a": token changed */
};

struct cfg_diff {
	struct cfg_strlist	 changes;	/* applied live, upstream's change strings */
	struct cfg_botreload	*bots;		/* botReloadNeeded, sorted by key */
	size_t			 nbots;
	int			 telemetry;	/* telemetryReloadNeeded */
	struct cfg_strlist	 restart;	/* restartNeeded: what cannot change live */
};

int		 cfg_resolve_path(const char *arg, char *out, size_t len);
int		 cfg_control_socket_hint(const char *path, char *out, size_t len);
struct cfg	*cfg_load(const char *path, char *err, size_t errlen);
struct cfg	*cfg_parse(const char *buf, size_t len, const char *path,
		    char *err, size_t errlen);
void		 cfg_free(struct cfg *);
int		 cfg_carry_grace(struct cfg *newc, const struct cfg *oldc);
const struct cfg_bot *cfg_find_bot(const struct cfg *, const char *key);
json_t		*cfg_worker_json(const struct cfg *, const struct cfg_bot *);

struct cfg_diff	*cfg_diff(const struct cfg *oldc, const struct cfg *newc);
int		 cfg_diff_empty(const struct cfg_diff *);
char		*cfg_diff_markdown(const struct cfg_diff *);
void		 cfg_diff_free(struct cfg_diff *);

#endif
