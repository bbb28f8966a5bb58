/*
 * instr: what the bridge appends to the runtime's system message, as
 * upstream does (docs/architecture.md, "Instructions"): the bridge's own
 * instructions (the session is a chat; .env stays secret; no_reply), then
 * the working directory's AGENTS.local.md, the operator's notes that are
 * not in the repository.  AGENTS.md itself the runtime reads on its own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/utf8.h"
#include "wsconf.h"

static const char instr_bridge[] =
    "<bridge_instructions>\n"
    "You are communicating through copilot-bridge, a messaging bridge to a "
    "chat platform (e.g., Mattermost, Slack).\n"
    "\n"
    "## Channel Communication\n"
    "- Your responses are streamed back to the chat channel in real time\n"
    "- Slash commands (e.g., /new, /model, /verbose, /plan) are intercepted "
    "by the bridge — you will never see them\n"
    "- The user may be on mobile — keep responses concise when possible\n"
    "\n"
    "## Environment Secrets\n"
    "- A `.env` file in your workspace holds secrets; the workspace's MCP "
    "servers get its variables in their environment\n"
    "- **Never read, cat, or display `.env` contents** — secret values must "
    "stay out of chat\n"
    "- Reference secrets by variable name only (e.g., `$APP_TOKEN`)\n"
    "- To check if a key exists: `grep -q '^KEY=' .env 2>/dev/null`\n"
    "- Never use cat, grep -v, sed, or any command that would output .env "
    "values\n"
    "\n"
    "## No-Reply Convention\n"
    "- When you have nothing meaningful to add to a conversation, call the "
    "`no_reply` tool instead of sending text\n"
    "- This is preferred over typing \"NO_REPLY\" or similar text responses\n"
    "</bridge_instructions>";

/* AGENTS.local.md, trimmed, in its tags; NULL: none (or no memory, *oom). */
static char *
instr_local(const char *cwd, int *oom)
{
	const char	*t;
	char		*path, *text, *out = NULL;
	size_t		 len, n;
	int		 rv;

	if ((path = wsfile_join(cwd, "AGENTS.local.md")) == NULL) {
		*oom = 1;
		return (NULL);
	}
	rv = wsfile_read(path, INSTR_FILE_MAX, &text, &len);
	if (rv == 1 && (memchr(text, '\0', len) != NULL ||
	    !utf8_valid(text, len))) {
		log_warnx("%s: not UTF-8 text, skipping", path);
		rv = 0;
	}
	free(path);
	if (rv != 1) {
		*oom = rv == -1;
		if (rv == 0)
			free(text);
		return (NULL);
	}
	t = text;
	n = len;
	wsfile_trim(&t, &n);
	if (n > 0 && asprintf(&out, "<local_instructions>\n%.*s\n"
	    "</local_instructions>", (int)n, t) == -1) {
		out = NULL;
		*oom = 1;
	}
	free(text);
	return (out);
}

json_t *
instr_system_message(const char *cwd, struct wswatch *w)
{
	char	*local = NULL, *content = NULL;
	json_t	*m;
	int	 oom = 0;

	if (cwd != NULL && (wswatch_add(w, cwd, 0) == -1 ||
	    ((local = instr_local(cwd, &oom)) == NULL && oom)))
		return (NULL);
	if (local != NULL && asprintf(&content, "%s\n\n%s", instr_bridge,
	    local) == -1) {
		free(local);
		return (NULL);
	}
	m = json_pack("{s:s,s:{s:{s:s,s:s}}}", "mode", "customize", "sections",
	    "custom_instructions", "action", "append", "content",
	    content != NULL ? content : instr_bridge);
	free(content);
	free(local);
	return (m);
}
