/*
 * state: what sessiond must remember across its own restarts: each
 * channel's Copilot session id and catch-up cursor, in
 * <stateDir>/sessions.json.
 *
 * Writes are atomic (temporary file, fsync, rename, fsync of the
 * directory), so a crash leaves the old file or the new one, never half of
 * one.  They are coalesced for STATE_DELAY_MS: a burst of turns is one write.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "sessiond.h"

#define STATE_FILE	"sessions.json"
#define STATE_DELAY_MS	200
#define STATE_MAX	(16 * 1024 * 1024)

static struct {
	json_t		*root;		/* {"version":1,"channels":{id:{...}}} */
	char		 dir[PATH_MAX];
	struct event	*timer;
} S;

static json_t *
state_channels(void)
{
	return (json_object_get(S.root, "channels"));
}

static void
state_timer(int fd, short ev, void *arg)
{
	state_flush();
}

/* Load the file if there is one; a corrupt file is set aside, not fatal. */
int
state_open(struct event_base *base, const char *dir)
{
	char		 path[PATH_MAX + 32], bad[PATH_MAX + 48];
	json_error_t	 jerr;
	json_t		*root = NULL;

	snprintf(S.dir, sizeof(S.dir), "%s", dir);
	if (util_mkdir_p(dir, 0700) == -1)
		log_warn("cannot create %s", dir);
	snprintf(path, sizeof(path), "%s/%s", dir, STATE_FILE);
	if (access(path, F_OK) == 0) {
		root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
		if (!json_is_object(json_object_get(root, "channels"))) {
			snprintf(bad, sizeof(bad), "%s.corrupt", path);
			log_warnx("%s:%d:%d: %s; moved aside to %s, starting empty",
			    path, jerr.line, jerr.column, root == NULL ?
			    jerr.text : "no \"channels\" object", bad);
			(void)rename(path, bad);
			json_decref(root);
			root = NULL;
		}
	}
	if (root == NULL)
		root = json_pack("{s:i,s:{}}", "version", 1, "channels");
	if (root == NULL)
		return (-1);
	json_decref(S.root);
	S.root = root;
	if (S.timer == NULL &&
	    (S.timer = evtimer_new(base, state_timer, NULL)) == NULL)
		return (-1);
	return (0);
}

static int
state_write(const char *path, const char *text)
{
	char	tmp[PATH_MAX + 48];
	size_t	len = strlen(text), off = 0;
	ssize_t	n;
	int	fd, dfd;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) == -1)
		return (-1);
	while (off < len) {
		if ((n = write(fd, text + off, len - off)) == -1) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		off += (size_t)n;
	}
	if (fsync(fd) == -1 || close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	if (rename(tmp, path) == -1)
		return (-1);
	if ((dfd = open(S.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
		(void)fsync(dfd);
		(void)close(dfd);
	}
	return (0);
fail:
	if (fd != -1)
		(void)close(fd);
	(void)unlink(tmp);
	return (-1);
}

void
state_flush(void)
{
	char	 path[PATH_MAX + 32];
	char	*text;

	if (S.root == NULL)
		return;
	evtimer_del(S.timer);
	snprintf(path, sizeof(path), "%s/%s", S.dir, STATE_FILE);
	if ((text = json_dumps(S.root, JSON_INDENT(1) | JSON_SORT_KEYS)) == NULL) {
		log_warnx("%s: out of memory", __func__);
		return;
	}
	if (state_write(path, text) == -1)
		log_warn("cannot write %s", path);
	free(text);
}

static void
state_dirty(void)
{
	struct timeval	tv = { 0, STATE_DELAY_MS * 1000 };

	if (S.timer != NULL && !evtimer_pending(S.timer, NULL))
		evtimer_add(S.timer, &tv);
}

static json_t *
state_entry(const char *channel, int create)
{
	json_t	*e = json_object_get(state_channels(), channel);

	if (e == NULL && create && state_channels() != NULL) {
		e = json_object();
		if (json_object_set_new(state_channels(), channel, e) == -1)
			return (NULL);
	}
	return (e);
}

const char *
state_session(const char *channel)
{
	return (json_string_value(json_object_get(state_entry(channel, 0),
	    "sessionId")));
}

void
state_set_session(const char *channel, const char *bot, const char *sid)
{
	json_t	*e = state_entry(channel, 1);

	if (e == NULL || json_object_set_new(e, "sessionId", sid != NULL ?
	    json_string(sid) : json_null()) == -1 ||
	    json_object_set_new(e, "bot", json_string(bot)) == -1) {
		log_warnx("%s: out of memory", __func__);
		return;
	}
	state_dirty();
}

/* The platform time of the newest message seen in channel (catch-up). */
void
state_set_cursor(const char *channel, const char *bot, long long ms)
{
	json_t	*e = state_entry(channel, 1);

	if (e == NULL || ms <= json_integer_value(json_object_get(e, "cursor")))
		return;
	if (json_object_set_new(e, "cursor", json_integer(ms)) == -1 ||
	    json_object_set_new(e, "bot", json_string(bot)) == -1) {
		log_warnx("%s: out of memory", __func__);
		return;
	}
	state_dirty();
}

/* {channel: cursor} for bot's channels with a cursor newer than since_ms. */
json_t *
state_cursors(const char *bot, long long since_ms)
{
	json_t		*out = json_object(), *e;
	const char	*ch;
	long long	 c;

	if (out == NULL)
		return (NULL);
	json_object_foreach(state_channels(), ch, e) {
		c = json_integer_value(json_object_get(e, "cursor"));
		if (c > since_ms && json_string_value(json_object_get(e, "bot")) &&
		    strcmp(json_string_value(json_object_get(e, "bot")), bot) == 0)
			json_object_set_new(out, ch, json_integer(c));
	}
	return (out);
}

void
state_close(void)
{
	if (S.root != NULL)
		state_flush();
	if (S.timer != NULL)
		event_free(S.timer);
	json_decref(S.root);
	memset(&S, 0, sizeof(S));
}
