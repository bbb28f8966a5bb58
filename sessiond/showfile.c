/*
 * showfile: the show_file_in_chat tool, as upstream: a file's lines, or
 * its pending git diff, posted in the channel (in the turn's thread) as a
 * code block of at most SHOW_CHARS characters.  The file is confined as
 * send_file's is (files_open()).
 *
 * The diff runs git, and the tool is approved without a prompt, so git
 * must run nothing the workspace configures: no external diff, no
 * textconv, no fsmonitor, and no filter driver (a .gitattributes filter
 * runs its "clean" command on `git diff`).  Filter drivers have names of
 * the repository's choosing, so git is asked for them first (reading the
 * config runs nothing) and each is emptied on the diff's command line,
 * which git reads as no filter at all.
 */
#include <sys/queue.h>
#include <sys/wait.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/jx.h"
#include "common/log.h"
#include "common/pidwatch.h"
#include "common/spawn.h"
#include "common/utf8.h"
#include "common/util.h"
#include "chan.h"
#include "files.h"
#include "tools.h"

#define SHOW_CHARS	8000		/* characters of a file shown (upstream) */
#define SHOW_READ_MAX	(4 * 1024 * 1024)	/* bytes of a file looked at */
#define SHOW_RUN_MS	5000		/* a git command's time (upstream) */
#define SHOW_OUT_MAX	(1024 * 1024)	/* bytes of its output kept */
#define SHOW_DRIVERS	32		/* filter drivers neutralised, at most */
#define SHOW_ARGV_MAX	(16 + 3 * 2 * SHOW_DRIVERS)

struct show;

/* One git command: its output (bounded), its exit. */
struct showrun {
	pid_t			 pid;
	struct pidwatch		*pw;
	int			 reaped, status, timed_out;
	int			 fd_out, fd_err;
	struct event		*ev_out, *ev_err, *ev_tmo;
	char			*out;
	size_t			 outlen;
	void			(*done)(struct show *);
};

/* A diff on its way: the config read, then the diff. */
struct show {
	TAILQ_ENTRY(show)	 entry;
	struct chan		*chan;
	char			*request_id;
	char			*real, *name, *dir;
	struct showrun		 run;
};

static TAILQ_HEAD(, show)	shows = TAILQ_HEAD_INITIALIZER(shows);
static struct event_base	*show_base;

void
showfile_init(struct event_base *base)
{
	show_base = base;
}

/* ------------------------------------------------------------ the text */

/* text[0..len) with every byte that is not UTF-8 as '?', malloc'd. */
static char *
show_valid(const char *text, size_t len)
{
	char		*out;
	size_t		 off = 0, n;
	uint32_t	 cp;

	if ((out = malloc(len + 1)) == NULL)
		return (NULL);
	while (off < len) {
		n = utf8_char(text + off, len - off, &cp);
		if (utf8_valid(text + off, n) && cp != 0)
			memcpy(out + off, text + off, n);
		else
			memset(out + off, '?', n);
		off += n;
	}
	out[len] = '\0';
	return (out);
}

/* The extension for the code fence: "txt" when there is none. */
static const char *
show_ext(const char *name)
{
	const char	*dot = strrchr(name, '.');

	return (dot != NULL && dot != name && dot[1] != '\0' ? dot + 1 : "txt");
}

/*
 * Lines first .. last - 1 (0-based; last -1: to the end) of buf[0..len),
 * as upstream splits them on '\n' and joins them again: *off and *n.
 */
static void
show_lines(const char *buf, size_t len, long first, long last, size_t *off,
    size_t *n)
{
	size_t	i, nl = 0, from = first <= 0 ? 0 : len, to = len;

	for (i = 0; i < len; i++) {
		if (buf[i] != '\n')
			continue;
		nl++;			/* line nl starts after it */
		if ((long)nl == first)
			from = i + 1;
		if (last >= 0 && (long)nl == last) {
			to = i;
			break;
		}
	}
	if (last >= 0 && last <= first)
		to = from;
	*off = from;
	*n = to > from ? to - from : 0;
}

/*
 * Post the block (truncated: more than text was there), answer the tool,
 * as upstream words both.
 */
static void
show_post(struct chan *c, const char *request_id, const char *name,
    const char *label, const char *lang, const char *text, int truncated)
{
	size_t	 len = strlen(text), cut = utf8_cut_chars(text, len, SHOW_CHARS);
	char	*msg, *answer;

	if (asprintf(&msg, "**%s**%s\n````%s\n%.*s\n````%s", name, label, lang,
	    (int)cut, text, cut < len || truncated ? "\n*(truncated — file too "
	    "large for chat)*" : "") == -1) {
		tools_answer(c, request_id, "Failed to show file: out of memory",
		    NULL);
		return;
	}
	chan_say(c, c->root, msg);
	free(msg);
	if (asprintf(&answer, "Showed %s to user in chat.", name) == -1)
		answer = NULL;
	tools_answer(c, request_id, answer != NULL ? answer : "Showed the file "
	    "to user in chat.", NULL);
	free(answer);
}

/* The file's lines (view_range [start, end], 1-based; end -1: the end). */
static void
show_file(struct chan *c, const char *request_id, int fd, const char *name,
    off_t size, const json_t *range)
{
	size_t	 len = size > SHOW_READ_MAX ? SHOW_READ_MAX : (size_t)size;
	size_t	 got = 0, off, n;
	long	 first = 0, last = -1, a, b;
	ssize_t	 r;
	char	*buf, *text, label[96];

	label[0] = '\0';
	if (json_array_size(range) == 2) {
		a = (long)json_integer_value(json_array_get(range, 0));
		b = (long)json_integer_value(json_array_get(range, 1));
		first = a > 1 ? a - 1 : 0;
		last = b == -1 ? -1 : b < 0 ? 0 : b;
		if (b == -1)
			snprintf(label, sizeof(label), " (lines %ld–end)", a);
		else
			snprintf(label, sizeof(label), " (lines %ld–%ld)", a, b);
	}
	if ((buf = malloc(len + 1)) == NULL) {
		tools_answer(c, request_id, "Failed to show file: out of memory",
		    NULL);
		return;
	}
	while (got < len && ((r = pread(fd, buf + got, len - got,
	    (off_t)got)) > 0 || (r == -1 && errno == EINTR)))
		if (r > 0)
			got += (size_t)r;
	show_lines(buf, got, first, last, &off, &n);
	if ((text = show_valid(buf + off, n)) == NULL)
		tools_answer(c, request_id, "Failed to show file: out of memory",
		    NULL);
	else
		/* Lines past what was read are cut as surely as long ones. */
		show_post(c, request_id, name, label, show_ext(name), text,
		    (off_t)got < size && off + n == got);
	free(text);
	free(buf);
}

/* ------------------------------------------------------------ git */

static void
show_fd_close(int *fd, struct event **ev)
{
	if (*ev != NULL)
		event_free(*ev);
	*ev = NULL;
	if (*fd != -1)
		(void)close(*fd);
	*fd = -1;
}

static void
show_run_clear(struct showrun *r)
{
	show_fd_close(&r->fd_out, &r->ev_out);
	show_fd_close(&r->fd_err, &r->ev_err);
	if (r->ev_tmo != NULL)
		event_free(r->ev_tmo);
	r->ev_tmo = NULL;
	if (!r->reaped && r->pid > 0) {
		(void)kill(-r->pid, SIGKILL);
		if (r->pw == NULL || pidwatch_reap(r->pw) == 0)
			log_debug("show_file_in_chat: git %ld left to its "
			    "parent's reaping", (long)r->pid);
	}
	pidwatch_free(r->pw);
	r->pw = NULL;
	free(r->out);
	memset(r, 0, sizeof(*r));
	r->fd_out = r->fd_err = -1;
}

static void
show_free(struct show *s)
{
	TAILQ_REMOVE(&shows, s, entry);
	show_run_clear(&s->run);
	free(s->request_id);
	free(s->real);
	free(s->name);
	free(s->dir);
	free(s);
}

static void
show_run_check(struct show *s)
{
	if (s->run.reaped && s->run.fd_out == -1 && s->run.fd_err == -1)
		s->run.done(s);
}

static void
show_out_cb(int fd, short ev, void *arg)
{
	struct show	*s = arg;
	struct showrun	*r = &s->run;
	char		 buf[8192];
	ssize_t		 n;
	char		*nb;

	if ((n = read(fd, buf, sizeof(buf))) == -1 &&
	    (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		show_fd_close(&r->fd_out, &r->ev_out);
		show_run_check(s);
		return;
	}
	/* Past the bound the output is read and dropped: git never blocks. */
	if (r->outlen + (size_t)n > SHOW_OUT_MAX)
		return;
	if ((nb = realloc(r->out, r->outlen + (size_t)n + 1)) == NULL)
		return;
	r->out = nb;
	memcpy(r->out + r->outlen, buf, (size_t)n);
	r->outlen += (size_t)n;
	r->out[r->outlen] = '\0';
}

static void
show_err_cb(int fd, short ev, void *arg)
{
	struct show	*s = arg;
	char		 buf[4096];
	ssize_t		 n;

	if ((n = read(fd, buf, sizeof(buf))) == -1 &&
	    (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		show_fd_close(&s->run.fd_err, &s->run.ev_err);
		show_run_check(s);
	}
}

static void
show_exited(pid_t pid, int status, void *arg)
{
	struct show	*s = arg;

	s->run.reaped = 1;
	s->run.status = status;
	pidwatch_free(s->run.pw);
	s->run.pw = NULL;
	show_run_check(s);
}

static void
show_tmo_cb(int fd, short ev, void *arg)
{
	struct show	*s = arg;

	s->run.timed_out = 1;
	(void)kill(-s->run.pid, SIGKILL);
}

/* Run git with argv (argv[0] its path) in s->dir; done() when it ended. */
static int
show_run(struct show *s, char *const *argv, void (*done)(struct show *))
{
	struct showrun	*r = &s->run;
	struct timeval	 tv = { SHOW_RUN_MS / 1000, (SHOW_RUN_MS % 1000) * 1000 };
	struct spawn	 sp;
	struct event_base *base = show_base;

	show_run_clear(r);
	r->done = done;
	memset(&sp, 0, sizeof(sp));
	sp.argv = argv;
	sp.cwd = s->dir;
	sp.pgrp = 1;
	sp.deathsig = SIGKILL;
	if (spawn_piped(&sp) == -1)
		return (-1);
	(void)close(sp.in);
	r->pid = sp.pid;
	r->fd_out = sp.out;
	r->fd_err = sp.err;
	if ((r->pw = pidwatch_new(base, r->pid, PIDWATCH_KILLGROUP, show_exited,
	    s)) == NULL ||
	    (r->ev_out = event_new(base, r->fd_out, EV_READ | EV_PERSIST,
	    show_out_cb, s)) == NULL || event_add(r->ev_out, NULL) == -1 ||
	    (r->ev_err = event_new(base, r->fd_err, EV_READ | EV_PERSIST,
	    show_err_cb, s)) == NULL || event_add(r->ev_err, NULL) == -1 ||
	    (r->ev_tmo = evtimer_new(base, show_tmo_cb, s)) == NULL ||
	    evtimer_add(r->ev_tmo, &tv) == -1) {
		show_run_clear(r);
		return (-1);
	}
	return (0);
}

static int
show_run_ok(const struct showrun *r)
{
	return (!r->timed_out && r->status != -1 && WIFEXITED(r->status) &&
	    WEXITSTATUS(r->status) == 0);
}

/* The diff is done: its text, or upstream's words for none. */
static void
show_diff_done(struct show *s)
{
	const char	*text = "(not a git repository or git diff failed)";
	char		*valid = NULL;
	size_t		 i;

	if (show_run_ok(&s->run)) {
		for (i = 0; i < s->run.outlen; i++)
			if (s->run.out[i] != ' ' && s->run.out[i] != '\n' &&
			    s->run.out[i] != '\t')
				break;
		text = i == s->run.outlen ? "(no pending changes)" :
		    (valid = show_valid(s->run.out, s->run.outlen));
	} else
		log_info("channel %s: show_file_in_chat: git diff of %s failed",
		    s->chan->id, s->real);
	if (text == NULL)
		tools_answer(s->chan, s->request_id, "Failed to show file: out "
		    "of memory", NULL);
	else
		show_post(s->chan, s->request_id, s->name, " (diff)", "diff",
		    text, 0);
	free(valid);
	show_free(s);
}

/* git's path, "-c" pairs from the filter drivers listed in out, the diff. */
static void
show_diff_argv(const char *git, const struct show *s, char **argv,
    char (*kv)[160])
{
	const char	*p = s->run.out, *end = p + s->run.outlen, *dot;
	size_t		 a = 0, k = 0, n;
	char		 name[128], prev[128] = "";

	argv[a++] = (char *)git;
	argv[a++] = "--no-pager";
	argv[a++] = "-c";
	argv[a++] = "core.fsmonitor=false";
	/* -z --name-only: "filter.<name>.<key>\0" each */
	while (p != NULL && p < end && k < 3 * SHOW_DRIVERS) {
		n = strnlen(p, (size_t)(end - p));
		if (n > 7 && n < sizeof(name) + 7 && (dot = memrchr(p, '.', n))
		    != NULL && dot > p + 7 && memchr(p, '=', n) == NULL &&
		    snprintf(name, sizeof(name), "%.*s", (int)(dot - p - 7),
		    p + 7) > 0 && strcmp(name, prev) != 0) {
			snprintf(prev, sizeof(prev), "%s", name);
			snprintf(kv[k], sizeof(kv[0]), "filter.%s.process=", name);
			snprintf(kv[k + 1], sizeof(kv[0]), "filter.%s.clean=", name);
			snprintf(kv[k + 2], sizeof(kv[0]), "filter.%s.required=false",
			    name);
			for (n = 0; n < 3; n++) {
				argv[a++] = "-c";
				argv[a++] = kv[k + n];
			}
			k += 3;
		}
		p += strnlen(p, (size_t)(end - p)) + 1;
	}
	argv[a++] = "diff";
	argv[a++] = "--no-ext-diff";
	argv[a++] = "--no-textconv";
	argv[a++] = "--no-color";
	argv[a++] = "--";
	argv[a++] = s->real;
	argv[a] = NULL;
}

/* The filter drivers are known: the diff, with each of them emptied. */
static void
show_config_done(struct show *s)
{
	char	 git[PATH_MAX], *argv[SHOW_ARGV_MAX];
	char	 kv[3 * SHOW_DRIVERS][160];

	/* No filter configured is git's exit 1 here: fine. */
	if (s->run.timed_out || util_search_path("git", git, sizeof(git)) == -1) {
		show_diff_done(s);
		return;
	}
	show_diff_argv(git, s, argv, kv);
	if (show_run(s, argv, show_diff_done) == -1) {
		s->run.status = -1;
		show_diff_done(s);
	}
}

static void
show_diff(struct chan *c, const char *request_id, const char *real,
    const char *name)
{
	char		 git[PATH_MAX], *slash;
	char		*argv[] = { git, "--no-pager", "config", "-z",
			    "--name-only", "--get-regexp", "^filter\\.", NULL };
	struct show	*s;

	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->request_id = strdup(request_id)) == NULL ||
	    (s->real = strdup(real)) == NULL || (s->name = strdup(name)) ==
	    NULL || (s->dir = strdup(real)) == NULL) {
		if (s != NULL) {
			free(s->request_id);
			free(s->real);
			free(s->name);
		}
		free(s);
		tools_answer(c, request_id, "Failed to show file: out of memory",
		    NULL);
		return;
	}
	s->chan = c;
	s->run.fd_out = s->run.fd_err = -1;
	if ((slash = strrchr(s->dir, '/')) != NULL)
		slash[slash == s->dir ? 1 : 0] = '\0';
	TAILQ_INSERT_TAIL(&shows, s, entry);
	s->run.status = -1;
	if (util_search_path("git", git, sizeof(git)) == -1 ||
	    show_run(s, argv, show_config_done) == -1) {
		s->run.status = -1;
		show_diff_done(s);
	}
}

/* ------------------------------------------------------------ the tool */

void
showfile_tool(struct chan *c, const char *request_id, const json_t *args)
{
	char		 real[PATH_MAX], err[256], text[512];
	const char	*name;
	enum fpath_why	 why;
	off_t		 size;
	int		 fd;

	fd = files_open(c, json_object_get(args, "path"), real, sizeof(real),
	    &size, &why, err, sizeof(err));
	if (fd == -1) {
		snprintf(text, sizeof(text), "%s%s", why == FPATH_NOENT ?
		    "File not found." : why == FPATH_OUTSIDE ? "File path is "
		    "outside the allowed workspace." : why == FPATH_NOTREG ?
		    "Failed to show file: not a regular file" : "Failed to show "
		    "file: ", why == FPATH_ERROR ? err : "");
		tools_answer(c, request_id, text, NULL);
		return;
	}
	name = strrchr(real, '/') != NULL ? strrchr(real, '/') + 1 : real;
	if (!utf8_valid(name, strlen(name)))
		name = "file";
	if (jx_bool(args, "diff", 0)) {
		(void)close(fd);
		show_diff(c, request_id, real, name);
		return;
	}
	show_file(c, request_id, fd, name, size, json_object_get(args,
	    "view_range"));
	(void)close(fd);
}

void
showfile_shutdown(void)
{
	while (!TAILQ_EMPTY(&shows))
		show_free(TAILQ_FIRST(&shows));
}
