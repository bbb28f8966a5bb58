/*
 * Fuzz the Slack Socket Mode frame parser, and what a parsed events_api
 * envelope goes through next: event filtering, mention stripping, entity
 * decoding and the INBOUND it becomes; the frame's text also goes through
 * the Markdown to mrkdwn conversion and the chunking.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"
#include "worker/adapters/slack.h"
#include "worker/mrkdwn.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_CHUNK	64

static void
fuzz_text(const char *text)
{
	char	**chunks, *md;
	size_t	  n, i, mdlen;
	int	  m;

	free(slack_strip_mention(text, "UBOT", &m));
	free(slack_decode_entities(text));
	if ((md = mrkdwn_from_markdown(text)) == NULL)
		return;
	mdlen = strlen(md);
	/* The bound the Slack limits rest on (worker/mrkdwn.h). */
	if (utf8_count(md, mdlen) > mrkdwn_max_len(utf8_count(text,
	    strlen(text))))
		abort();
	n = mrkdwn_chunk(md, FUZZ_CHUNK, &chunks);
	for (i = 0; i < n; i++)
		/* Within the limit; a valid text stays valid once cut. */
		if (utf8_count(chunks[i], strlen(chunks[i])) > FUZZ_CHUNK ||
		    (utf8_valid(md, mdlen) && !utf8_valid(chunks[i],
		    strlen(chunks[i]))))
			abort();
	mrkdwn_chunks_free(chunks, n);
	free(md);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct slack_self	 me = { "UBOT", "slack:b",
					    "https://slack.com/api/" };
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
