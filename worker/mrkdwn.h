/*
 * mrkdwn: Slack's text.  Markdown as the model writes it becomes Slack
 * mrkdwn outside code fences (upstream's transform): **bold** -> *bold*,
 * [text](url) -> <url|text>, ~~strike~~ -> ~strike~, "# header" ->
 * *header*, and tables become code blocks.  Long text is cut by upstream's
 * chunkMessage rule.  Lengths are characters (code points), never bytes,
 * and every cut is on a character and cluster boundary (common/utf8.h).
 *
 * The conversion never lengthens a text but for tables: each gains its
 * two fence lines (MRKDWN_TABLE_GROWTH characters) and takes at least
 * MRKDWN_TABLE_MIN (the last one 2 fewer), so n characters of Markdown
 * become at most mrkdwn_max_len(n) of mrkdwn.
 */
#ifndef WORKER_MRKDWN_H
#define WORKER_MRKDWN_H

#include <stddef.h>

#define MRKDWN_TABLE_GROWTH	8	/* "```\n" before, "```\n" after */
#define MRKDWN_TABLE_MIN	6	/* "|\n|-\n" and the line ending it */

char	*mrkdwn_from_markdown(const char *md);
size_t	 mrkdwn_max_len(size_t md_chars);
size_t	 mrkdwn_chunk(const char *text, size_t max, char ***chunks);
void	 mrkdwn_chunks_free(char **chunks, size_t n);

#endif
