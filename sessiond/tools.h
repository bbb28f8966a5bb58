/*
 * tools: the bridge's own tools, offered to every session as external
 * tools (the runtime calls them back: external_tool.requested) and
 * approved without a prompt.  One row each in tools.c's table.
 */
#ifndef SESSIOND_TOOLS_H
#define SESSIOND_TOOLS_H

#include <jansson.h>

struct chan;

/* The "tools" of create and resume; NULL when out of memory. */
json_t	*tools_decl(void);
/* Only the tool name (an inter-agent session gets ask_agent alone). */
json_t	*tools_decl_one(const char *name);
/* The runtime calls one: answered here, now or later (tools_answer). */
void	 tools_call(struct chan *, const char *request_id, const char *name,
	    const json_t *arguments);
/* The tool's result: text, or an error (text NULL). */
void	 tools_answer(struct chan *, const char *request_id, const char *text,
	    const char *error);

/* The tools' handlers in files of their own. */
void	 tool_schedule(struct chan *, const char *request_id, const json_t *);
void	 tool_ask_agent(struct chan *, const char *request_id, const json_t *);

#endif
