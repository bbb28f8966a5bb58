/*
 * log: see log.h.  The x-suffixed variants do not append strerror(errno),
 * as in OpenBSD's log.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static const char *const log_names[] = { "DEBUG", "INFO", "WARN", "ERROR" };

static struct {
	char		 proc[32];
	char		 bot[96];
	int		 gen;
	int		 fd;		/* 2 (stderr) or our log file */
	char		 path[PATH_MAX];
	enum log_level	 level;
} L = { "?", "-", 0, 2, "", LOG_LINFO };

void
log_init(const char *proc, const char *bot, int gen)
{
	snprintf(L.proc, sizeof(L.proc), "%s", proc);
	log_set_identity(bot, gen);
}

void
log_set_identity(const char *bot, int gen)
{
	snprintf(L.bot, sizeof(L.bot), "%s", bot != NULL ? bot : "-");
	L.gen = gen;
}

/*
 * Open dir/file for appending and make it the log.  A NULL or empty dir
 * means stderr.  On failure the previous destination stays in use, so a bad
 * logDir never silences the process.
 */
int
log_open(const char *dir, const char *file)
{
	char	path[PATH_MAX];
	int	fd, n;

	if (dir == NULL || *dir == '\0') {
		if (L.fd != 2)
			(void)close(L.fd);
		L.fd = 2;
		L.path[0] = '\0';
		return (0);
	}
	n = snprintf(path, sizeof(path), "%s/%s", dir, file);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd == -1)
		return (-1);
	if (L.fd != 2)
		(void)close(L.fd);
	L.fd = fd;
	memcpy(L.path, path, (size_t)n + 1);
	return (0);
}

/* For logrotate: the old file was renamed; start a new one at the same path. */
int
log_reopen(void)
{
	int	fd;

	if (L.path[0] == '\0')
		return (0);
	fd = open(L.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd == -1)
		return (-1);
	if (L.fd != 2)
		(void)close(L.fd);
	L.fd = fd;
	return (0);
}

const char *
log_path(void)
{
	return (L.path[0] != '\0' ? L.path : NULL);
}

void
log_set_level(enum log_level lvl)
{
	L.level = lvl;
}

enum log_level
log_get_level(void)
{
	return (L.level);
}

static const char *const log_level_names[] = { "debug", "info", "warn",
    "error" };

/* The config's name of a level ("debug", ...). */
const char *
log_level_name(enum log_level lvl)
{
	return ((size_t)lvl < sizeof(log_level_names) /
	    sizeof(log_level_names[0]) ? log_level_names[lvl] : "info");
}

int
log_parse_level(const char *s, enum log_level *out)
{
	size_t	i;

	for (i = 0; i < sizeof(log_level_names) / sizeof(log_level_names[0]);
	    i++)
		if (s != NULL && strcmp(s, log_level_names[i]) == 0) {
			*out = (enum log_level)i;
			return (0);
		}
	return (-1);
}

/* Secrets are shown by their last four characters at most. */
const char *
log_redact(const char *secret, char *buf, size_t len)
{
	size_t	n = secret != NULL ? strlen(secret) : 0;

	if (n <= 8)
		snprintf(buf, len, "****");
	else
		snprintf(buf, len, "****%s", secret + n - 4);
	return (buf);
}

/* Advance off by what snprintf reported, clamped to the buffer. */
static size_t
log_advance(size_t off, int m, size_t cap)
{
	if (m < 0)
		return (off);
	if ((size_t)m >= cap - off)
		return (cap - 1);
	return (off + (size_t)m);
}

static void	log_vwrite(enum log_level, int, const char *, va_list)
		    __attribute__((format(printf, 3, 0)));

static void
log_vwrite(enum log_level lvl, int errnum, const char *fmt, va_list ap)
{
	char		 line[8192], ts[32];
	struct timespec	 now;
	struct tm	 tm;
	size_t		 off;

	if (lvl < L.level)
		return;
	if (clock_gettime(CLOCK_REALTIME, &now) == -1)
		now.tv_sec = now.tv_nsec = 0;
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	off = log_advance(0, snprintf(line, sizeof(line),
	    "%s.%03ldZ %-5s %s[%ld] %s g%d: ", ts, now.tv_nsec / 1000000,
	    log_names[lvl], L.proc, (long)getpid(), L.bot, L.gen), sizeof(line));
	off = log_advance(off, vsnprintf(line + off, sizeof(line) - off, fmt,
	    ap), sizeof(line));
	if (errnum != 0)
		off = log_advance(off, snprintf(line + off, sizeof(line) - off,
		    ": %s", strerror(errnum)), sizeof(line));
	if (off > sizeof(line) - 2)
		off = sizeof(line) - 2;
	line[off++] = '\n';
	/* One write(2) per line: O_APPEND keeps lines whole across processes. */
	(void)!write(L.fd, line, off);
}

#define LOG_FN(name, lvl, witherr)					\
void									\
name(const char *fmt, ...)						\
{									\
	va_list	ap;							\
	int	saved = errno;						\
									\
	va_start(ap, fmt);						\
	log_vwrite(lvl, witherr ? saved : 0, fmt, ap);			\
	va_end(ap);							\
	errno = saved;							\
}

LOG_FN(log_debug, LOG_LDEBUG, 0)
LOG_FN(log_info, LOG_LINFO, 0)
LOG_FN(log_warn, LOG_LWARN, 1)
LOG_FN(log_warnx, LOG_LWARN, 0)
LOG_FN(log_error, LOG_LERROR, 1)
LOG_FN(log_errorx, LOG_LERROR, 0)

void
fatal(const char *fmt, ...)
{
	va_list	ap;
	int	saved = errno;

	va_start(ap, fmt);
	L.level = LOG_LDEBUG;
	log_vwrite(LOG_LERROR, saved, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	L.level = LOG_LDEBUG;
	log_vwrite(LOG_LERROR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}
