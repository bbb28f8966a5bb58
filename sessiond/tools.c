/*
 * tools: see tools.h.  A tool's handler gets the call's arguments and
 * answers with tools_answer() once (a result text, or an error the agent
 * reads); a call of a tool not in the table is answered with an error.
 */
#include <stdlib.h>
#include <string.h>

#include "common/jx.h"
#include "common/log.h"
#include "common/util.h"
#include "chan.h"
#include "files.h"
#include "tools.h"

typedef void	(*tool_fn)(struct chan *, const char *request_id,
		    const json_t *args);

static void	tool_no_reply(struct chan *, const char *, const json_t *);

static const struct {
	const char	*name;
	const char	*description;
	const char	*parameters;	/* JSON Schema, as text */
	tool_fn		 run;
} tools[] = {
	{ "no_reply", "Signal that no response is needed for the current "
	    "message. Call this instead of sending text when you have nothing "
	    "meaningful to add to the conversation.",
	    "{\"type\":\"object\",\"properties\":{}}", tool_no_reply },
	{ "send_file", "Send a file or image from the workspace to the user "
	    "in their chat channel. The file will appear as an inline image "
	    "(for image types) or a downloadable attachment.",
	    "{\"type\":\"object\",\"properties\":{\"path\":{\"type\":"
	    "\"string\",\"description\":\"Path to the file to send (absolute "
	    "or relative to workspace)\"},\"message\":{\"type\":\"string\","
	    "\"description\":\"Optional message to accompany the file\"}},"
	    "\"required\":[\"path\"]}", files_tool_send },
	{ "show_file_in_chat", "Show file contents to the user in their chat "
	    "channel as a formatted code block. Prefer this over the built-in "
	    "show_file which only works in terminal. Use when the user asks to "
	    "see a file, code snippet, or diff. Supports optional line range. "
	    "For diffs, set diff: true to show pending git changes.",
	    "{\"type\":\"object\",\"properties\":{\"path\":{\"type\":"
	    "\"string\",\"description\":\"Full absolute path to the file to "
	    "show.\"},\"view_range\":{\"type\":\"array\",\"items\":{\"type\":"
	    "\"integer\"},\"description\":\"Optional [start, end] line range. "
	    "[start, -1] shows from start to end of file.\"},\"diff\":{\"type\":"
	    "\"boolean\",\"description\":\"When true, show pending git diff "
	    "instead of file contents.\"}},\"required\":[\"path\"]}",
	    showfile_tool },
};

json_t *
tools_decl(void)
{
	json_t	*a, *t, *params;
	size_t	 i;

	if ((a = json_array()) == NULL)
		return (NULL);
	for (i = 0; i < nitems(tools); i++) {
		if ((params = json_loads(tools[i].parameters, 0, NULL)) == NULL ||
		    (t = json_pack("{s:s,s:s,s:o,s:b}", "name", tools[i].name,
		    "description", tools[i].description, "parameters", params,
		    "skipPermission", 1)) == NULL ||
		    json_array_append_new(a, t) == -1) {
			json_decref(a);
			return (NULL);
		}
	}
	return (a);
}

void
tools_answer(struct chan *c, const char *request_id, const char *text,
    const char *error)
{
	json_t	*r;

	if (c->bs == NULL)
		return;
	r = error != NULL ? json_pack("{s:s}", "error", error) :
	    json_string(text != NULL ? text : "");
	if (r == NULL || chan_backend()->answer_tool(c->bs, request_id, r) == -1)
		log_warnx("channel %s: cannot answer tool call %s", c->id,
		    request_id);
}

void
tools_call(struct chan *c, const char *request_id, const char *name,
    const json_t *arguments)
{
	size_t	i;

	for (i = 0; i < nitems(tools); i++)
		if (strcmp(tools[i].name, name) == 0) {
			log_info("channel %s: tool %s", c->id, name);
			tools[i].run(c, request_id, arguments);
			return;
		}
	log_warnx("channel %s: the agent called an unknown tool %s", c->id, name);
	tools_answer(c, request_id, NULL, "no such tool");
}

/* The turn ends without a post: its placeholder goes. */
static void
tool_no_reply(struct chan *c, const char *request_id, const json_t *args)
{
	c->no_reply = 1;
	tools_answer(c, request_id, "Acknowledged. No response sent.", NULL);
}
