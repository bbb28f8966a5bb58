/*
 * stream: a reply edited in place while it grows, and one-off posts.
 */
#ifndef SESSIOND_STREAM_H
#define SESSIOND_STREAM_H

#include <stdint.h>

struct event_base;
struct stream;

void		 stream_init(struct event_base *);
/* placeholder: post "⏳ Working..." at once. */
struct stream	*stream_new(const char *bot, const char *channel,
		    const char *root, int placeholder);
void		 stream_delta(struct stream *, const char *text);
void		 stream_message(struct stream *, const char *text);
void		 stream_turn_times(struct stream *, uint64_t read_us,
		    uint64_t send_us);
/*
 * Whether the open post has text of the reply (not only a placeholder),
 * and whether that text ends with a complete message.
 */
int		 stream_said(const struct stream *);
int		 stream_said_all(const struct stream *);
void		 stream_finish(struct stream *, const char *error);
void		 stream_discard(struct stream *);
void		 stream_free_all(void);
void		 stream_post(const char *bot, const char *channel,
		    const char *root, const char *text);

#endif
