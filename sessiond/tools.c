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
#include "agent.h"
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
	int		(*offered)(void); /* NULL: always */
} tools[] = {
	{ "ask_agent", "Ask another agent a question. Creates a fresh session "
	    "for the target agent with its own workspace, tools, and knowledge. "
	    "Use this when you need information or capabilities from a "
	    "different bot identity (e.g., asking Alice about home automation, "
	    "asking a specialist about their domain). IMPORTANT: The user "
	    "cannot see the inter-agent exchange. After receiving the response, "
	    "communicate the relevant information back to the user.",
	    "{\"type\":\"object\",\"properties\":{"
	    "\"target\":{\"type\":\"string\",\"description\":\"The bot name "
	    "to ask (e.g., \\\"alice\\\", \\\"copilot\\\"). Must be configured "
	    "in the inter-agent allowlist.\"},"
	    "\"message\":{\"type\":\"string\",\"description\":\"The question "
	    "or request to send to the target agent.\"},"
	    "\"agent\":{\"type\":\"string\",\"description\":\"Optional: "
	    "specific agent persona to use (matches *.agent.md file in the "
	    "target's workspace/agents/ directory).\"},"
	    "\"timeout\":{\"type\":\"number\",\"description\":\"Optional: "
	    "timeout in seconds (default from config, capped at maxTimeout).\"},"
	    "\"autopilot\":{\"type\":\"boolean\",\"description\":\"Optional: "
	    "auto-approve tool permissions in the target session (default: "
	    "false). Enable for trusted queries that may require tool use.\"},"
	    "\"denyTools\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},"
	    "\"description\":\"Optional: tool names to deny in the target "
	    "session (e.g., [\\\"bash\\\"] for read-only queries).\"},"
	    "\"grantTools\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},"
	    "\"description\":\"Optional: tool names to pre-approve in the target "
	    "session. Only effective if you (the caller) also have those tools "
	    "approved.\"}},"
	    "\"required\":[\"target\",\"message\"]}", tool_ask_agent,
	    agent_enabled },
	{ "schedule", "Create, list, cancel, pause, or resume scheduled tasks. "
	    "Tasks fire at the specified time and send a prompt to the LLM for "
	    "processing. Supports cron expressions for recurring tasks and ISO "
	    "datetimes for one-off tasks.",
	    "{\"type\":\"object\",\"properties\":{"
	    "\"action\":{\"type\":\"string\",\"enum\":[\"create\",\"list\","
	    "\"cancel\",\"pause\",\"resume\"],\"description\":\"The action to "
	    "perform.\"},"
	    "\"prompt\":{\"type\":\"string\",\"description\":\"The prompt to "
	    "send when the job fires. Required for \\\"create\\\".\"},"
	    "\"cron\":{\"type\":\"string\",\"description\":\"Cron expression "
	    "for recurring tasks (e.g., \\\"0 9 * * 1-5\\\" for weekdays at "
	    "9am). Use standard 5-field cron syntax.\"},"
	    "\"run_at\":{\"type\":\"string\",\"description\":\"ISO 8601 "
	    "datetime for one-off tasks. IMPORTANT: current_datetime is UTC — "
	    "use a Z suffix (e.g., \\\"2026-03-09T22:31:00Z\\\") or properly "
	    "convert to local time before adding an offset. Do NOT take the UTC "
	    "hour and attach a non-UTC offset. Mutually exclusive with cron.\"},"
	    "\"timezone\":{\"type\":\"string\",\"description\":\"IANA "
	    "timezone for display and cron scheduling (e.g., "
	    "\\\"America/Los_Angeles\\\"). Defaults to UTC.\"},"
	    "\"description\":{\"type\":\"string\",\"description\":"
	    "\"Human-readable label for the task.\"},"
	    "\"id\":{\"type\":\"string\",\"description\":\"Task ID. Required "
	    "for cancel/pause/resume.\"}},"
	    "\"required\":[\"action\"]}", tool_schedule, NULL },
	{ "no_reply", "Signal that no response is needed for the current "
	    "message. Call this instead of sending text when you have nothing "
	    "meaningful to add to the conversation.",
	    "{\"type\":\"object\",\"properties\":{}}", tool_no_reply, NULL },
	{ "send_file", "Send a file or image from the workspace to the user "
	    "in their chat channel. The file will appear as an inline image "
	    "(for image types) or a downloadable attachment.",
	    "{\"type\":\"object\",\"properties\":{\"path\":{\"type\":"
	    "\"string\",\"description\":\"Path to the file to send (absolute "
	    "or relative to workspace)\"},\"message\":{\"type\":\"string\","
	    "\"description\":\"Optional message to accompany the file\"}},"
	    "\"required\":[\"path\"]}", files_tool_send, NULL },
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
	    showfile_tool, NULL },
};

/* One declaration of the table's row i; NULL when out of memory. */
static json_t *
tools_decl_row(size_t i)
{
	json_t	*params;

	if ((params = json_loads(tools[i].parameters, 0, NULL)) == NULL)
		return (NULL);
	return (json_pack("{s:s,s:s,s:o,s:b}", "name", tools[i].name,
	    "description", tools[i].description, "parameters", params,
	    "skipPermission", 1));
}

json_t *
tools_decl_one(const char *name)
{
	json_t	*a, *t;
	size_t	 i;

	if ((a = json_array()) == NULL)
		return (NULL);
	for (i = 0; i < nitems(tools); i++)
		if (strcmp(tools[i].name, name) == 0 &&
		    ((t = tools_decl_row(i)) == NULL ||
		    json_array_append_new(a, t) == -1)) {
			json_decref(a);
			return (NULL);
		}
	return (a);
}

json_t *
tools_decl(void)
{
	json_t	*a, *t;
	size_t	 i;

	if ((a = json_array()) == NULL)
		return (NULL);
	for (i = 0; i < nitems(tools); i++) {
		if (tools[i].offered != NULL && !tools[i].offered())
			continue;
		if ((t = tools_decl_row(i)) == NULL ||
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
