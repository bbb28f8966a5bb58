/*
 * cpevent: the runtime's session events, mapped to the backend's callbacks
 * (docs/copilot-runtime.md lists the events; docs/architecture.md
 * "Copilot backend" the mapping).  Sub-agent streams are dropped: they
 * would interleave with the answer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jx.h"
#include "common/log.h"
#include "common/utf8.h"
#include "common/util.h"
#include "copilot.h"
#include "rtrpc.h"

#define CPEVENT_DETAIL_MAX	2000

/* Any JSON value on one line (a string as itself). */
static char *
cpevent_json_line(const json_t *j, size_t max)
{
	char	*s, *r;

	if (j == NULL)
		return (strdup(""));
	if (json_is_string(j))
		return (utf8_one_line(json_string_value(j), max));
	if ((s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL)
		return (NULL);
	r = utf8_one_line(s, max);
	free(s);
	return (r);
}

/* The one-line description of a permission request, by its kind. */
static char *
cpevent_permission_detail(const char *kind, const json_t *pr)
{
	const char	*v = NULL, *a, *b;
	char		 buf[512];

	if (strcmp(kind, "shell") == 0)
		v = jx_str(pr, "fullCommandText");
	else if (strcmp(kind, "write") == 0)
		v = (a = jx_str(pr, "fileName")) != NULL ? a :
		    jx_str(pr, "resolvedPath");
	else if (strcmp(kind, "read") == 0)
		v = (a = jx_str(pr, "path")) != NULL ? a :
		    jx_str(pr, "resolvedPath");
	else if (strcmp(kind, "url") == 0)
		v = jx_str(pr, "url");
	else if (strcmp(kind, "mcp") == 0) {
		a = jx_str(pr, "serverName");
		if ((b = jx_str(pr, "toolTitle")) == NULL)
			b = jx_str(pr, "toolName");
		snprintf(buf, sizeof(buf), "%s: %s", a != NULL ? a : "?",
		    b != NULL ? b : "?");
		return (utf8_one_line(buf, CPEVENT_DETAIL_MAX));
	} else if (strcmp(kind, "custom-tool") == 0 ||
	    strcmp(kind, "hook") == 0)
		v = (a = jx_str(pr, "hookMessage")) != NULL ? a :
		    jx_str(pr, "toolName");
	else if (strcmp(kind, "memory") == 0)
		v = (a = jx_str(pr, "fact")) != NULL ? a : jx_str(pr, "subject");
	else if (strncmp(kind, "extension-", 10) == 0)
		v = jx_str(pr, "extensionName");
	if (v == NULL)
		v = jx_str(pr, "intention");
	if (v == NULL)
		return (cpevent_json_line(pr, CPEVENT_DETAIL_MAX));
	return (utf8_one_line(v, CPEVENT_DETAIL_MAX));
}

static void
cpevent_permission(struct bsession *s, const json_t *data)
{
	const json_t	*pr = json_object_get(data, "permissionRequest");
	const char	*rid = jx_str(data, "requestId");
	const char	*kind = jx_str(pr, "kind");
	char		*detail;

	/*
	 * Persisted events come back after a resume; a live request only
	 * happens during a turn.  A hook already answered resolvedByHook.
	 */
	if (jx_bool(data, "resolvedByHook", 0) || rid == NULL || !s->busy)
		return;
	if (kind == NULL)
		kind = "unknown";
	if ((detail = cpevent_permission_detail(kind, pr)) == NULL) {
		log_warnx("%s: out of memory; permission %s rejected",
		    bs_name(s), rid);
		(void)rtrpc_request("session.permissions."
		    "handlePendingPermissionRequest", json_pack(
		    "{s:s,s:s,s:{s:s}}", "sessionId", s->id, "requestId", rid,
		    "result", "kind", "reject"), s, NULL, CP_REQUEST_MS);
		return;
	}
	BS_CALL(s, permission, rid, kind, detail, pr);
	free(detail);
}

static void
cpevent_log(struct bsession *s, const char *type, const json_t *data)
{
	char	*d;

	if (strcmp(type, "permission.completed") == 0) {
		d = json_dumps(data, JSON_COMPACT);
		log_debug("%s: event %s %s", bs_name(s), type, d != NULL ? d : "");
		free(d);
	} else if (strstr(type, "_delta") == NULL &&
	    strncmp(type, "model.", 6) != 0)
		log_debug("%s: event %s", bs_name(s), type);
}

static void
cpevent_tool(struct bsession *s, const json_t *data)
{
	const char	*v = jx_str(data, "toolName");

	BS_CALL(s, tool, v != NULL ? v : "?", json_object_get(data,
	    "arguments"));
}

void
bprompt_free(struct bpromptq *q, struct bprompt *p)
{
	TAILQ_REMOVE(q, p, entry);
	free(p->text);
	json_decref(p->attachments);
	free(p);
}

void
bprompt_free_all(struct bpromptq *q)
{
	while (!TAILQ_EMPTY(q))
		bprompt_free(q, TAILQ_FIRST(q));
}

/*
 * The runtime took a prompt (it is in the session's history now): by its
 * messageId, else the first sent with the same text.
 */
static void
cpevent_taken(struct bsession *s, const json_t *data)
{
	const char	*id = jx_stre(data, "messageId");
	const char	*text = jx_stre(data, "content");
	struct bprompt	*p;

	TAILQ_FOREACH(p, &s->sent, entry)
		if (*id != '\0' && strcmp(p->msgid, id) == 0)
			break;
	if (p == NULL)
		TAILQ_FOREACH(p, &s->sent, entry)
			if (p->msgid[0] == '\0' && strcmp(p->text, text) == 0)
				break;
	if (p != NULL)
		bprompt_free(&s->sent, p);
}

/* A message that steered the turn and that the runtime has not taken. */
static int
cpevent_steer_pending(const struct bsession *s)
{
	const struct bprompt	*p;

	TAILQ_FOREACH(p, &s->sent, entry)
		if (p->immediate)
			return (1);
	return (0);
}

static void
cpevent_idle(struct bsession *s, const json_t *data)
{
	if (!s->busy) {
		log_debug("%s: session.idle outside a turn", bs_name(s));
		return;
	}
	/*
	 * A message that came as the turn ended steered it too late to be
	 * taken in it: the runtime runs it next (pending_messages.modified,
	 * then its user.message), and its answer is the steered one
	 * (channel.c, chan_steer()).  The turn goes on until that is idle.
	 */
	if (!jx_bool(data, "aborted", 0) && cpevent_steer_pending(s)) {
		log_debug("%s: session.idle with a steering message pending; "
		    "the turn goes on", bs_name(s));
		return;
	}
	s->busy = 0;
	BS_CALL(s, idle, jx_bool(data, "aborted", 0));
}

void
cpevent_dispatch(struct bsession *s, const json_t *event)
{
	const char	*type = jx_str(event, "type"), *v;
	const json_t	*data = json_object_get(event, "data");

	if (type == NULL)
		return;
	cpevent_log(s, type, data);
	if ((v = jx_str(data, "parentToolCallId")) != NULL && *v != '\0' &&
	    strncmp(type, "assistant.", 10) == 0)
		return;
	if (strcmp(type, "assistant.message_delta") == 0) {
		if ((v = jx_str(data, "deltaContent")) != NULL && *v != '\0')
			BS_CALL(s, delta, v);
	} else if (strcmp(type, "assistant.message") == 0) {
		if ((v = jx_str(data, "content")) != NULL && *v != '\0')
			BS_CALL(s, message, v);
	} else if (strcmp(type, "user.message") == 0)
		cpevent_taken(s, data);
	else if (strcmp(type, "tool.execution_start") == 0)
		cpevent_tool(s, data);
	else if (strcmp(type, "permission.requested") == 0)
		cpevent_permission(s, data);
	else if (strcmp(type, "session.error") == 0) {
		v = jx_str(data, "message");
		log_info("%s: session error: %s", bs_name(s),
		    v != NULL ? v : "?");
		if (s->busy)
			BS_CALL(s, error, v != NULL ? v : "unknown error");
	} else if (strcmp(type, "session.idle") == 0)
		cpevent_idle(s, data);
	else if (strcmp(type, "external_tool.requested") == 0)
		BS_CALL(s, tool_call, jx_stre(data, "requestId"),
		    jx_stre(data, "toolName"), json_object_get(data, "arguments"));
	else if (strstr(type, "_delta") == NULL)
		BS_CALL(s, event, type, data);	/* usage, modes, MCP, ... */
}
