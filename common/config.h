/*
 * config: upstream copilot-bridge's config.json, loaded, validated and
 * diffed (config.c: load and build; cfg_valid.c: the validation table;
 * cfg_diff.c: the diff of two loads; cfg_js.c: JavaScript's view of JSON).
 *
 * A struct cfg is immutable once returned by cfg_load()/cfg_parse(): nothing
 * (handle resolution, DM discovery, ...) writes into it, so a diff of two
 * configs only ever shows what changed in the file.  What the supervisor
 * reads of it is typed below; root is the validated document, for the diff
 * and for the projections sent to the other processes (supervisor/project.c).
 */
#ifndef COMMON_CONFIG_H
#define COMMON_CONFIG_H

#include <stddef.h>

#include <jansson.h>

#include "log.h"
#include "pollwatch.h"

#define CFG_FILE_MAX		(4 * 1024 * 1024)
#define CFG_ERR_MAX		8192
#define CFG_DEFAULT_DRAIN_MS	10000
#define CFG_DEFAULT_RECONNECT_MS 10000
#define CFG_DEFAULT_CONCURRENCY	4	/* reloadPlatformConcurrency */
#define CFG_DEFAULT_SLACK_API	"https://slack.com/api/"

/* One entry of "platforms".  JSON members point into root. */
struct cfg_platform {
	char	*name;		/* key under "platforms" */
	json_t	*access;	/* platform-level access, or NULL */
	json_t	*admins;	/* platform-level admins (normalised), or NULL */
	char	*api_url;	/* Slack: apiUrl ending in one '/', else NULL */
};

struct cfg_bot {
	char	*platform;	/* key under "platforms" */
	char	*name;		/* key under "bots", or "default" for botToken */
	char	*key;		/* "platform:name" */
	char	*token;
	char	*app_token;	/* Slack Socket Mode token, else NULL */
	char	*url;		/* platform url (non-Slack), else NULL */
	int	 admin;		/* bots.<b>.admin */
	int	 has_adapter;	/* platform is "mattermost" or "slack" */
	size_t	 plat;		/* index in cfg.platforms */
	json_t	*obj;		/* its object under "bots", or NULL (botToken) */
	json_t	*access;	/* bot-level access, or NULL */
	json_t	*admins;	/* bot-level admins (normalised), or NULL */
};

/* A static channel (or one in its grace period).  Strings point into JSON. */
struct cfg_chan {
	const char	*id;
	const char	*platform;
	const char	*bot;		/* "bot" if a non-empty string, else NULL */
	int		 is_dm;		/* "isDM": true */
	json_t		*obj;		/* the channel's object */
};

struct cfg {
	json_t			*root;		/* the validated document, access entries normalised */
	json_t			*grace;		/* array: static channels removed from the file, kept serving */
	char			*path;		/* file it was read from, or NULL */
	struct cfg_platform	*platforms;	/* sorted by name */
	size_t			 nplatforms;
	struct cfg_bot		*bots;		/* by platform, then name */
	size_t			 nbots;
	struct cfg_chan		*chans;		/* "channels", in file order */
	size_t			 nchans;
	struct cfg_chan		*grace_chans;	/* grace, in order */
	size_t			 ngrace;
	json_t			*telemetry;	/* "telemetry", or NULL */
	enum log_level		 log_level;
	int			 drain_timeout_ms;	/* reloadDrainTimeoutMs */
	int			 reconnect_timeout_ms;	/* reconnectTimeoutMs */
	int			 auto_reload_bots;	/* autoReloadBots */
	int			 platform_concurrency;	/* reloadPlatformConcurrency */
	enum pollwatch_mode	 watch_mode;	/* watch; default auto */
	int			 watch_interval_ms;	/* watchIntervalMs */
	char			*state_dir;	/* stateDir, ~ expanded; default ~/.copilot-bridge */
	char			*log_dir;	/* logDir, ~ expanded; NULL = stderr */
	char			*control_socket; /* controlSocket; default <stateDir>/control.sock */
	char			 hash[65];	/* sha256 hex of the canonical root */
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

/* config.c */
int		 cfg_resolve_path(const char *arg, char *out, size_t len);
int		 cfg_control_socket_hint(const char *path, char *out, size_t len);
struct cfg	*cfg_load(const char *path, char *err, size_t errlen);
struct cfg	*cfg_parse(const char *buf, size_t len, const char *path,
		    char *err, size_t errlen);
void		 cfg_free(struct cfg *);
int		 cfg_carry_grace(struct cfg *newc, const struct cfg *oldc);
const struct cfg_bot *cfg_find_bot(const struct cfg *, const char *key);
const struct cfg_platform *cfg_find_platform(const struct cfg *,
		    const char *name);

/* cfg_diff.c */
struct cfg_diff	*cfg_diff(const struct cfg *oldc, const struct cfg *newc);
int		 cfg_diff_empty(const struct cfg_diff *);
char		*cfg_diff_markdown(const struct cfg_diff *);
void		 cfg_diff_free(struct cfg_diff *);

#endif
