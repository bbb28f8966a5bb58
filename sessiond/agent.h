/*
 * agent: the ask_agent tool (docs/schedules.md, "Calls between agents").
 * With interAgent.enabled, one bot's session asks another bot of this
 * bridge: the target answers in a session of its own, made for the call
 * in its workspace and closed after it, as upstream does.  Allowlists,
 * the chain's depth and cycles are checked first; every call is recorded
 * in state.db's agent_calls.
 */
#ifndef SESSIOND_AGENT_H
#define SESSIOND_AGENT_H

struct event_base;

void	 agent_init(struct event_base *);
/* interAgent.enabled in the config in force. */
int	 agent_enabled(void);
/* SHUTDOWN: every call's session is closed, nothing more is answered. */
void	 agent_shutdown(void);

#endif
