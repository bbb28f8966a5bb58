/*
 * cmd_core: the session's commands (/new, /stop, /reload and its admin
 * forms, /help) and the answers to a permission prompt
 * (/approve, /deny, /always, /remember).  Replies as upstream's
 * (docs/commands.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jx.h"
#include "common/log.h"
#include "chan.h"
#include "cmd.h"
#include "sessiond.h"

void
cmd_new(struct cmdctx *x)
{
	chan_new_session(x->c, x->root);
}

void
cmd_stop(struct cmdctx *x)
{
	chan_stop_turn(x->c);
	cmd_say(x, "🛑 Task stopped.");
}

void
cmd_reload(struct cmdctx *x)
{
	chan_reattach(x->c, x->root);
}

void
cmd_reload_config(struct cmdctx *x)
{
	admin_request(x->c->bot, x->c->id, x->root, "reload config", x->arg,
	    x->msg);
}

void
cmd_reload_bot(struct cmdctx *x)
{
	admin_request(x->c->bot, x->c->id, x->root, "reload bot", x->arg,
	    x->msg);
}

void
cmd_reload_platform(struct cmdctx *x)
{
	admin_request(x->c->bot, x->c->id, x->root, "reload platform", x->arg,
	    x->msg);
}

void
cmd_reload_hooks(struct cmdctx *x)
{
	char	msg[1536];

	(void)chan_reload_hooks(x->c, x->root, "/reload hooks", 1, msg,
	    sizeof(msg));
}

/* The table's commands, in its order; /help all adds the rarer ones. */
void
cmd_help(struct cmdctx *x)
{
	const struct cmd_def	*t;
	size_t			 n, i, len = 0;
	int			 all = strcmp(x->arg, "all") == 0;
	char			*text = NULL;
	FILE			*f;

	t = command_table(&n);
	if ((f = open_memstream(&text, &len)) == NULL)
		return;
	fprintf(f, "**Commands**\n");
	for (i = 0; i < n; i++)
		if (t[i].usage != NULL && (all || !t[i].all))
			fprintf(f, "`%s` %s\n", t[i].usage, t[i].help);
	if (!all)
		fprintf(f, "`/help all` lists every command.");
	if (fclose(f) == EOF) {
		free(text);
		return;
	}
	cmd_say(x, text);
	free(text);
}

static void
cmd_answer(struct cmdctx *x, int approve, int remember)
{
	if (perm_answer_first(x->c, approve, remember &&
	    !perm_is_hook(x->c)) == -1)
		cmd_say(x, "⚠️ No pending permission request.");
}

void
cmd_approve(struct cmdctx *x)
{
	cmd_answer(x, 1, 0);
}

void
cmd_deny(struct cmdctx *x)
{
	cmd_answer(x, 0, 0);
}

/* /always approve, /always deny: answer and remember the rule. */
void
cmd_always_approve(struct cmdctx *x)
{
	cmd_answer(x, 1, 1);
}

void
cmd_always_deny(struct cmdctx *x)
{
	cmd_answer(x, 0, 1);
}

/* /remember: as /always approve. */
void
cmd_remember(struct cmdctx *x)
{
	cmd_answer(x, 1, 1);
}
