/*
 * wsconf: what a channel's session is built from besides the bridge's
 * config: MCP servers (mcp.c, with the workspace's .env, dotenv.c), custom
 * agents (agents.c), skills (skills.c) and the appended system message
 * (instr.c), read from the working directory, the user's ~/.copilot and
 * installed plugins as upstream reads them (docs/architecture.md, "MCP
 * servers, skills, agents, instructions").  wsconf.c holds a channel's set
 * and the watch on the directories it came from.
 *
 * Each loader reads what is there now and says which directories to watch:
 * `dirs`, where only the names wsconf_match() knows matter, and `any`,
 * where every name does (a directory of skills, installed-plugins).
 */
#ifndef SESSIOND_WSCONF_H
#define SESSIOND_WSCONF_H

#include <stddef.h>

#include <jansson.h>

#include "sessiond.h"
#include "wsfile.h"

/* dotenv.c */
#define DOTENV_FILE_MAX	(1024 * 1024)
/*
 * KEY=VALUE lines as upstream reads a .env; an object of strings, or NULL
 * when out of memory.  path names the file in warnings (by line number:
 * a value never reaches a log).
 */
json_t		*dotenv_parse(const char *text, size_t len, const char *path);
/* <cwd>/.env, or an empty object when there is none; NULL: out of memory. */
json_t		*dotenv_load(const char *cwd);

/* mcp.c */
#define MCP_FILE_MAX	(1024 * 1024)
struct mcp_where {
	const char		*home;		/* $HOME, or NULL */
	const char		*cwd;		/* the workspace, or NULL */
	const char *const	*secrets;	/* variables no ${VAR} may read */
	size_t			 nsecrets;
};
struct mcpset {
	json_t		*servers;	/* name -> config, as create and resume send it */
	json_t		*sources;	/* name -> "plugin", "user", "workspace", ... */
	struct wswatch	 watch;
	char		 err[512];	/* "PATH:LINE:COL: message" of a file
					   that did not parse; "" when none */
};
/*
 * One file's text: its servers, checked (a bad entry is skipped with a
 * warning), into *servers (a new object).  -1: a syntax error, err
 * "PATH:LINE:COL: message", or out of memory (err says so).
 */
int		 mcp_parse(const char *path, const char *text, size_t len,
		    json_t **servers, char *err, size_t errlen);
/* ${VAR} of a workspace server's env value (malloc'd), or NULL. */
char		*mcp_expand(const char *value, const json_t *dotenv,
		    const struct mcp_where *);
/* Every source, merged; NULL only when out of memory. */
struct mcpset	*mcp_load(const struct mcp_where *);
void		 mcp_free(struct mcpset *);

/* agents.c */
#define AGENTS_FILE_MAX	(256 * 1024)
struct agent {
	char	*name;
	char	*source;	/* "plugin", "user", "workspace" */
	char	*path;
	char	*description;	/* "" when none */
	char	*prompt;	/* the text after the front matter */
};
struct agentset {
	struct agent	*v;
	size_t		 n;
	struct wswatch	 watch;
};
/*
 * The value of field in text's YAML front matter as upstream reads it (one
 * line, or a folded block scalar's first paragraph), at most max
 * characters, into out; and where the body starts.  0: no such field.
 */
int		 agents_front(const char *text, size_t len, const char *field,
		    char *out, size_t outlen, size_t max, size_t *body);
struct agentset	*agents_load(const char *home, const char *cwd);
void		 agents_free(struct agentset *);
const struct agent *agents_find(const struct agentset *, const char *name);
/* customAgents for create and resume; NULL when out of memory. */
json_t		*agents_custom(const struct agentset *);

/* skills.c */
#define SKILLS_FILE_MAX	(256 * 1024)
struct skillset {
	json_t		*dirs;		/* skillDirectories: user and plugin roots */
	json_t		*sig;		/* what the skills on disk look like */
	struct wswatch	 watch;
};
struct skillset	*skills_load(const char *home, const char *cwd);
void		 skills_free(struct skillset *);
/* The skills on disk: [{name, description, source}], or NULL. */
json_t		*skills_list(const char *home, const char *cwd);

/* instr.c */
#define INSTR_FILE_MAX	(256 * 1024)
/* systemMessage for create and resume; NULL when out of memory. */
json_t		*instr_system_message(const char *cwd, struct wswatch *);

/* wsconf.c */
#define WSCONF_MCP		0x01	/* mcpServers */
#define WSCONF_AGENTS		0x02	/* customAgents */
#define WSCONF_SKILLDIRS	0x04	/* skillDirectories */
#define WSCONF_SKILLS		0x08	/* a skill on disk (skills.reload) */
#define WSCONF_INSTR		0x10	/* systemMessage */
#define WSCONF_OPTS		(WSCONF_MCP | WSCONF_AGENTS | \
				WSCONF_SKILLDIRS | WSCONF_INSTR)
struct wsconf {
	char		*cwd;		/* loaded for; NULL: not loaded */
	struct mcpset	*mcp;
	struct agentset	*agents;
	struct skillset	*skills;
	json_t		*custom;	/* customAgents as sent */
	json_t		*sysmsg;	/* systemMessage as sent */
	json_t		*status;	/* MCP server -> {status, error} */
	unsigned int	 gen;		/* counts the loads that changed something */
	char		 err[512];	/* why the last load kept MCP servers */
};
int		 wsconf_match(const char *name);
/*
 * (Re)load everything for cwd and watch where it came from; cb(owner)
 * runs after a save.  Returns what changed (WSCONF_*), or -1 when out of
 * memory (nothing changed).  An MCP file that does not parse keeps the
 * previous servers (at the first load: the others' servers), with err
 * saying why.
 */
int		 wsconf_load(struct wsconf *, void *owner, const char *cwd,
		    dirwatch_cb);
int		 wsconf_current(const struct wsconf *, const char *cwd);
/* Add the keys of create and resume to x; -1 when out of memory. */
int		 wsconf_extra(const struct wsconf *, json_t *x);
/* A session event about MCP servers: what status says of them. */
void		 wsconf_status(struct wsconf *, const char *channel,
		    const char *type, const json_t *data);
void		 wsconf_drop(struct wsconf *, void *owner);

#endif
