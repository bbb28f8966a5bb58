/*
 * Fuzz the Slack Socket Mode frame parser, and what a parsed events_api
 * envelope goes through next: event filtering, mention stripping, entity
 * decoding and the INBOUND it becomes; the frame's text also goes through
 * the Markdown to mrkdwn conversion and the chunking.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "worker/mrkdwn.h"
#include "worker/worker.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* slack.o calls back into worker main.c, which is not linked here. */
void	worker_ready(const char *u, const char *n) { }
void	worker_failed(const char *fmt, ...) { }
void	worker_inbound(json_t *m) { json_decref(m); }
void	worker_outbound_done(json_int_t r, int ok, const char *p,
	    const char *e) { }
void	worker_drained(void) { }

static void
fuzz_text(const char *text)
{
	char	**chunks, *md;
	size_t	  n;
	int	  m;

	free(slack_strip_mention(text, "UBOT", &m));
	free(slack_decode_entities(text));
	if ((md = mrkdwn_from_markdown(text)) == NULL)
		return;
	n = mrkdwn_chunk(md, 64, &chunks);
	mrkdwn_chunks_free(chunks, n);
	free(mrkdwn_truncate_update(md));
	free(md);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct slack_self	 me = { "UBOT", "slack:b" };
	struct slack_frame		 f;
	const char			*why, *text;
	json_t				*out;
	char				 err[256];

	if (slack_parse_frame((const char *)data, size, &f, err,
	    sizeof(err)) == -1)
		return (0);
	if (f.kind == SLACK_F_EVENT && f.event != NULL) {
		if (slack_inbound(&me, f.event, &out, &why) == 1)
			json_decref(out);
		text = json_string_value(json_object_get(f.event, "text"));
		if (text != NULL)
			fuzz_text(text);
		(void)slack_ts_ms(json_string_value(json_object_get(f.event,
		    "ts")));
	}
	slack_frame_clear(&f);
	return (0);
}
