/*
 * cmd_perm: the permission rules in force (/rules, /rule, /remember list),
 * forgetting the channel's stored ones (/rules clear [SPEC]), and /yolo.
 * Replies as upstream's (docs/commands.md, "Permissions"); a change is
 * said only once the store has made it durable.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jx.h"
#include "common/log.h"
#include "common/policy.h"
#include "common/util.h"
#include "chan.h"
#include "chanop.h"
#include "cmd.h"
#include "conf.h"
#include "store.h"

#define CMD_PERM_RULES_MAX	1024	/* stored rules /rules lists per scope */

/*
 * The reply of a write, once durable; if it is not, the change holds in
 * memory only, and the reply says so.
 */
static void
cmd_perm_saved(struct chanop *op, const json_t *result, const char *error)
{
	chanop_saved(op, op->text);
	chanop_free(op);
}

/* "- **allow** `spec`" lines of a section of the config's permissions. */
static void
cmd_rules_config(FILE *f, const json_t *perms, const char *key,
    const char *action, const char *prefix)
{
	const json_t	*v;
	size_t		 i;

	json_array_foreach(json_object_get(perms, key), i, v)
		if (json_is_string(v))
			fprintf(f, "\n- **%s** `%s%s`", action, prefix,
			    json_string_value(v));
}

/* The stored rules of scope, as upstream lists them; 0 if none. */
static int
cmd_rules_stored(FILE *f, const char *scope, const char *title)
{
	const struct store_rule	*v[CMD_PERM_RULES_MAX];
	char			 spec[POLICY_RULE_MAX];
	size_t			 n, i;

	n = store_rules(scope, v, nitems(v));
	if (n == 0)
		return (0);
	fprintf(f, "\n\n**💾 Stored — %s (skipped in autopilot):**", title);
	for (i = 0; i < n && i < nitems(v); i++) {
		/* A spec too long for POLICY_RULE_MAX is shown cut. */
		(void)policy_rule_spec(v[i]->tool, v[i]->pattern, spec,
		    sizeof(spec));
		fprintf(f, "\n- **%s** `%s`", v[i]->allow ? "allow" : "deny",
		    spec);
	}
	if (n > nitems(v))
		fprintf(f, "\n- _…and %zu more_", n - nitems(v));
	return (1);
}

/*
 * /rules: upstream's sections, hard-coded denies first; the global stored
 * rules (which upstream keeps but does not list) come last when there are
 * any.
 */
void
cmd_rules(struct cmdctx *x)
{
	const struct conf *cf = conf_get();
	const json_t	*perms = cf != NULL ? json_object_get(cf->root,
			    "permissions") : NULL;
	const char	*spec;
	char		*text = NULL;
	size_t		 len = 0, i, n;
	FILE		*f;

	if ((f = open_memstream(&text, &len)) == NULL) {
		cmd_say(x, "❌ Failed to list permission rules.");
		return;
	}
	fprintf(f, "📋 **Permission rules:**\n**🔒 Hardcoded denies (enforced "
	    "in all modes including autopilot):**");
	for (i = 0; (spec = policy_hard_rule(i)) != NULL; i++)
		fprintf(f, "\n- **deny** `%s`", spec);
	fprintf(f, "\n- **allow** `read/write in workspace + allowPaths`");
	fprintf(f, "\n\n**⚙️ Config — config.json (skipped in autopilot):**");
	n = json_array_size(json_object_get(perms, "deny")) +
	    json_array_size(json_object_get(perms, "allow")) +
	    json_array_size(json_object_get(perms, "allowPaths")) +
	    json_array_size(json_object_get(perms, "allowUrls"));
	if (n == 0)
		fprintf(f, " _(none)_");
	cmd_rules_config(f, perms, "deny", "deny", "");
	cmd_rules_config(f, perms, "allow", "allow", "");
	cmd_rules_config(f, perms, "allowPaths", "allow", "path: ");
	cmd_rules_config(f, perms, "allowUrls", "allow", "url: ");
	if (!cmd_rules_stored(f, x->c->id, "this channel"))
		fprintf(f, "\n\n**💾 Stored — this channel (skipped in "
		    "autopilot):** _(none)_");
	(void)cmd_rules_stored(f, "global", "all channels");
	if (fclose(f) == EOF) {
		free(text);
		cmd_say(x, "❌ Failed to list permission rules.");
		return;
	}
	cmd_say(x, text);
	free(text);
}

/* How many of the channel's stored rules are tool(pattern). */
static size_t
cmd_rules_count(const char *channel, const char *tool, const char *pattern)
{
	const struct store_rule	*v[CMD_PERM_RULES_MAX];
	size_t			 n, i, k = 0;

	n = store_rules(channel, v, nitems(v));
	for (i = 0; i < n && i < nitems(v); i++)
		if (strcmp(v[i]->tool, tool) == 0 &&
		    strcmp(v[i]->pattern, pattern) == 0)
			k++;
	return (k);
}

/* /rules clear [SPEC]: the channel's stored rules, all or those of SPEC. */
void
cmd_rules_clear(struct cmdctx *x)
{
	struct chanop	*op;
	char		*tool = NULL, *pattern = NULL;
	size_t		 n;
	int		 rc = -1;

	if (*x->arg != '\0' && (policy_rule_spec_parse(x->arg, &tool,
	    &pattern) == -1 || cmd_rules_count(x->c->id, tool, pattern) == 0)) {
		cmd_sayf(x, "⚠️ No matching rule found for `%s`", x->arg);
		goto done;
	}
	if ((op = chanop_new(x->c, x->root, x->msg, 0)) == NULL)
		goto done;
	if (tool == NULL)
		op->text = strdup("🗑️ All permission rules cleared for this "
		    "channel.");
	else if (asprintf(&op->text, "🗑️ Removed rule: `%s`", x->arg) == -1)
		op->text = NULL;
	if (op->text != NULL)
		rc = chanop_clear_rules(op, tool, pattern, &n);
	if (rc == -1) {
		cmd_say(x, "❌ Failed to clear permission rules.");
		chanop_free(op);
	} else {
		log_info("channel %s: %zu stored rule(s) cleared", x->c->id, n);
		chanop_stored(op, cmd_perm_saved);
	}
done:
	free(tool);
	free(pattern);
}

/*
 * /yolo: the channel's permission mode, interactive <-> autopilot.  In
 * autopilot the policy approves every request but the hard-coded denies.
 */
void
cmd_yolo(struct cmdctx *x)
{
	struct chan_conf	 cc;
	struct chanop		*op;
	int			 on;

	if (conf_channel(x->c->id, x->c->bot, 1, &cc) == -1 ||
	    (op = chanop_new(x->c, x->root, x->msg, 0)) == NULL)
		return;
	on = !cc.autopilot;
	op->text = strdup(on ? "🤠 **Yolo enabled** — all permissions "
	    "auto-approved." : "🛡️ **Yolo disabled** — permissions will "
	    "require approval.");
	if (op->text == NULL || chanop_pref(op, "permission_mode", on ?
	    "autopilot" : "interactive") == -1) {
		cmd_say(x, "❌ Failed: the preference cannot be saved.");
		chanop_free(op);
		return;
	}
	chanop_stored(op, cmd_perm_saved);
}
