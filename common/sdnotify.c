/*
 * sdnotify: send "KEY=VALUE\n..." datagrams to $NOTIFY_SOCKET, as
 * sd_notify(3) does.  Without NOTIFY_SOCKET (not under systemd) it is a
 * no-op, so callers never check whether they run under systemd.
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

int
sd_notifyf(const char *fmt, ...)
{
	struct sockaddr_un	 sun;
	const char		*path;
	char			 msg[512];
	va_list			 ap;
	socklen_t		 slen;
	size_t			 plen;
	int			 fd, n, saved;
	ssize_t			 r;

	if ((path = getenv("NOTIFY_SOCKET")) == NULL || *path == '\0')
		return (0);
	plen = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || plen >= sizeof(sun.sun_path)) {
		errno = EINVAL;
		return (-1);
	}
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(msg)) {
		errno = EMSGSIZE;
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
	r = sendto(fd, msg, (size_t)n, MSG_NOSIGNAL, (struct sockaddr *)&sun, slen);
	saved = errno;
	(void)close(fd);
	errno = saved;
	return (r == -1 ? -1 : 0);
}
