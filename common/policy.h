/*
 * policy: the decision on one permission request of the Copilot runtime
 * (docs/architecture.md "Permissions"): hard-coded denies, bridge tools,
 * the channel's autopilot, the config's `permissions`, stored rules, and
 * otherwise ask the user.  Pure: no I/O, no globals, no logging.  Paths
 * are compared lexically (no symlink is followed).
 */
#ifndef COMMON_POLICY_H
#define COMMON_POLICY_H

#include <stddef.h>

#include <jansson.h>

enum policy_verdict {
	POLICY_ASK,		/* no rule decided: the chat prompt */
	POLICY_ALLOW,
	POLICY_DENY,
};

enum policy_source {
	POLICY_SRC_NONE,	/* nothing decided */
	POLICY_SRC_HARD,	/* a hard-coded deny: nothing overrides it */
	POLICY_SRC_BRIDGE,	/* a bridge custom tool, approved */
	POLICY_SRC_AUTOPILOT,	/* the channel's permissionMode "autopilot" */
	POLICY_SRC_CONFIG,	/* the config's permissions */
	POLICY_SRC_STORED,	/* a stored rule (/always, /remember, reactions) */
};

#define POLICY_RULE_MAX	256	/* bytes of policy_decision.rule */

/*
 * One permission.requested event.  Every field may be NULL; kind NULL is
 * "unknown".  Strings are the event's own (permissionRequest.<field>).
 */
struct policy_request {
	const char	*kind;		/* kind: shell, write, read, url, mcp, custom-tool, ... */
	const char	*command;	/* shell: fullCommandText */
	const char	*path;		/* write: fileName; read: path */
	const char	*resolved_path;	/* resolvedPath, when the runtime gives it */
	const char	*url;		/* url: url */
	const char	*server;	/* mcp: serverName */
	const char	*tool;		/* mcp, custom-tool: toolName */
	const char	*cwd;		/* the session's working directory */
	int		 admin;		/* the bot is an admin bot */
	/* The bot's stored workspace allowPaths, NULL-terminated, or NULL. */
	const char *const *workspace_paths;
};

/*
 * A stored rule (a permission_rules row), given in priority order: the
 * channel's rules newest first, then the global ones newest first.  The
 * first rule of the tool whose pattern is "*" or the command decides.
 */
struct policy_rule {
	const char	*tool;
	const char	*pattern;	/* "*": any */
	int		 allow;		/* 1 allow, 0 deny */
};

struct policy_decision {
	enum policy_verdict	 verdict;
	enum policy_source	 source;
	const char		*reason;	/* static text; NULL when asking */
	char			 rule[POLICY_RULE_MAX]; /* the deciding rule, "" if none */
};

struct policy_config;

/*
 * permissions of the config (NULL: no rules).  home expands a leading "~"
 * in allowPaths and path rules and in requests (NULL: such an entry is an
 * error, such a request path is not resolved).  NULL on a malformed entry,
 * with err "permissions.deny[2]: ...", or out of memory.
 */
struct policy_config *policy_config_parse(const json_t *permissions,
		    const char *home, char *err, size_t errlen);
void		 policy_config_free(struct policy_config *);

/*
 * The whole order: hard deny, then a bridge custom tool (bridge_tool says
 * that req->tool is one; it counts only with kind "custom-tool"), then
 * autopilot, then cfg (NULL: none), then the stored rules, else ask.
 */
void		 policy_decide(const struct policy_request *,
		    const struct policy_config *, int autopilot,
		    const struct policy_rule *stored, size_t nstored,
		    int bridge_tool, struct policy_decision *);

/* The steps, each on its own.  d is always filled in. */
int		 policy_hard_deny(const char *command,
		    struct policy_decision *d);		/* 1: denied */
enum policy_verdict policy_config_eval(const struct policy_config *,
		    const struct policy_request *, struct policy_decision *d);
enum policy_verdict policy_stored_eval(const struct policy_rule *, size_t,
		    const struct policy_request *, struct policy_decision *d);

/*
 * The rules "/always approve" (allow 1) or "/always deny" (allow 0) stores
 * for an answered request: *rules is one allocation (free() it) of *n
 * rules, *n possibly 0.  -1 out of memory or a command too complex to read.
 */
int		 policy_remember(const struct policy_request *, int allow,
		    struct policy_rule **rules, size_t *n);

/* "tool" or "tool(pattern)", as /rules shows a stored rule; -1 if cut. */
int		 policy_rule_spec(const char *tool, const char *pattern,
		    char *buf, size_t len);
/*
 * The reverse, for "/rules clear SPEC": *tool and *pattern (pattern "*"
 * when there is none) are allocated.  -1 if malformed or out of memory.
 */
int		 policy_rule_spec_parse(const char *spec, char **tool,
		    char **pattern);
/* The hard-coded denies, for /rules: the spec of rule i, NULL past the end. */
const char	*policy_hard_rule(size_t i);

#endif
