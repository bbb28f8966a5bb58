/*
 * files: see files.h.
 *
 * In.  A message with files is checked against files.maxFileMiB (each)
 * and files.maxMessageMiB (together, in the order sent); what is over is
 * not fetched and the channel is told.  sessiond makes each file in
 * <workingDirectory>/.temp/<channel>/ (fpath.c: a safe name, nothing
 * followed) and hands its descriptor to the worker with a "download" op:
 * the worker holds the token, sessiond the place, and neither learns the
 * other's.  The message waits in the channel's queue, in its place, marked
 * "_fetching" (channel.c starts nothing behind it); once every file is in
 * it gets "_attachments" and runs like any prompt.  A message with files
 * never steers a running turn: it waits for the turn's end.
 *
 * Out.  send_file opens the file the agent names, confined to the working
 * directory and allowPaths (fpath_open_confined()), and hands the
 * descriptor to the worker with an "upload" op, in the thread of the turn.
 *
 * Old.  The files are removed by age (files.tempMaxAgeHours), by a sweep
 * of every working directory's .temp that looks at a bounded number of
 * entries per step.
 */
#include <sys/queue.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/jx.h"
#include "common/log.h"
#include "common/utf8.h"
#include "common/util.h"
#include "chan.h"
#include "conf.h"
#include "files.h"
#include "fpath.h"
#include "outbound.h"
#include "store.h"
#include "tools.h"

#define FILES_ROOTS_MAX		64	/* allowPaths entries looked at */
#define FILES_SWEEP_EVERY_MS	(10 * 60 * 1000)	/* a new sweep, at most */
#define FILES_SWEEP_MIN_MS	1000	/* ... and at least this apart */
#define FILES_SWEEP_STEP_MS	50	/* between the steps of one */
#define FILES_SWEEP_BUDGET	256	/* directory entries a step */
#define FILES_NO_TEXT		"See attached file(s)."	/* as upstream */
/* The worker's lane for transfers: a channel's posts never wait for one. */
#define FILES_LANE		"files"

struct fetch;

/* One file of a message on its way in: the arg of its download op. */
struct fetch_file {
	struct fetch		*f;
	char			*path;
	char			*display;	/* the name the chat gave */
	int			 running;
};

/* One message's files. */
struct fetch {
	TAILQ_ENTRY(fetch)	 entry;
	struct chan		*chan;
	json_t			*msg;		/* queued, "_fetching" */
	json_t			*attachments;	/* those in, for send() */
	json_t			*notes;		/* what the channel is told */
	struct fetch_file	 files[FILES_MSG_MAX];
	size_t			 nfiles;
	unsigned int		 pending;
};

/* A send_file call waiting for its upload. */
struct upload {
	TAILQ_ENTRY(upload)	 entry;
	struct chan		*chan;
	char			*request_id;
	char			*name;
};

static TAILQ_HEAD(, fetch)	fetches = TAILQ_HEAD_INITIALIZER(fetches);
static TAILQ_HEAD(, upload)	uploads = TAILQ_HEAD_INITIALIZER(uploads);
static struct event_base	*files_base;
static struct event		*sweep_ev;
static struct fpath_sweep	*sweep;
static unsigned int		 sweep_removed;

static void	files_sweep_arm(uint64_t ms);

void
files_size(unsigned long long n, char *out, size_t len)
{
	if (n >= 10ULL * 1024 * 1024)
		snprintf(out, len, "%llu MiB", n / (1024 * 1024));
	else if (n >= 1024 * 1024)
		snprintf(out, len, "%.1f MiB", (double)n / (1024 * 1024));
	else if (n >= 1024)
		snprintf(out, len, "%llu KiB", n / 1024);
	else
		snprintf(out, len, "%llu bytes", n);
}

/* A file's name inside `...` in a reply: no backquote breaks out. */
static void
files_shown(const char *name, char *out, size_t len)
{
	size_t	i, n = utf8_cut_bytes(name, strlen(name), len - 1);

	for (i = 0; i < n; i++)
		out[i] = name[i] == '`' ? '\'' : name[i];
	out[n] = '\0';
}

/* ------------------------------------------------------------ in */

static void
fetch_note(struct fetch *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
fetch_note(struct fetch *f, const char *fmt, ...)
{
	va_list	 ap;
	char	*s;
	int	 n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n == -1 || json_array_append_new(f->notes, json_string(s)) == -1)
		log_warnx("channel %s: out of memory: a note about files is "
		    "lost", f->chan->id);
	if (n != -1)
		free(s);
}

static void
fetch_free(struct fetch *f)
{
	size_t	i;

	TAILQ_REMOVE(&fetches, f, entry);
	for (i = 0; i < f->nfiles; i++) {
		if (f->files[i].running)
			outbound_forget(&f->files[i]);
		free(f->files[i].path);
		free(f->files[i].display);
	}
	json_decref(f->msg);
	json_decref(f->attachments);
	json_decref(f->notes);
	free(f);
}

/* Take msg out of the channel's queue (it has nothing left to say). */
static void
fetch_unqueue(struct chan *c, const json_t *msg)
{
	size_t	i;

	for (i = 0; i < json_array_size(c->queue); i++)
		if (json_array_get(c->queue, i) == msg) {
			(void)json_array_remove(c->queue, i);
			return;
		}
}

/* Every file is in (or not): the message may run. */
static void
fetch_done(struct fetch *f)
{
	struct chan	*c = f->chan;
	json_t		*m = f->msg, *note;
	const char	*text = jx_stre(m, "text");
	char		*all = NULL, *p;
	size_t		 i;
	int		 bad = 0;

	json_array_foreach(f->notes, i, note) {
		p = all;
		if (asprintf(&all, "%s%s%s", p != NULL ? p : "", p != NULL ?
		    "\n" : "", json_string_value(note)) == -1)
			all = p;
		else
			free(p);
	}
	if (all != NULL)
		chan_say(c, jx_str(m, "_root"), all);
	free(all);
	if (json_array_size(f->attachments) > 0) {
		bad |= json_object_set(m, "_attachments", f->attachments);
		if (*text == '\0')
			bad |= json_object_set_new(m, "text",
			    json_string(FILES_NO_TEXT));
	} else if (*text == '\0') {
		log_info("channel %s: message %s has no text and no file left",
		    c->id, jx_stre(m, "id"));
		fetch_unqueue(c, m);
	}
	if (bad)
		log_warnx("channel %s: out of memory: message %s goes without "
		    "its files", c->id, jx_stre(m, "id"));
	(void)json_object_del(m, "_fetching");
	fetch_free(f);
	chan_run(c);
}

static void
files_fetched(void *arg, const struct outbound_result *r)
{
	struct fetch_file	*ff = arg;
	struct fetch		*f = ff->f;
	const char		*error = r->error;
	struct stat		 st;
	char			 shown[128], size[32];

	ff->running = 0;
	files_shown(ff->display, shown, sizeof(shown));
	if (r->ok && stat(ff->path, &st) == 0) {
		files_size((unsigned long long)st.st_size, size, sizeof(size));
		log_info("channel %s: file %s in (%s)", f->chan->id, ff->path,
		    size);
		if (json_array_append_new(f->attachments, json_pack(
		    "{s:s,s:s,s:s}", "type", "file", "path", ff->path,
		    "displayName", ff->display)) == -1)
			fetch_note(f, "⚠️ `%s` could not be attached: out of "
			    "memory", shown);
	} else {
		log_warnx("channel %s: file %s not downloaded: %s",
		    f->chan->id, ff->display, error != NULL ? error : "?");
		(void)unlink(ff->path);
		fetch_note(f, "⚠️ `%s` could not be downloaded: %s", shown,
		    error != NULL ? error : "it is gone");
	}
	if (--f->pending == 0)
		fetch_done(f);
}

/*
 * The most bytes the file may bring, or 0 (told in the channel) when it is
 * over a cap.  A size the platform said counts against the message's
 * total; one it did not say is bounded by what is left of both caps
 * while it downloads.
 */
static uint64_t
fetch_bound(struct fetch *f, const char *shown, json_int_t size,
    uint64_t *total)
{
	const struct conf_files	*cf = &conf_get()->files;
	char			 a[32], b[32];
	uint64_t		 left = cf->max_message - *total;

	if (size >= 0 && (uint64_t)size > cf->max_file) {
		files_size((unsigned long long)size, a, sizeof(a));
		files_size((unsigned long long)cf->max_file, b, sizeof(b));
		fetch_note(f, "⚠️ `%s` (%s) was not downloaded: a file may be "
		    "at most %s.", shown, a, b);
		return (0);
	}
	if ((size >= 0 && (uint64_t)size > left) || (size < 0 && left == 0)) {
		files_size((unsigned long long)(size >= 0 ? size : 0), a,
		    sizeof(a));
		files_size((unsigned long long)cf->max_message, b, sizeof(b));
		fetch_note(f, "⚠️ `%s` (%s) was not downloaded: the files of "
		    "one message may be at most %s together.", shown,
		    size >= 0 ? a : "size unknown", b);
		return (0);
	}
	*total += size >= 0 ? (uint64_t)size : 0;
	left = cf->max_file < left ? cf->max_file : left;
	return (left > 0 ? left : 1);		/* an empty file: 1 byte's room */
}

/* Start the download of one file of msg into dirfd; 0 when it runs. */
static int
fetch_start(struct fetch *f, int dirfd, const char *dir, const json_t *file,
    uint64_t *total)
{
	struct fetch_file	*ff = &f->files[f->nfiles];
	const json_t		*jn = json_object_get(file, "name");
	const char		*name = json_string_value(jn);
	char			 stored[FPATH_NAME_MAX + 1], shown[128];
	char			 err[256];
	uint64_t		 max;
	json_t			*op;
	int			 fd;

	if (name == NULL || !json_is_string(json_object_get(file, "id"))) {
		fetch_note(f, "⚠️ A file came without a name or id; it was not "
		    "downloaded.");
		return (-1);
	}
	files_shown(name, shown, sizeof(shown));
	if ((max = fetch_bound(f, shown, jx_int(file, "size", -1),
	    total)) == 0)
		return (-1);
	if ((fd = fpath_create(dirfd, name, json_string_length(jn), stored,
	    sizeof(stored), err, sizeof(err))) == -1) {
		fetch_note(f, "⚠️ `%s` was not downloaded: %s", shown, err);
		return (-1);
	}
	ff->f = f;
	if (asprintf(&ff->path, "%s/%s", dir, stored) == -1) {
		ff->path = NULL;
		goto oom;
	}
	if ((ff->display = strdup(name)) == NULL)
		goto oom;
	f->nfiles++;
	op = json_pack("{s:s,s:s,s:s,s:O,s:I}", "op", "download", "lane",
	    FILES_LANE, "channel", f->chan->id, "file", file, "max",
	    (json_int_t)max);
	if (outbound_op_fd(f->chan->bot, op, fd, files_fetched, ff) == -1) {
		(void)unlink(ff->path);
		fetch_note(f, "⚠️ `%s` was not downloaded: the bot's worker "
		    "cannot take it now", shown);
		return (-1);
	}
	ff->running = 1;
	f->pending++;
	return (0);
oom:
	(void)unlinkat(dirfd, stored, 0);
	(void)close(fd);
	free(ff->path);
	ff->path = NULL;
	fetch_note(f, "⚠️ `%s` was not downloaded: out of memory", shown);
	return (-1);
}

/* A message's files: each started, or told why not. */
static void
fetch_all(struct fetch *f, const json_t *list, const char *cwd)
{
	char		 dir[PATH_MAX], err[PATH_MAX + 64];
	const json_t	*file;
	uint64_t	 total = 0;
	size_t		 i;
	int		 dirfd;

	if (cwd == NULL || (dirfd = fpath_temp_dir(cwd, f->chan->id, dir,
	    sizeof(dir), err, sizeof(err))) == -1) {
		log_warnx("channel %s: no place for files: %s", f->chan->id,
		    cwd != NULL ? err : "no working directory");
		fetch_note(f, "⚠️ The files could not be stored: %s",
		    cwd != NULL ? err : "the channel has no working directory");
		return;
	}
	json_array_foreach(list, i, file) {
		if (i == FILES_MSG_MAX) {
			fetch_note(f, "⚠️ Only the first %d files of a message "
			    "are downloaded.", FILES_MSG_MAX);
			break;
		}
		(void)fetch_start(f, dirfd, dir, file, &total);
	}
	(void)close(dirfd);
}

int
files_inbound(struct chan *c, json_t *m, const struct chan_conf *cc)
{
	const json_t	*list = json_object_get(m, "files");
	struct fetch	*f;

	if (!json_is_array(list) || json_array_size(list) == 0)
		return (0);
	/* Anything but an answer denies a pending prompt, as upstream. */
	if (perm_pending(c))
		(void)perm_answer_first(c, 0, 0);
	if ((f = calloc(1, sizeof(*f))) == NULL ||
	    (f->attachments = json_array()) == NULL ||
	    (f->notes = json_array()) == NULL ||
	    json_object_set_new(m, "_fetching", json_true()) == -1) {
		if (f != NULL) {
			json_decref(f->attachments);
			json_decref(f->notes);
		}
		free(f);
		log_warnx("channel %s: out of memory: message %s is dropped",
		    c->id, jx_stre(m, "id"));
		return (1);
	}
	f->chan = c;
	f->msg = json_incref(m);
	TAILQ_INSERT_TAIL(&fetches, f, entry);
	/* In its place in the queue first: nothing overtakes it. */
	if (chan_enqueue(c, m) == -1) {
		fetch_free(f);
		return (1);
	}
	log_info("channel %s: message %s with %zu file(s)", c->id,
	    jx_stre(m, "id"), json_array_size(list));
	fetch_all(f, list, cc->cwd);
	if (f->pending == 0)
		fetch_done(f);
	return (1);
}

/* ------------------------------------------------------------ out */

/* "~" and "~/x" as $HOME's; NULL for a path we cannot use. */
static char *
files_expand(const char *p)
{
	const char	*home = getenv("HOME");
	char		*out;

	if (p == NULL || *p == '\0')
		return (NULL);
	if (p[0] != '~')
		return (p[0] == '/' ? strdup(p) : NULL);
	if ((p[1] != '\0' && p[1] != '/') || home == NULL || *home != '/')
		return (NULL);
	if (asprintf(&out, "%s%s", home, p + 1) == -1)
		return (NULL);
	return (out);
}

static size_t
files_roots_add(char **roots, size_t n, const json_t *list)
{
	const json_t	*v;
	size_t		 i;

	json_array_foreach(list, i, v)
		if (n < FILES_ROOTS_MAX &&
		    (roots[n] = files_expand(json_string_value(v))) != NULL)
			n++;
	return (n);
}

/* allowPaths: the config's permissions.allowPaths and the bot's workspace's. */
static size_t
files_roots(const char *bot, char **roots)
{
	const struct store_workspace	*w;
	const char			*colon = strchr(bot, ':');
	json_t				*ws;
	size_t				 n;

	n = files_roots_add(roots, 0, json_object_get(json_object_get(
	    conf_get()->root, "permissions"), "allowPaths"));
	w = store_workspace(colon != NULL ? colon + 1 : bot);
	if (w != NULL && w->allow_paths != NULL &&
	    (ws = json_loads(w->allow_paths, 0, NULL)) != NULL) {
		n = files_roots_add(roots, n, ws);
		json_decref(ws);
	}
	roots[n] = NULL;
	return (n);
}

int
files_open(struct chan *c, const json_t *path, char *real, size_t reallen,
    off_t *size, enum fpath_why *why, char *err, size_t errlen)
{
	struct chan_conf	 cc;
	char			*roots[FILES_ROOTS_MAX + 1];
	const char		*p = json_string_value(path);
	size_t			 i, n;
	int			 fd;

	*why = FPATH_NOENT;
	/* A NUL inside names no file. */
	if (p == NULL || strlen(p) != json_string_length(path))
		return (-1);
	if (conf_channel(c->id, c->bot, c->dm, &cc) == -1 || cc.cwd == NULL) {
		*why = FPATH_ERROR;
		return (util_err(err, errlen, "the channel has no working "
		    "directory"));
	}
	n = files_roots(c->bot, roots);
	fd = fpath_open_confined(cc.cwd, (const char *const *)roots, p, real,
	    reallen, size, why, err, errlen);
	for (i = 0; i < n; i++)
		free(roots[i]);
	return (fd);
}

static void
upload_free(struct upload *u)
{
	TAILQ_REMOVE(&uploads, u, entry);
	free(u->request_id);
	free(u->name);
	free(u);
}

static void
files_uploaded(void *arg, const struct outbound_result *r)
{
	struct upload	*u = arg;
	const char	*error = r->error;
	char		 text[512];

	if (r->ok)
		snprintf(text, sizeof(text), "File sent: %s", u->name);
	else
		snprintf(text, sizeof(text), "Failed to send file: %s",
		    error != NULL ? error : "unknown error");
	log_info("channel %s: send_file %s: %s", u->chan->id, u->name,
	    r->ok ? "sent" : error != NULL ? error : "failed");
	tools_answer(u->chan, u->request_id, text, NULL);
	upload_free(u);
}

/* The name the chat shows: the file's own, as valid UTF-8. */
static void
files_upload_name(const char *real, char *out, size_t len)
{
	const char	*base = strrchr(real, '/') != NULL ?
			    strrchr(real, '/') + 1 : real;

	if (utf8_valid(base, strlen(base)) && strlen(base) < len)
		snprintf(out, len, "%s", base);
	else
		fpath_sanitize(base, strlen(base), out, len);
}

/* send_file {path, message?}: upstream's texts. */
void
files_tool_send(struct chan *c, const char *request_id, const json_t *args)
{
	char		 real[PATH_MAX], err[256], name[FPATH_NAME_MAX + 1];
	char		 text[512], a[32], b[32];
	enum fpath_why	 why;
	off_t		 size;
	struct upload	*u;
	json_t		*op;
	int		 fd;

	fd = files_open(c, json_object_get(args, "path"), real, sizeof(real),
	    &size, &why, err, sizeof(err));
	if (fd == -1) {
		log_warnx("channel %s: send_file %s refused (%d%s%s)", c->id,
		    jx_stre(args, "path"), (int)why, err[0] != '\0' ? ": " : "",
		    err);
		snprintf(text, sizeof(text), "%s%s", why == FPATH_NOENT ?
		    "File not found." : why == FPATH_OUTSIDE ? "File path is "
		    "outside the allowed workspace. Only files within your "
		    "workspace can be sent." : why == FPATH_NOTREG ? "Failed "
		    "to send file: not a regular file" : "Failed to send file: ",
		    why == FPATH_ERROR ? err : "");
		tools_answer(c, request_id, text, NULL);
		return;
	}
	files_upload_name(real, name, sizeof(name));
	if ((uint64_t)size > conf_get()->files.max_file) {
		(void)close(fd);
		files_size((unsigned long long)size, a, sizeof(a));
		files_size((unsigned long long)conf_get()->files.max_file, b,
		    sizeof(b));
		snprintf(text, sizeof(text), "Failed to send file: %s is %s, "
		    "over the %s a file may be", name, a, b);
		tools_answer(c, request_id, text, NULL);
		return;
	}
	if ((u = calloc(1, sizeof(*u))) == NULL ||
	    (u->request_id = strdup(request_id)) == NULL ||
	    (u->name = strdup(name)) == NULL) {
		if (u != NULL)
			free(u->request_id);
		free(u);
		(void)close(fd);
		tools_answer(c, request_id, "Failed to send file: out of "
		    "memory", NULL);
		return;
	}
	u->chan = c;
	TAILQ_INSERT_TAIL(&uploads, u, entry);
	op = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:I}", "op", "upload", "lane",
	    FILES_LANE, "channel", c->id, "root", c->root != NULL ? c->root :
	    "", "name", name, "text", jx_stre(args, "message"), "size",
	    (json_int_t)size);
	log_info("channel %s: send_file %s (%lld bytes)", c->id, real,
	    (long long)size);
	if (outbound_op_fd(c->bot, op, fd, files_uploaded, u) == -1) {
		tools_answer(c, request_id, "Failed to send file: the bot's "
		    "worker cannot take it now", NULL);
		upload_free(u);
	}
}

/* ------------------------------------------------------------ old */

/* Add dir/.temp to roots unless it is there. */
static size_t
files_temp_add(char **roots, size_t n, size_t max, const char *dir)
{
	size_t	i;
	char	*p;

	if (dir == NULL || n == max || asprintf(&p, "%s/%s", dir,
	    FPATH_TEMP) == -1)
		return (n);
	for (i = 0; i < n; i++)
		if (strcmp(roots[i], p) == 0) {
			free(p);
			return (n);
		}
	roots[n] = p;
	return (n + 1);
}

/*
 * Every .temp files may be in: the configured channels' working
 * directories and the bots' workspaces (where DMs work).
 */
static struct fpath_sweep *
files_sweep_new(void)
{
	const struct conf	*c = conf_get();
	struct fpath_sweep	*s;
	char			**roots, *ws;
	size_t			 n = 0, i, max;

	max = c->nchans + c->nbots;
	if (max == 0)
		return (fpath_sweep_new(NULL, 0, c->files.temp_max_age_ms));
	if ((roots = calloc(max, sizeof(*roots))) == NULL)
		return (NULL);
	for (i = 0; i < c->nchans; i++)
		n = files_temp_add(roots, n, max, c->chans[i].cwd);
	for (i = 0; i < c->nbots; i++) {
		if (asprintf(&ws, "%s/workspaces/%s", c->state_dir,
		    strchr(c->bots[i].key, ':') != NULL ?
		    strchr(c->bots[i].key, ':') + 1 : c->bots[i].key) == -1)
			continue;
		n = files_temp_add(roots, n, max, ws);
		free(ws);
	}
	s = fpath_sweep_new((const char *const *)roots, n,
	    c->files.temp_max_age_ms);
	for (i = 0; i < n; i++)
		free(roots[i]);
	free(roots);
	return (s);
}

static void
files_sweep_cb(int fd, short ev, void *arg)
{
	uint64_t	every;

	if (sweep == NULL && (sweep = files_sweep_new()) == NULL) {
		log_warnx("files: out of memory: no sweep of old files now");
		files_sweep_arm(FILES_SWEEP_EVERY_MS);
		return;
	}
	if (fpath_sweep_step(sweep, FILES_SWEEP_BUDGET, &sweep_removed)) {
		files_sweep_arm(FILES_SWEEP_STEP_MS);
		return;
	}
	fpath_sweep_free(sweep);
	sweep = NULL;
	if (sweep_removed > 0)
		log_info("files: %u old temporary file(s) removed",
		    sweep_removed);
	sweep_removed = 0;
	/* Often enough that nothing outlives its age by much. */
	every = conf_get()->files.temp_max_age_ms / 4;
	files_sweep_arm(every < FILES_SWEEP_MIN_MS ? FILES_SWEEP_MIN_MS :
	    every > FILES_SWEEP_EVERY_MS ? FILES_SWEEP_EVERY_MS : every);
}

static void
files_sweep_arm(uint64_t ms)
{
	if (sweep_ev != NULL && util_timer_ms(sweep_ev, ms) == -1)
		log_warnx("files: cannot arm the sweep of old files");
}

void
files_init(struct event_base *base)
{
	files_base = base;
	showfile_init(base);
	if ((sweep_ev = evtimer_new(base, files_sweep_cb, NULL)) == NULL)
		log_warnx("files: no sweep of old files (out of memory)");
	files_sweep_arm(FILES_SWEEP_MIN_MS);
}

void
files_shutdown(void)
{
	while (!TAILQ_EMPTY(&fetches))
		fetch_free(TAILQ_FIRST(&fetches));
	while (!TAILQ_EMPTY(&uploads)) {
		outbound_forget(TAILQ_FIRST(&uploads));
		upload_free(TAILQ_FIRST(&uploads));
	}
	showfile_shutdown();
	if (sweep_ev != NULL)
		event_free(sweep_ev);
	sweep_ev = NULL;
	fpath_sweep_free(sweep);
	sweep = NULL;
}
