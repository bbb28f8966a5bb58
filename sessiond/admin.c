/*
 * admin: chat commands only the supervisor may carry out (/reload config,
 * /reload bot).  sessiond parses them and relays them with who asked; the
 * supervisor decides whether that user is an admin, and its answers
 * (ADMIN_RESULT, possibly several, the last one "final") are posted where
 * the command was typed.
 */
#include <sys/queue.h>

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "sessiond.h"

struct admin_req {
	TAILQ_ENTRY(admin_req)	 entry;
	int			 ref;
	char			*bot;
	char			*channel;
	char			*root;
};

static TAILQ_HEAD(, admin_req)	reqs = TAILQ_HEAD_INITIALIZER(reqs);
static int			next_ref;

static void
admin_req_free(struct admin_req *r)
{
	TAILQ_REMOVE(&reqs, r, entry);
	free(r->bot);
	free(r->channel);
	free(r->root);
	free(r);
}

void
admin_request(const char *bot, const char *channel, const char *root,
    enum cmd cmd, const char *arg, json_t *msg)
{
	struct admin_req	*r;

	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (r->bot = strdup(bot)) == NULL ||
	    (r->channel = strdup(channel)) == NULL ||
	    (r->root = strdup(root != NULL ? root : "")) == NULL) {
		if (r != NULL) {
			free(r->bot);
			free(r->channel);
			free(r);
		}
		log_warnx("%s: out of memory", __func__);
		return;
	}
	r->ref = ++next_ref;
	TAILQ_INSERT_TAIL(&reqs, r, entry);
	if (ipc_send(proc->parent, IPC_ADMIN_REQUEST,
	    json_pack("{s:i,s:s,s:s,s:s?,s:s?,s:s,s:s}", "ref", r->ref,
	    "cmd", cmd == CMD_RELOAD_BOT ? "reload bot" : "reload config",
	    "arg", arg != NULL ? arg : "",
	    "user", json_string_value(json_object_get(msg, "user")),
	    "userId", json_string_value(json_object_get(msg, "userId")),
	    "bot", bot, "channel", channel)) == -1) {
		stream_post(bot, channel, root, "❌ Cannot reach the supervisor.");
		admin_req_free(r);
	}
}

void
admin_result(struct ipc_msg *m)
{
	struct admin_req	*r;
	int			 ref = (int)json_integer_value(json_object_get(m->body,
				    "ref"));
	json_t			*fin = json_object_get(m->body, "final");

	TAILQ_FOREACH(r, &reqs, entry)
		if (r->ref == ref)
			break;
	if (r == NULL) {
		log_debug("ADMIN_RESULT for unknown ref %d", ref);
		return;
	}
	stream_post(r->bot, r->channel, r->root,
	    json_string_value(json_object_get(m->body, "text")));
	if (fin == NULL || json_is_true(fin))
		admin_req_free(r);
}
