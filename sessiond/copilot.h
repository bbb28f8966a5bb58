/*
 * copilot: the parts of backend_copilot (copilot.c) that share a session:
 * the session itself and the mapping of the runtime's events to the
 * backend's callbacks (cpevent.c).  Nothing outside the backend includes
 * this; sessiond sees backend.h.
 */
#ifndef SESSIOND_COPILOT_H
#define SESSIOND_COPILOT_H

#include <sys/queue.h>

#include <stdint.h>

#include <jansson.h>

#include "backend.h"

#define CP_ID_MAX	128
#define CP_REQUEST_MS	60000	/* per request; a wedged runtime is restarted */

enum bs_state {
	BS_OPENING,		/* create/resume to send or in flight */
	BS_OPEN,
	BS_FAILED,		/* opened() reported an error */
	BS_LOST,		/* lost() reported */
	BS_STOPPED		/* the engine was stopped */
};

/* A request of the runtime waiting for the channel's answer. */
enum waitreq_kind {
	WAIT_HOOK,		/* hooks.invoke */
	WAIT_INPUT,		/* userInput.request */
	WAIT_PLAN		/* exitPlanMode.request */
};

struct hookreq {
	TAILQ_ENTRY(hookreq)	 entry;
	enum waitreq_kind	 kind;
	unsigned int		 gen;		/* the runtime it came from */
	json_t			*id;
};
TAILQ_HEAD(hookreqq, hookreq);

/* A prompt of send(), until the runtime says it took it (user.message). */
struct bprompt {
	TAILQ_ENTRY(bprompt)	 entry;
	char			*text;
	json_t			*attachments;	/* or NULL */
	int			 immediate;
	int			 seq;		/* the session.send that carried it */
	char			 msgid[64];	/* from its reply, "" before */
};
TAILQ_HEAD(bpromptq, bprompt);

struct bsession {
	TAILQ_ENTRY(bsession)		 entry;
	struct hookreqq			 hookreqs;
	struct bpromptq			 outq;		/* to send once resumed */
	struct bpromptq			 sent;		/* sent, not taken yet */
	int				 next_seq;
	const struct backend_events	*ev;
	void				*arg;
	char				*channel;
	char				*cwd;
	char				*model;
	char				*agent;
	json_t				*provider;	/* own copy: every resume sends it */
	json_t				*extra;		/* more keys of create/resume */
	char				*want_id;	/* to resume on the first open */
	char				 id[CP_ID_MAX];	/* "" until an open picks one */
	enum bs_state			 state;
	int				 reopen;	/* open after a runtime restart */
	int				 recreate;	/* reopen by create, same id */
	int				 history;	/* it had a turn: resume or lose it */
	int				 inflight;	/* create/resume pending */
	int				 busy;		/* a turn runs (until session.idle) */
	int				 idle_due;	/* idle(1) owed from the loop */
	int				 closed;
	int				 refs;
	unsigned int			 sweep;
	uint64_t			 open_deadline;
};

/* Callbacks only reach a session its owner has not closed. */
#define BS_CALL(s, fn, ...) do {					\
	if (!(s)->closed && (s)->ev->fn != NULL)			\
		(s)->ev->fn((s)->arg, __VA_ARGS__);			\
} while (0)

static inline const char *
bs_name(const struct bsession *s)
{
	return (s->channel != NULL ? s->channel : "?");
}

/* cpevent.c */
void		 cpevent_dispatch(struct bsession *, const json_t *event);
void		 bprompt_free(struct bpromptq *, struct bprompt *);
void		 bprompt_free_all(struct bpromptq *);

#endif
