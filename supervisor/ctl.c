/*
 * ctl: the client side of the control socket (`copilot-bridge ctl ...`).
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "common/jx.h"
#include "common/util.h"
#include "supervisor.h"

#define CTL_TIMEOUT_MS	120000	/* a reload-bot can take drain + connect */
/*
 * A reload-platform is as many swaps, a few at a time, each bounded by its
 * own timers (reconnectTimeoutMs, reloadDrainTimeoutMs): hundreds of bots
 * can take minutes.
 */
#define CTL_PLATFORM_TIMEOUT_MS	3600000

static int
ctl_usage(void)
{
	fprintf(stderr, "usage: copilot-bridge ctl [-c config] [-s socket] "
	    "status | reload | reload-bot NAME | reload-platform NAME | "
	    "reload-hooks CHANNEL | reopen-logs\n");
	return (2);
}

static int
ctl_connect(const char *path)
{
	struct sockaddr_un	sun;
	int			fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "ctl: socket path too long: %s\n", path);
		return (-1);
	}
	strcpy(sun.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		perror("ctl: socket");
		return (-1);
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		fprintf(stderr, "ctl: cannot connect to %s: %s (is the bridge "
		    "running?)\n", path, strerror(errno));
		(void)close(fd);
		return (-1);
	}
	return (fd);
}

/* Read one reply line, waiting at most timeout_ms. */
static char *
ctl_read_line(int fd, int timeout_ms)
{
	struct pollfd	 pfd = { fd, POLLIN, 0 };
	char		*buf = NULL, *nbuf;
	size_t		 len = 0, cap = 0;
	ssize_t		 n;
	uint64_t	 deadline = util_now_ms() + (uint64_t)timeout_ms;

	for (;;) {
		if (util_now_ms() >= deadline ||
		    poll(&pfd, 1, (int)(deadline - util_now_ms())) == 0) {
			fprintf(stderr, "ctl: no answer within %d s\n",
			    timeout_ms / 1000);
			break;
		}
		if (len + 4096 > cap) {
			cap = cap == 0 ? 8192 : cap * 2;
			if (cap > 16 * 1024 * 1024 ||
			    (nbuf = realloc(buf, cap)) == NULL)
				break;
			buf = nbuf;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		if (memchr(buf, '\n', len) != NULL)
			return (buf);
	}
	free(buf);
	return (NULL);
}

int
ctl_main(const char *sockpath, int argc, char *argv[])
{
	json_t		*req, *rep;
	char		*line, *reply;
	const char	*text;
	int		 fd, ok;

	if (argc < 1 || argc > 2)
		return (ctl_usage());
	if ((strcmp(argv[0], "reload-bot") == 0 ||
	    strcmp(argv[0], "reload-platform") == 0 ||
	    strcmp(argv[0], "reload-hooks") == 0) != (argc == 2))
		return (ctl_usage());
	req = json_pack("{s:s,s:s?}", "cmd", argv[0], "arg",
	    argc == 2 ? argv[1] : NULL);
	if (req == NULL || (line = json_dumps(req, JSON_COMPACT)) == NULL) {
		json_decref(req);
		return (1);
	}
	json_decref(req);
	if ((fd = ctl_connect(sockpath)) == -1) {
		free(line);
		return (1);
	}
	if (write(fd, line, strlen(line)) == -1 || write(fd, "\n", 1) == -1) {
		perror("ctl: write");
		free(line);
		(void)close(fd);
		return (1);
	}
	free(line);
	reply = ctl_read_line(fd, strcmp(argv[0], "reload-platform") == 0 ?
	    CTL_PLATFORM_TIMEOUT_MS : CTL_TIMEOUT_MS);
	(void)close(fd);
	if (reply == NULL)
		return (1);
	rep = json_loads(reply, JSON_DISABLE_EOF_CHECK, NULL);
	free(reply);
	text = jx_str(rep, "text");
	ok = jx_bool(rep, "ok", 0);
	if (text == NULL) {
		fprintf(stderr, "ctl: malformed reply\n");
		json_decref(rep);
		return (1);
	}
	fprintf(ok ? stdout : stderr, "%s%s", text,
	    text[0] != '\0' && text[strlen(text) - 1] == '\n' ? "" : "\n");
	json_decref(rep);
	return (ok ? 0 : 1);
}
