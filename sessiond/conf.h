/*
 * conf: sessiond's view of the config, parsed into structs once when the
 * supervisor sends it (CONFIG, CONFIG_UPDATE), and the effective settings
 * of a channel resolved from it.  Nothing walks the JSON per message: a
 * reload swaps the whole parsed view, so the next message sees the new
 * config and a running session is not touched.
 */
#ifndef SESSIOND_CONF_H
#define SESSIOND_CONF_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Where an effective setting came from, as /config shows it. */
enum conf_src {
	CONF_SRC_BUILTIN,	/* nothing set it */
	CONF_SRC_DEFAULTS,	/* "defaults" */
	CONF_SRC_BOT,		/* the bot's entry under platforms.P.bots */
	CONF_SRC_CHANNEL,	/* the channel's entry in "channels" */
	CONF_SRC_PREF,		/* the channel's stored preference */
	CONF_SRC_SESSION	/* what the live session runs */
};

/* A tri-state setting: -1 unset, else 0 or 1. */
#define CONF_UNSET	(-1)

struct policy_config;

struct conf_bot {
	char		*key;		/* "platform:name" */
	char		*model;		/* NULL: unset */
	int		 has_agent;	/* "agent" present (null is a value) */
	char		*agent;		/* NULL with has_agent: null */
	int		 admin;
};

struct conf_channel {
	char		*id;		/* platform channel id */
	char		*platform;
	char		*served_by;	/* "platform:name": the one bot answering */
	char		*name;
	char		*cwd;		/* workingDirectory */
	char		*model;		/* NULL: unset */
	int		 has_agent;
	char		*agent;
	int		 trigger_all;	/* triggerMode "all"; CONF_UNSET */
	int		 threaded;	/* threadedReplies; CONF_UNSET */
	int		 thread_sessions; /* threadSessions; CONF_UNSET */
	int		 verbose;	/* CONF_UNSET */
	char		*timezone;	/* NULL: unset */
};

struct conf_defaults {
	char		*model;
	int		 has_agent;
	char		*agent;
	int		 trigger_all;
	int		 threaded;
	int		 thread_sessions;
	int		 verbose;
	int		 autopilot;	/* permissionMode "autopilot" */
	int		 workspace_hooks; /* allowWorkspaceHooks */
	char		*timezone;	/* scheduled tasks' zone; NULL: UTC */
};

/* "files": what moves between the chat and a workspace, and for how long. */
struct conf_files {
	uint64_t		 max_file;	/* bytes of one file, either way */
	uint64_t		 max_message;	/* bytes of one message's files */
	uint64_t		 temp_max_age_ms; /* downloaded files are kept */
};

#define CONF_FILE_MIB_DEFAULT	20
#define CONF_TEMP_HOURS_DEFAULT	24

struct conf {
	json_t			*root;		/* the projection as received */
	struct conf_channel	*chans;		/* sorted by (id, platform) */
	size_t			 nchans;
	struct conf_bot		*bots;		/* sorted by key */
	size_t			 nbots;
	struct conf_defaults	 defaults;
	const json_t		*providers;	/* object in root, or NULL */
	const json_t		*telemetry;	/* object in root, or NULL */
	char			*state_dir;
	char			*backend;	/* session.backend: "copilot", "echo" */
	int			 notify_hooks;	/* hooks.notifyOnAutoReload */
	struct conf_files	 files;
	struct policy_config	*policy;	/* permissions, parsed; NULL: none */
	long long		 sched_grace_ms; /* scheduler.graceSeconds */
};

/* The effective config of one channel (static, grace, or a DM). */
struct chan_conf {
	const char	*name;		/* the channel's "name" in the config, or NULL */
	int		 configured;	/* an entry of "channels" (else a DM) */
	const char	*cwd;
	const char	*model;		/* model id as sent to the runtime */
	enum conf_src	 model_src;
	const json_t	*provider;	/* BYOK provider object, or NULL */
	const char	*provider_name;	/* its key under "providers", or NULL */
	const char	*agent;		/* NULL: none */
	enum conf_src	 agent_src;
	int		 trigger_all;	/* triggerMode "all" */
	enum conf_src	 trigger_src;
	int		 threaded;	/* threadedReplies */
	enum conf_src	 threaded_src;
	int		 thread_sessions; /* threadSessions: a session per thread */
	enum conf_src	 thread_sessions_src;
	int		 verbose;
	enum conf_src	 verbose_src;
	int		 autopilot;	/* permissionMode "autopilot" */
	enum conf_src	 autopilot_src;
	const char	*effort;	/* reasoning effort, or NULL */
	enum conf_src	 effort_src;
	const char	*session_mode;	/* interactive, plan, autopilot; NULL */
	const char	*disabled_skills; /* a JSON array, or NULL */
	const char	*timezone;	/* IANA name for scheduled tasks */
	int		 dm;		/* a direct message channel */
	int		 admin;		/* the bot is an admin bot */
	char		 dmdir[4096];	/* a DM's workspace; cwd points here */
};

/* Parse a projection (not stolen); NULL with err set if it is unusable. */
struct conf	*conf_parse(json_t *root, char *err, size_t len);
void		 conf_free(struct conf *);
/* The view in force, set by the dispatcher when the supervisor sends one. */
void		 conf_set(struct conf *);
const struct conf *conf_get(void);
/*
 * Fill out for channel as seen by bot ("platform:name"): the config, then
 * the channel's stored preferences over it.  Returns -1 when the bot must
 * not answer there: a configured channel of another bot, or an
 * unconfigured channel that is not a DM.  Strings are valid until the
 * next config or preference change.
 */
int		 conf_channel(const char *channel, const char *bot, int is_dm,
		    struct chan_conf *out);
const char	*conf_src_name(enum conf_src);

#endif
