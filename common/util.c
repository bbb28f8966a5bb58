/*
 * util: see util.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "util.h"

uint64_t
util_now_us(void)
{
	struct timespec	ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
		return (0);
	return ((uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000);
}

uint64_t
util_now_ms(void)
{
	return (util_now_us() / 1000);
}

int
util_set_nonblock(int fd)
{
	int	fl;

	if ((fl = fcntl(fd, F_GETFL)) == -1)
		return (-1);
	if (fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
		return (-1);
	return (0);
}

int
util_set_cloexec(int fd, int on)
{
	int	fl;

	if ((fl = fcntl(fd, F_GETFD)) == -1)
		return (-1);
	fl = on ? fl | FD_CLOEXEC : fl & ~FD_CLOEXEC;
	if (fcntl(fd, F_SETFD, fl) == -1)
		return (-1);
	return (0);
}

/*
 * Read a whole regular file, NUL-terminated.  Refuses files larger than max
 * (EFBIG): a config or hooks file is small, and a huge one is a mistake.
 */
char *
util_read_file(const char *path, size_t max, size_t *len)
{
	char	*buf = NULL, *nbuf;
	size_t	 cap = 0, n = 0;
	ssize_t	 r;
	int	 fd, saved;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return (NULL);
	for (;;) {
		if (n + 1 >= cap) {
			if (cap > max) {
				errno = EFBIG;
				goto fail;
			}
			cap = cap == 0 ? 4096 : cap * 2;
			if ((nbuf = realloc(buf, cap)) == NULL)
				goto fail;
			buf = nbuf;
		}
		r = read(fd, buf + n, cap - n - 1);
		if (r == -1) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > max) {
		errno = EFBIG;
		goto fail;
	}
	close(fd);
	buf[n] = '\0';
	if (len != NULL)
		*len = n;
	return (buf);
fail:
	saved = errno;
	free(buf);
	close(fd);
	errno = saved;
	return (NULL);
}

int
util_sha256(const void *buf, size_t len, unsigned char out[32])
{
	unsigned char	md[EVP_MAX_MD_SIZE];
	unsigned int	mdlen = 0;

	if (EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != 32)
		return (-1);
	memcpy(out, md, 32);
	return (0);
}

int
util_sha256_hex(const void *buf, size_t len, char out[65])
{
	unsigned char	md[32];
	unsigned int	i;

	if (util_sha256(buf, len, md) == -1)
		return (-1);
	for (i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	return (0);
}

/*
 * The directory of the running executable.  Children are exec'd from there,
 * so an installed tree and the build tree both work without configuration,
 * and a binary replaced on disk is what the next spawn runs.
 */
int
util_exe_dir(char *buf, size_t len)
{
	ssize_t	 n;
	char	*slash;

	if (len < 2)
		return (-1);
	n = readlink("/proc/self/exe", buf, len - 1);
	if (n == -1)
		return (-1);
	if ((size_t)n >= len - 1) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	buf[n] = '\0';
	if ((slash = strrchr(buf, '/')) == NULL) {
		errno = EINVAL;
		return (-1);
	}
	*slash = '\0';
	return (0);
}

/* A regular file we may execute. */
int
util_is_exec(const char *path)
{
	struct stat	st;

	return (stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	    access(path, X_OK) == 0);
}

/*
 * name looked up in $PATH (UTIL_DEFAULT_PATH when it is unset or empty).
 * Unlike execvp(3), empty entries are skipped: a daemon's current
 * directory is no place to find programs.  The first regular executable
 * file wins; -1 if there is none.
 */
int
util_search_path(const char *name, char *out, size_t len)
{
	const char	*p = getenv("PATH"), *end;
	int		 n;

	if (p == NULL || *p == '\0')
		p = UTIL_DEFAULT_PATH;
	for (;; p = end + 1) {
		end = strchrnul(p, ':');
		if (end > p) {
			n = snprintf(out, len, "%.*s/%s", (int)(end - p), p,
			    name);
			if (n > 0 && (size_t)n < len && util_is_exec(out))
				return (0);
		}
		if (*end == '\0')
			return (-1);
	}
}

/*
 * The first 12 hex digits of the SHA-256 of our own executable: which
 * binary a process runs, so an upgrade by reload-bot can be seen.
 */
int
util_mkdir_p(const char *path, unsigned int mode)
{
	char	 tmp[PATH_MAX], *p;
	size_t	 n = strlen(path);

	if (n == 0 || n >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	memcpy(tmp, path, n + 1);
	for (p = tmp + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) == -1 && errno != EEXIST)
			return (-1);
		*p = '/';
	}
	if (mkdir(tmp, mode) == -1 && errno != EEXIST)
		return (-1);
	return (0);
}

/* A wait status in words, for logs; -1 is "unknown" (reaped elsewhere). */
void
util_wait_status(int status, char *buf, size_t len)
{
	if (status == -1)
		snprintf(buf, len, "status unknown");
	else if (WIFEXITED(status))
		snprintf(buf, len, "exit status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d", WTERMSIG(status));
	else
		snprintf(buf, len, "status 0x%x", status);
}

int
util_timer_ms(struct event *ev, uint64_t ms)
{
	struct timeval	tv;

	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000 * 1000);
	return (evtimer_add(ev, &tv));
}

int
util_err(char *err, size_t len, const char *fmt, ...)
{
	va_list	ap;

	if (err != NULL && len > 0) {
		va_start(ap, fmt);
		(void)vsnprintf(err, len, fmt, ap);
		va_end(ap);
	}
	return (-1);
}

int
util_uuid_v4(char out[37])
{
	unsigned char	b[16];
	ssize_t		n;

	n = getrandom(b, sizeof(b), GRND_NONBLOCK);
	if (n != (ssize_t)sizeof(b) && RAND_bytes(b, sizeof(b)) != 1)
		return (-1);
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5],
	    b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
	return (0);
}
