/*
 * pollwatch: see pollwatch.h.
 *
 * One snapshot per watch: the path's own stat and, for a directory, its
 * entries sorted by name.  A poll takes a new snapshot, reports what
 * differs, and keeps the new one.
 */
#include <sys/stat.h>
#include <sys/vfs.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "log.h"
#include "pollwatch.h"
#include "util.h"

struct pollw_ent {
	char		*name;
	struct stat	 st;
	int		 ok;		/* st is valid (it may vanish meanwhile) */
};

struct pollw_snap {
	struct stat	 self;
	int		 exists;
	struct pollw_ent *ents;		/* a directory's, sorted by name */
	size_t		 nents;
};

struct pollwatch {
	struct event	*timer;
	char		*path;
	int		 interval_ms;
	int		 burst;		/* fast polls left after a change */
	int		 failing;	/* the last poll failed (logged once) */
	pollwatch_cb	 cb;
	void		*arg;
	struct pollw_snap snap;
};

/*
 * File systems where a change need not pass through this kernel's VFS, so
 * inotify may never hear of it (statfs(2) f_type values, linux/magic.h and
 * the file systems' own sources).
 */
static const struct {
	uint32_t	 magic;
	const char	*name;
} pollw_remote[] = {
	{ 0x00006969, "NFS" },
	{ 0x0000517b, "SMB" },
	{ 0xff534d42, "CIFS" },
	{ 0xfe534d42, "SMB2" },
	{ 0x794c7630, "overlay" },
	{ 0x65735546, "FUSE" },
	{ 0x01021997, "9p" },
	{ 0x00c36400, "Ceph" },
	{ 0x5346414f, "AFS" },
	{ 0x6b414653, "kAFS" },
	{ 0x73757245, "Coda" },
	{ 0x01161970, "GFS2" },
	{ 0x7461636f, "OCFS2" },
	{ 0x0bd00bd0, "Lustre" },
	{ 0x47504653, "GPFS" },
	{ 0x786f4256, "vboxsf" },
	{ 0x13661366, "OrangeFS" },
};

static const char *const pollw_modes[] = {
	[POLLWATCH_AUTO] = "auto",
	[POLLWATCH_INOTIFY] = "inotify",
	[POLLWATCH_POLL] = "poll",
};

int
pollwatch_changed(const struct stat *was, const struct stat *now)
{
	if (was->st_dev != now->st_dev || was->st_ino != now->st_ino ||
	    (was->st_mode & S_IFMT) != (now->st_mode & S_IFMT))
		return (1);
	if (S_ISDIR(now->st_mode))
		return (0);
	return (was->st_size != now->st_size ||
	    was->st_mtim.tv_sec != now->st_mtim.tv_sec ||
	    was->st_mtim.tv_nsec != now->st_mtim.tv_nsec ||
	    was->st_ctim.tv_sec != now->st_ctim.tv_sec ||
	    was->st_ctim.tv_nsec != now->st_ctim.tv_nsec);
}

static void
pollw_ents_free(struct pollw_ent *v, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		free(v[i].name);
	free(v);
}

static int
pollw_ent_cmp(const void *a, const void *b)
{
	return (strcmp(((const struct pollw_ent *)a)->name,
	    ((const struct pollw_ent *)b)->name));
}

/* The entry's target, or the link itself when it dangles. */
static void
pollw_stat_at(int dfd, struct pollw_ent *e)
{
	e->ok = fstatat(dfd, e->name, &e->st, 0) == 0 ||
	    fstatat(dfd, e->name, &e->st, AT_SYMLINK_NOFOLLOW) == 0;
	if (!e->ok)
		memset(&e->st, 0, sizeof(e->st));
}

static int
pollw_push(struct pollw_snap *s, size_t *cap, int dfd, const char *name)
{
	struct pollw_ent	*nv;
	size_t			 ncap;

	if (s->nents == *cap) {
		ncap = *cap == 0 ? 16 : *cap * 2;
		if ((nv = reallocarray(s->ents, ncap, sizeof(*nv))) == NULL)
			return (-1);
		s->ents = nv;
		*cap = ncap;
	}
	if ((s->ents[s->nents].name = strdup(name)) == NULL)
		return (-1);
	pollw_stat_at(dfd, &s->ents[s->nents++]);
	return (0);
}

/* A directory's entries into s, sorted; -1 (errno set) on failure. */
static int
pollw_scan(const char *path, struct pollw_snap *s)
{
	DIR		*d;
	struct dirent	*de;
	size_t		 cap = 0;
	int		 saved;

	if ((d = opendir(path)) == NULL)
		return (-1);
	for (;;) {
		errno = 0;
		if ((de = readdir(d)) == NULL)
			break;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (pollw_push(s, &cap, dirfd(d), de->d_name) == -1)
			break;
	}
	saved = errno;
	(void)closedir(d);
	if (saved != 0) {
		pollw_ents_free(s->ents, s->nents);
		s->ents = NULL;
		s->nents = 0;
		errno = saved;
		return (-1);
	}
	qsort(s->ents, s->nents, sizeof(*s->ents), pollw_ent_cmp);
	return (0);
}

/* What path is now; -1 (errno set) when it cannot be told. */
static int
pollw_snap_take(const char *path, struct pollw_snap *s)
{
	memset(s, 0, sizeof(*s));
	if (stat(path, &s->self) == -1) {
		if (errno != ENOENT && errno != ENOTDIR)
			return (-1);
		return (0);	/* absent: a state like any other */
	}
	s->exists = 1;
	if (!S_ISDIR(s->self.st_mode))
		return (0);
	/* Gone between stat and opendir: absent, seen so at the next poll. */
	if (pollw_scan(path, s) == -1 && errno != ENOENT && errno != ENOTDIR)
		return (-1);
	return (0);
}

static int
pollw_ent_changed(const struct pollw_ent *a, const struct pollw_ent *b)
{
	return (a->ok != b->ok || (b->ok && pollwatch_changed(&a->st, &b->st)));
}

static int
pollw_report(struct pollwatch *pw, const char *name)
{
	pw->cb(name, pw->arg);
	return (1);
}

/* Report each entry added, removed or changed between o and n. */
static int
pollw_diff_ents(struct pollwatch *pw, const struct pollw_snap *o,
    const struct pollw_snap *n)
{
	size_t	i = 0, j = 0;
	int	c, hits = 0;

	while (i < o->nents || j < n->nents) {
		if (i == o->nents)
			c = 1;
		else if (j == n->nents)
			c = -1;
		else
			c = strcmp(o->ents[i].name, n->ents[j].name);
		if (c < 0)
			hits += pollw_report(pw, o->ents[i++].name);
		else if (c > 0)
			hits += pollw_report(pw, n->ents[j++].name);
		else {
			if (pollw_ent_changed(&o->ents[i], &n->ents[j]))
				hits += pollw_report(pw, n->ents[j].name);
			i++;
			j++;
		}
	}
	return (hits);
}

int
pollwatch_check(struct pollwatch *pw)
{
	struct pollw_snap	 n;
	int			 hits = 0;

	if (pollw_snap_take(pw->path, &n) == -1)
		return (-1);
	if (n.exists != pw->snap.exists ||
	    (n.exists && pollwatch_changed(&pw->snap.self, &n.self)))
		hits += pollw_report(pw, NULL);
	hits += pollw_diff_ents(pw, &pw->snap, &n);
	pollw_ents_free(pw->snap.ents, pw->snap.nents);
	pw->snap = n;
	return (hits);
}

static void
pollw_tick(int fd, short what, void *arg)
{
	struct pollwatch	*pw = arg;
	int			 n;

	if ((n = pollwatch_check(pw)) == -1 && !pw->failing)
		log_warn("cannot poll %s", pw->path);
	pw->failing = n == -1;
	if (n > 0)
		pw->burst = POLLWATCH_BURST_N;
	else if (pw->burst > 0)
		pw->burst--;
	if (util_timer_ms(pw->timer, pw->burst > 0 ? POLLWATCH_BURST_MS :
	    (uint64_t)pw->interval_ms) == -1)
		log_warnx("cannot arm the poll timer of %s: no longer polled",
		    pw->path);
}

struct pollwatch *
pollwatch_new(struct event_base *base, const char *path, int interval_ms,
    pollwatch_cb cb, void *arg)
{
	struct pollwatch	*pw;

	if ((pw = calloc(1, sizeof(*pw))) == NULL)
		return (NULL);
	pw->interval_ms = interval_ms;
	pw->cb = cb;
	pw->arg = arg;
	if ((pw->path = strdup(path)) == NULL ||
	    (pw->timer = evtimer_new(base, pollw_tick, pw)) == NULL) {
		pollwatch_free(pw);
		errno = ENOMEM;
		return (NULL);
	}
	if (pollw_snap_take(path, &pw->snap) == -1) {
		pollwatch_free(pw);
		return (NULL);
	}
	if (util_timer_ms(pw->timer, (uint64_t)interval_ms) == -1) {
		pollwatch_free(pw);
		errno = ENOMEM;
		return (NULL);
	}
	return (pw);
}

void
pollwatch_free(struct pollwatch *pw)
{
	int	saved = errno;

	if (pw == NULL)
		return;
	if (pw->timer != NULL)
		event_free(pw->timer);
	pollw_ents_free(pw->snap.ents, pw->snap.nents);
	free(pw->path);
	free(pw);
	errno = saved;
}

int
pollwatch_mode_parse(const char *s, enum pollwatch_mode *m)
{
	size_t	i;

	for (i = 0; s != NULL && i < nitems(pollw_modes); i++)
		if (strcmp(s, pollw_modes[i]) == 0) {
			*m = (enum pollwatch_mode)i;
			return (0);
		}
	return (-1);
}

const char *
pollwatch_mode_name(enum pollwatch_mode m)
{
	return ((size_t)m < nitems(pollw_modes) ? pollw_modes[m] : "?");
}

int
pollwatch_wanted(enum pollwatch_mode m, const char *path, char *why,
    size_t len)
{
	struct statfs	sf;
	size_t		i;

	if (m == POLLWATCH_POLL) {
		snprintf(why, len, "watch is \"poll\"");
		return (1);
	}
	/* statfs failing: inotify_add_watch will say why, and then we poll. */
	if (m == POLLWATCH_INOTIFY || statfs(path, &sf) == -1)
		return (0);
	for (i = 0; i < nitems(pollw_remote); i++)
		if ((uint32_t)sf.f_type == pollw_remote[i].magic) {
			snprintf(why, len, "%s file system", pollw_remote[i].name);
			return (1);
		}
	return (0);
}
