/*
 * Fuzz the Mattermost WebSocket frame parser, and what a parsed "posted"
 * goes through next: the post's own JSON (data.post is a string holding
 * JSON), mention detection and stripping, and the INBOUND it becomes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "worker/adapters/mattermost.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct mm_self	 me = { "bbbbbbbbbbbbbbbbbbbbbbbbbb",
					    "bot-a", "mattermost:a" };
	struct mm_event			 ev;
	const char			*why, *msg;
	json_t				*out;
	char				 err[256];

	if (mm_parse_event((const char *)data, size, &ev, err,
	    sizeof(err)) == -1)
		return (0);
	if (ev.kind == MM_EV_POSTED) {
		if (mm_inbound(&me, ev.post, ev.channel_type, ev.sender_name,
		    ev.mentions, &out, &why) == 1)
			json_decref(out);
		msg = json_string_value(json_object_get(ev.post, "message"));
		if (msg != NULL) {
			(void)mm_mentions(msg, "bot-a");
			free(mm_strip_mention(msg, "bot-a"));
		}
	}
	mm_event_clear(&ev);
	return (0);
}
