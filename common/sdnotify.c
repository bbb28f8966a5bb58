/*
 * sdnotify: send "KEY=VALUE\n..." datagrams to $NOTIFY_SOCKET, as
 * sd_notify(3) does.
 *
 * systemd reads one datagram of at most a page, and a service it never
 * hears READY=1 from after RELOADING=1 stays "reloading" for good, so the
 * state never depends on the length of the text beside it (a config error
 * can be long).
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sdnotify.h"
#include "utf8.h"

#define SD_STATE_MAX	256
#define SD_CUT		"…"

static int
sd_send(const char *path, const char *msg, size_t len)
{
	struct sockaddr_un	 sun;
	socklen_t		 slen;
	size_t			 plen = strlen(path);
	ssize_t			 r;
	int			 fd, saved;

	if ((path[0] != '/' && path[0] != '@') || plen >= sizeof(sun.sun_path)) {
		errno = EINVAL;
		return (-1);
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, plen);
	if (sun.sun_path[0] == '@')	/* abstract namespace */
		sun.sun_path[0] = '\0';
	slen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return (-1);
	r = sendto(fd, msg, len, MSG_NOSIGNAL, (struct sockaddr *)&sun, slen);
	saved = errno;
	(void)close(fd);
	errno = saved;
	return (r == -1 ? -1 : 0);
}

/* The status as one line of at most SD_STATUS_MAX bytes, in place. */
static void
sd_one_line(char *s)
{
	size_t	n, cut;
	char	*p;

	for (p = s; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	if ((n = (size_t)(p - s)) <= SD_STATUS_MAX)
		return;
	cut = utf8_cut_bytes(s, n, SD_STATUS_MAX - (sizeof(SD_CUT) - 1));
	memcpy(s + cut, SD_CUT, sizeof(SD_CUT));
}

int
sd_notify_status(const char *state, const char *fmt, ...)
{
	const char	*path;
	char		 msg[SD_STATE_MAX + SD_STATUS_MAX + 16], status[8192];
	va_list		 ap;
	int		 n;

	if ((path = getenv("NOTIFY_SOCKET")) == NULL || *path == '\0')
		return (0);
	if (strlen(state) > SD_STATE_MAX) {
		errno = EMSGSIZE;
		return (-1);
	}
	va_start(ap, fmt);
	n = vsnprintf(status, sizeof(status), fmt, ap);
	va_end(ap);
	if (n < 0)
		status[0] = '\0';
	sd_one_line(status);
	n = snprintf(msg, sizeof(msg), "%s\nSTATUS=%s", state, status);
	if (n > 0 && (size_t)n < sizeof(msg) &&
	    sd_send(path, msg, (size_t)n) == 0)
		return (0);
	return (sd_send(path, state, strlen(state)));
}
