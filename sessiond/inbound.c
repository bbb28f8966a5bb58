/*
 * inbound: the gate every INBOUND from a worker passes, in this order.
 * The message is acknowledged first (only then may a Slack worker ack its
 * envelope), then dropped if its id was seen from that bot lately (two
 * generations deliver every post during a swap), if it comes from one of
 * this bridge's own bots, or if the channel is not this bot's to answer.
 * A channel that is the bot's remembers where it stands (the catch-up
 * cursor, and the ids a catch-up would read again) even for a message
 * that does not trigger it.
 */
#include "common/jx.h"
#include "common/log.h"
#include "cmd.h"
#include "conf.h"
#include "inbound.h"
#include "link.h"
#include "route.h"
#include "sessiond.h"
#include "store.h"

void
inbound_msg(struct link *l, json_t *m)
{
	const char		*id = jx_stre(m, "id");
	const char		*chid = jx_stre(m, "channel");
	struct chan_conf	 cc;
	json_int_t		 at;

	(void)link_send(l, IPC_INBOUND_ACK, json_pack("{s:s}", "id", id));
	if (dedup_check(l->bot, id) == 1) {
		log_debug("inbound %s from %s g%d: duplicate, dropped", id,
		    l->bot, l->gen);
		route_count(l->bot, 1, 0);
		return;
	}
	if (route_is_bridge_bot(jx_str(m, "userId"))) {
		log_debug("inbound %s: from a bot of this bridge, dropped", id);
		return;
	}
	if (jx_str(m, "text") == NULL || conf_channel(chid, l->bot,
	    jx_bool(m, "isDM", 0), &cc) == -1) {
		log_debug("inbound %s: channel %s is not %s's", id, chid, l->bot);
		return;
	}
	if ((at = jx_int(m, "createAt", 0)) > 0)
		store_set_cursor(chid, l->bot, id, at);
	if (jx_str(m, "reaction") != NULL) {
		command_reaction(l->bot, chid, jx_str(m, "reaction"));
		return;
	}
	if (!cc.trigger_all && !jx_bool(m, "mentionsBot", 0)) {
		log_debug("inbound %s: no mention in a mention-only channel", id);
		return;
	}
	command_inbound(l->bot, m, &cc);
}
