/*
 * sdnotify: what systemd's notify socket receives, through a real socket.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/sdnotify.h"
#include "common/utf8.h"

static int	sock = -1;
static char	path[108];

static int
setup(void **state)
{
	struct sockaddr_un	sun;
	struct timeval		tv = { 5, 0 };

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(path, sizeof(path), "/tmp/test-sdnotify-%ld.sock",
	    (long)getpid());
	(void)unlink(path);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if ((sock = socket(AF_UNIX, SOCK_DGRAM, 0)) == -1 ||
	    bind(sock, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1)
		return (-1);
	return (setenv("NOTIFY_SOCKET", path, 1));
}

static int
teardown(void **state)
{
	(void)close(sock);
	(void)unlink(path);
	return (unsetenv("NOTIFY_SOCKET"));
}

static char *
recv_msg(void)
{
	static char	buf[65536];
	ssize_t		n;

	n = recv(sock, buf, sizeof(buf) - 1, 0);
	assert_true(n > 0);
	buf[n] = '\0';
	return (buf);
}

static void
test_short(void **state)
{
	assert_int_equal(sd_notify_status("READY=1", "running, config %.8s",
	    "0123456789abcdef"), 0);
	assert_string_equal(recv_msg(), "READY=1\nSTATUS=running, config "
	    "01234567");
}

/*
 * A 4 KiB error of many lines and multi-byte characters: the state arrives
 * whole, the status on one line, cut on a character boundary.
 */
static void
test_long_status(void **state)
{
	char		 err[4097], *m, *st;
	size_t		 i;

	for (i = 0; i + 3 <= 4096; i += 3)
		memcpy(err + i, i % 300 == 0 ? "\n\xc3\xa9" : "\xe2\x82\xac", 3);
	err[i] = '\0';
	assert_int_equal(sd_notify_status("READY=1", "config reload failed: "
	    "%s", err), 0);
	m = recv_msg();
	assert_true(strncmp(m, "READY=1\nSTATUS=config reload failed: ",
	    37) == 0);
	st = m + strlen("READY=1\nSTATUS=");
	assert_null(strchr(st, '\n'));
	assert_true(strlen(st) <= SD_STATUS_MAX);
	assert_true(strlen(st) > SD_STATUS_MAX - 8);
	assert_true(utf8_valid(st, strlen(st)));
	assert_string_equal(st + strlen(st) - 3, "…");
}

static void
test_state_lines(void **state)
{
	assert_int_equal(sd_notify_status("RELOADING=1\nMONOTONIC_USEC=42",
	    "reloading config (%s)", "ctl reload"), 0);
	assert_string_equal(recv_msg(), "RELOADING=1\nMONOTONIC_USEC=42\n"
	    "STATUS=reloading config (ctl reload)");
}

/* Not under systemd: nothing to do, and no error. */
static void
test_no_socket(void **state)
{
	assert_int_equal(unsetenv("NOTIFY_SOCKET"), 0);
	assert_int_equal(sd_notify_status("READY=1", "x"), 0);
	assert_int_equal(setenv("NOTIFY_SOCKET", "relative", 1), 0);
	assert_int_equal(sd_notify_status("READY=1", "x"), -1);
	assert_int_equal(errno, EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_short, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_status, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_state_lines, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_no_socket, setup,
		    teardown),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
