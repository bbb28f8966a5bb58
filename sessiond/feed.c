/*
 * feed: the tool activity feed of a verbose channel (docs/commands.md,
 * "/verbose"), as upstream shows it: one post per stretch of tool calls,
 * edited in place as lines are added ("🔧 **bash** `ls -la`"), ended when
 * the answer starts, a prompt or question is shown, or the turn ends.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jx.h"
#include "common/log.h"
#include "common/utf8.h"
#include "chan.h"
#include "conf.h"
#include "stream.h"

/*
 * s on one line, cut as upstream's "s.length > max ? s.slice(0, keep) +
 * '...' : s" (in characters).
 */
static void
feed_text(FILE *f, const char *s, size_t max, size_t keep)
{
	size_t	len = strlen(s), n = len, i;

	if (utf8_count(s, len) > max)
		n = utf8_cut_chars(s, len, keep);
	for (i = 0; i < n; i++)
		fputc(s[i] == '\n' || s[i] == '\r' ? ' ' : s[i], f);
	if (n < len)
		fputs("...", f);
}

/* upstream's shortenPath: the last three segments of a longer path. */
static void
feed_path(FILE *f, const char *p)
{
	const char	*q = p + strlen(p);
	int		 seps = 0;

	while (q > p && seps < 3)
		if (*--q == '/')
			seps++;
	if (seps < 3)
		fputs(p, f);
	else
		fprintf(f, ".../%s", q + 1);
}

/* upstream's formatToolSummary(): the feed's line for one tool call. */
static void
feed_line(FILE *f, const char *tool, const json_t *args)
{
	const json_t	*vr = json_object_get(args, "view_range");
	const char	*v, *g;

	fprintf(f, "🔧 **%s**", tool);
	if ((v = jx_str(args, "description")) != NULL ||
	    (v = jx_str(args, "intention")) != NULL) {
		fputs(": ", f);
		feed_text(f, v, 80, 77);
	} else if ((v = jx_str(args, "fullCommandText")) != NULL ||
	    (v = jx_str(args, "command")) != NULL) {
		fputs(" `", f);
		feed_text(f, v, 80, 77);
		fputc('`', f);
	} else if ((v = jx_str(args, "path")) != NULL) {
		fputs(" `", f);
		feed_path(f, v);
		if (json_is_array(vr))
			fprintf(f, " (L%lld-%lld)",
			    (long long)json_integer_value(json_array_get(vr, 0)),
			    (long long)json_integer_value(json_array_get(vr, 1)));
		fputc('`', f);
	} else if ((v = jx_str(args, "pattern")) != NULL) {
		fputs(" `", f);
		feed_text(f, v, 40, 37);
		fputc('`', f);
		if ((g = jx_str(args, "glob")) != NULL && *g != '\0')
			fprintf(f, " in %s", g);
	} else if ((v = jx_str(args, "url")) != NULL)
		fprintf(f, " %s", v);
	else if ((v = jx_str(args, "query")) != NULL) {
		fputs(" `", f);
		feed_text(f, v, 60, 57);
		fputc('`', f);
	}
}

/* A tool started in c's turn: its line, if the channel is verbose. */
void
feed_tool(struct chan *c, const char *tool, const json_t *args)
{
	struct chan_conf	 cc;
	char			*line = NULL;
	size_t			 len = 0;
	FILE			*f;

	/* The agent's way to say nothing is no activity to show. */
	if (strcmp(tool, "no_reply") == 0 || !c->busy ||
	    conf_channel(c->id, c->bot, c->dm, &cc) == -1 || !cc.verbose)
		return;
	if ((f = open_memstream(&line, &len)) != NULL) {
		if (c->feed != NULL)
			fputc('\n', f);
		feed_line(f, tool, json_is_object(args) ? args : NULL);
		if (fclose(f) == 0 && (c->feed != NULL ||
		    (c->feed = stream_new(c->bot, c->id, c->root, 0)) != NULL)) {
			stream_delta(c->feed, line);
			free(line);
			return;
		}
		free(line);
	}
	log_warnx("channel %s: out of memory: a line of the activity feed is "
	    "lost", c->id);
}

/* The feed's post gets its last lines; the next tool starts a new one. */
void
feed_end(struct chan *c)
{
	stream_finish(c->feed, NULL);
	c->feed = NULL;
}
