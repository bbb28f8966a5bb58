/*
 * admin: chat commands only the supervisor may carry out (/reload config,
 * /reload bot, /reload platform).  sessiond parses them and relays them with who asked; the
 * supervisor decides whether that user is an admin, and its answers
 * (ADMIN_RESULT, possibly several, the last one "final") are posted where
 * the command was typed.
 */
#include <sys/queue.h>

#include <stdlib.h>
#include <string.h>

#include "common/jx.h"
#include "common/log.h"
#include "sessiond.h"
#include "stream.h"

struct admin_req {
	TAILQ_ENTRY(admin_req)	 entry;
	int			 ref;
	char			*bot;
	char			*channel;
	char			*root;
};

static TAILQ_HEAD(, admin_req)	reqs = TAILQ_HEAD_INITIALIZER(reqs);
static int			next_ref;
static struct ipc_chan		*admin_parent;

void
admin_init(struct ipc_chan *parent)
{
	admin_parent = parent;
}

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
    const char *cmd, const char *arg, json_t *msg)
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
	if (ipc_send(admin_parent, IPC_ADMIN_REQUEST,
	    json_pack("{s:i,s:s,s:s,s:s?,s:s?,s:s,s:s}", "ref", r->ref,
	    "cmd", cmd,
	    "arg", arg != NULL ? arg : "",
	    "user", jx_str(msg, "user"), "userId", jx_str(msg, "userId"),
	    "bot", bot, "channel", channel)) == -1) {
		stream_post(bot, channel, root, "❌ Cannot reach the supervisor.");
		admin_req_free(r);
	}
}

void
admin_result(json_t *body)
{
	struct admin_req	*r;
	json_int_t		 ref = jx_int(body, "ref", 0);

	TAILQ_FOREACH(r, &reqs, entry)
		if (r->ref == ref)
			break;
	if (r == NULL) {
		log_debug("ADMIN_RESULT for unknown ref %lld", (long long)ref);
		return;
	}
	stream_post(r->bot, r->channel, r->root, jx_stre(body, "text"));
	if (jx_bool(body, "final", 1))
		admin_req_free(r);
}

void
admin_free_all(void)
{
	while (!TAILQ_EMPTY(&reqs))
		admin_req_free(TAILQ_FIRST(&reqs));
}
