/*
 * chanext: a channel's MCP servers, skills, agents and instructions
 * (wsconf.h) given to its session and kept current while it lives
 * (docs/architecture.md, "Reloaded live").
 *
 * They are loaded for the working directory when the session opens and
 * go with every create and resume.  A save in a directory they came from
 * (dirwatch.c: one inotify watch per directory, 500 ms debounce per
 * channel), /reload mcp, /reload skills or a new workingDirectory reloads
 * them; what changed is applied to the live session without losing it:
 * new create/resume options re-attach the same session (session.resume,
 * same id, same context), a changed skill is session.skills.reload.  A
 * session still opening when they change is re-attached once it is open.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/otel.h"
#include "common/util.h"
#include "chan.h"
#include "chanop.h"
#include "conf.h"
#include "wsconf.h"

static void	chanext_saved(void *);

/* Load the files for a session about to open, unless they are current. */
void
chanext_attach(struct chan *c, const char *cwd)
{
	if (wsconf_current(&c->ws, cwd))
		return;
	if (wsconf_load(&c->ws, &c->ws, cwd, chanext_saved) == -1) {
		log_warnx("channel %s: out of memory: the session opens "
		    "without its MCP servers, agents and skills", c->id);
		return;
	}
	if (c->ws.err[0] != '\0')
		log_warnx("channel %s: %s: its MCP servers are left out",
		    c->id, c->ws.err);
	log_debug("channel %s: %zu MCP servers, %zu agents for %s", c->id,
	    json_object_size(c->ws.mcp->servers), c->ws.agents->n,
	    cwd != NULL ? cwd : "no workspace");
}

int
chanext_extra(struct chan *c, json_t *x)
{
	c->ws_sent = c->ws.gen;
	return (wsconf_extra(&c->ws, x));
}

/*
 * The agent a session may open with: one the runtime will know.  An agent
 * without a definition would fail the create or resume, so it is left
 * out (and said).
 */
const char *
chanext_agent(struct chan *c, const char *agent)
{
	if (agent == NULL || agent[0] == '\0')
		return (NULL);
	if (agents_find(c->ws.agents, agent) != NULL)
		return (agent);
	log_warnx("channel %s: agent \"%s\" has no definition (*.agent.md); "
	    "the session runs without it", c->id, agent);
	return (NULL);
}

/* Give the live session what changed. */
static void
chanext_apply(struct chan *c, int changed)
{
	if (c->st != CH_OPEN || c->bs == NULL || changed <= 0)
		return;
	if ((changed & WSCONF_OPTS) && chan_apply(c, 1) == -1)
		log_warnx("channel %s: cannot re-attach the session; the "
		    "change applies when it next opens", c->id);
	if (changed & WSCONF_SKILLS)
		chanop_send(c, "session.skills.reload", NULL);
}

/*
 * The session is to run without an agent: a resume without one keeps
 * the agent the session had selected, so it is deselected.
 */
void
chanext_no_agent(struct chan *c)
{
	chanop_send(c, "session.agent.deselect", NULL);
}

/* The session is open: what changed while it opened is given to it. */
void
chanext_opened(struct chan *c)
{
	struct chan_conf	cc;

	json_object_clear(c->ws.status);
	if (c->ws_sent != c->ws.gen)
		chanext_apply(c, WSCONF_OPTS | WSCONF_SKILLS);
	else if (conf_channel(c->id, c->bot, 1, &cc) == 0 &&
	    (cc.agent == NULL || agents_find(c->ws.agents, cc.agent) == NULL))
		chanext_no_agent(c);
}

void
chanext_event(struct chan *c, const char *type, const json_t *data)
{
	wsconf_status(&c->ws, c->id, type, data);
}

/* What a reload did, in words. */
static void
chanext_say(const struct chan *c, int changed, char *msg, size_t len)
{
	size_t	 n;

	if (c->ws.err[0] != '\0') {
		snprintf(msg, len, "❌ %s — previous MCP servers kept",
		    c->ws.err);
		return;
	}
	if (changed == 0) {
		snprintf(msg, len, "✅ Workspace files re-read: nothing changed");
		return;
	}
	n = (size_t)snprintf(msg, len, "✅ Reloaded:");
	if (changed & WSCONF_MCP && n < len)
		n += (size_t)snprintf(msg + n, len - n, " MCP servers (%zu),",
		    json_object_size(c->ws.mcp->servers));
	if (changed & WSCONF_AGENTS && n < len)
		n += (size_t)snprintf(msg + n, len - n, " agents (%zu),",
		    c->ws.agents->n);
	if (changed & (WSCONF_SKILLS | WSCONF_SKILLDIRS) && n < len)
		n += (size_t)snprintf(msg + n, len - n, " skills,");
	if (changed & WSCONF_INSTR && n < len)
		n += (size_t)snprintf(msg + n, len - n, " AGENTS.local.md,");
	if (n < len && msg[n - 1] == ',')
		msg[n - 1] = '\0';
}

/*
 * Read the files again, because of why, and give the live session what
 * changed.  manual: a command, which answers for itself; otherwise the
 * channel hears of it only with hooks.notifyOnAutoReload.  Returns what
 * changed (WSCONF_*), or -1; msg (if not NULL) says it in words.
 */
int
chanext_reload(struct chan *c, const char *why, int manual, char *msg,
    size_t len)
{
	struct chan_conf	 cc;
	struct otel_span	*span = otel_span_start("reload.workspace", NULL);
	uint64_t		 t0 = util_now_ms();
	char			 text[1024];
	int			 changed;

	otel_span_str(span, "channel", c->id);
	otel_span_str(span, "trigger", why);
	if (conf_channel(c->id, c->bot, c->dm, &cc) == -1)
		cc.cwd = NULL;
	if ((changed = wsconf_load(&c->ws, &c->ws, cc.cwd, chanext_saved)) ==
	    -1) {
		snprintf(text, sizeof(text), "❌ out of memory — the previous "
		    "MCP servers, agents and skills are kept");
		log_warnx("channel %s: workspace files not reloaded (%s): out "
		    "of memory", c->id, why);
		otel_span_status(span, "out of memory");
	} else {
		chanext_apply(c, changed);
		chanext_say(c, changed, text, sizeof(text));
		otel_span_int(span, "changed", changed);
		log_info("channel %s: workspace files reloaded (%s): %zu MCP "
		    "servers, %zu agents, changed 0x%x, in %llu ms", c->id, why,
		    json_object_size(c->ws.mcp->servers), c->ws.agents->n,
		    (unsigned int)changed,
		    (unsigned long long)(util_now_ms() - t0));
		if (c->ws.err[0] != '\0') {
			log_warnx("channel %s: MCP servers not reloaded (%s): "
			    "%s — previous MCP servers kept", c->id, why,
			    c->ws.err);
			otel_span_status(span, c->ws.err);
		}
	}
	otel_span_end(span);
	if (!manual && conf_get() != NULL && conf_get()->notify_hooks &&
	    (changed != 0 || c->ws.err[0] != '\0'))
		chan_say(c, "", text);
	if (msg != NULL)
		snprintf(msg, len, "%s", text);
	return (changed);
}

static void
chanext_saved(void *owner)
{
	struct chan	*c = (struct chan *)((char *)owner -
			    offsetof(struct chan, ws));

	(void)chanext_reload(c, "file saved", 0, NULL, 0);
}

/* The config changed: a new workingDirectory brings its own files. */
void
chanext_config_changed(struct chan *c)
{
	struct chan_conf	cc;

	if (c->ws.cwd == NULL)
		return;
	if (conf_channel(c->id, c->bot, c->dm, &cc) == -1) {
		chanext_drop(c);
		return;
	}
	if (!wsconf_current(&c->ws, cc.cwd))
		(void)chanext_reload(c, "config changed", 0, NULL, 0);
}

void
chanext_drop(struct chan *c)
{
	wsconf_drop(&c->ws, &c->ws);
}
