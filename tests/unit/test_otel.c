/*
 * otel: the JSON a file exporter writes (ids, parent from traceparent,
 * attributes, events, status, resource), traceparent handling, the queue
 * bound, disabled mode, reconfiguring with spans queued, shutdown, and the
 * HTTP path against tests/fakes/otlp.py (skipped without python3/aiohttp).
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <ctype.h>
#include <dirent.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <event2/event.h>
#include <jansson.h>

#include "common/log.h"
#include "common/otel.h"
#include "common/util.h"

#define TP_PARENT	"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
#define TP_TRACE	"4bf92f3577b34da6a3ce929d0e0e4736"
#define TP_SPAN		"00f067aa0ba902b7"

static struct {
	char			 tmp[64];
	char			 root[PATH_MAX];
	struct event_base	*base;
} t;

static void	fake_stop(void);

/* ------------------------------------------------------------ helpers */

static void
rm_tmp(void)
{
	DIR		*d;
	struct dirent	*de;
	char		 p[PATH_MAX];

	if ((d = opendir(t.tmp)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", t.tmp, de->d_name);
		(void)unlink(p);
	}
	(void)closedir(d);
	(void)rmdir(t.tmp);
}

static int
setup(void **state)
{
	snprintf(t.tmp, sizeof(t.tmp), "/tmp/cb-otel-XXXXXX");
	if (mkdtemp(t.tmp) == NULL || (t.base = event_base_new()) == NULL)
		return (-1);
	return (0);
}

static int
teardown(void **state)
{
	otel_shutdown(0);
	fake_stop();
	event_base_free(t.base);
	rm_tmp();
	return (0);
}

static void
path_in_tmp(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", t.tmp, name);
}

static json_t *
file_conf(const char *path)
{
	return (json_pack("{s:s, s:s, s:s}", "exporterType", "file",
	    "filePath", path, "sourceName", "unit-src"));
}

/* Every line of the file, parsed: a JSON array of requests. */
static json_t *
read_lines(const char *path)
{
	json_t	*all = json_array(), *j;
	char	*txt, *line, *save = NULL;
	size_t	 len;

	assert_non_null(all);
	if ((txt = util_read_file(path, 64 << 20, &len)) == NULL)
		return (all);
	for (line = strtok_r(txt, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		j = json_loads(line, 0, NULL);
		assert_non_null(j);
		assert_int_equal(json_array_append_new(all, j), 0);
	}
	free(txt);
	return (all);
}

/* resourceSpans[0].scopeSpans[0] of a request */
static json_t *
req_scope(json_t *req)
{
	json_t	*rs = json_array_get(json_object_get(req, "resourceSpans"), 0);

	return (json_array_get(json_object_get(rs, "scopeSpans"), 0));
}

static json_t *
req_resource(json_t *req)
{
	json_t	*rs = json_array_get(json_object_get(req, "resourceSpans"), 0);

	return (json_object_get(json_object_get(rs, "resource"), "attributes"));
}

static json_t *
req_spans(json_t *req)
{
	return (json_object_get(req_scope(req), "spans"));
}

static size_t
count_spans(json_t *lines)
{
	json_t	*req;
	size_t	 i, n = 0;

	json_array_foreach(lines, i, req)
		n += json_array_size(req_spans(req));
	return (n);
}

static json_t *
find_span(json_t *lines, const char *name)
{
	json_t	*req, *s;
	size_t	 i, k;

	json_array_foreach(lines, i, req) {
		json_array_foreach(req_spans(req), k, s) {
			if (strcmp(json_string_value(json_object_get(s, "name")),
			    name) == 0)
				return (s);
		}
	}
	return (NULL);
}

/* The value object of key in a KeyValue list. */
static json_t *
attr(json_t *list, const char *key)
{
	json_t	*kv;
	size_t	 i;

	json_array_foreach(list, i, kv) {
		if (strcmp(json_string_value(json_object_get(kv, "key")),
		    key) == 0)
			return (json_object_get(kv, "value"));
	}
	return (NULL);
}

static const char *
sval(json_t *o, const char *k)
{
	return (json_string_value(json_object_get(o, k)));
}

static int
is_hex(const char *s, size_t n)
{
	size_t	i;

	if (s == NULL || strlen(s) != n)
		return (0);
	for (i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
			return (0);
	return (strspn(s, "0") != n);
}

static void
wake(int fd, short what, void *arg)
{
}

/* Run the loop for ms, or until *cond (if given) turns true. */
static void
run_loop(int ms, int (*cond)(void))
{
	struct event	*ev = event_new(t.base, -1, EV_PERSIST, wake, NULL);
	struct timeval	 tv = { 0, 20 * 1000 };
	uint64_t	 end = util_now_ms() + (uint64_t)ms;

	assert_non_null(ev);
	assert_int_equal(event_add(ev, &tv), 0);
	while (util_now_ms() < end && (cond == NULL || !cond()))
		assert_int_not_equal(event_base_loop(t.base, EVLOOP_ONCE), -1);
	event_free(ev);
}

/* A 127.0.0.1 port nobody listens on. */
static int
closed_port(void)
{
	struct sockaddr_in	sin;
	socklen_t		len = sizeof(sin);
	int			fd, port;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	port = ntohs(sin.sin_port);
	close(fd);
	return (port);
}

static json_t *
dead_http_conf(void)
{
	char	url[64];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", closed_port());
	return (json_pack("{s:s}", "otlpEndpoint", url));
}

static void
end_n(int n, const char *name)
{
	int	i;

	for (i = 0; i < n; i++) {
		struct otel_span *s = otel_span_start(name, NULL);

		assert_non_null(s);
		otel_span_int(s, "i", i);
		otel_span_end(s);
	}
}

/* ------------------------------------------------------------ tests */

static void
test_disabled(void **state)
{
	struct otel_stats	 st;
	char			 tp[OTEL_TRACEPARENT_LEN] = "x";
	json_t			*c;

	assert_int_equal(otel_configure(t.base, NULL, "worker", NULL, 0), 0);
	assert_false(otel_enabled());
	assert_null(otel_span_start("x", NULL));
	c = json_pack("{s:s, s:b}", "sourceName", "s", "captureContent", 1);
	assert_int_equal(otel_configure(t.base, c, "worker", NULL, 0), 0);
	json_decref(c);
	assert_false(otel_enabled());
	assert_null(otel_span_start("x", TP_PARENT));
	/* Every call takes NULL. */
	otel_span_str(NULL, "k", "v");
	otel_span_int(NULL, "k", 1);
	otel_span_event(NULL, "e", "k", "v");
	otel_span_status(NULL, "err");
	assert_string_equal(otel_span_traceparent(NULL, tp), "");
	otel_span_end(NULL);
	otel_span_drop(NULL);
	otel_flush();
	otel_get_stats(&st);
	assert_true(st.queued == 0 && st.sent == 0 && st.dropped == 0);
}

static void
check_resource(json_t *req)
{
	json_t	*res = req_resource(req);
	char	 pid[24];

	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	assert_int_equal(json_array_size(json_object_get(req,
	    "resourceSpans")), 1);
	assert_string_equal(sval(attr(res, "service.name"), "stringValue"),
	    "unit-src");
	assert_string_equal(sval(attr(res, "copilot_bridge.process"),
	    "stringValue"), "worker");
	assert_string_equal(sval(attr(res, "copilot_bridge.bot"),
	    "stringValue"), "mattermost:copilot");
	assert_string_equal(sval(attr(res, "copilot_bridge.generation"),
	    "intValue"), "3");
	assert_string_equal(sval(attr(res, "process.pid"), "intValue"), pid);
	assert_string_equal(sval(json_object_get(req_scope(req), "scope"),
	    "name"), "copilot-bridge");
}

static void
check_root(json_t *s, char *tp)
{
	json_t	*a = json_object_get(s, "attributes"), *ev;
	char	 want[OTEL_TRACEPARENT_LEN];

	assert_true(is_hex(sval(s, "traceId"), 32));
	assert_true(is_hex(sval(s, "spanId"), 16));
	assert_null(json_object_get(s, "parentSpanId"));
	snprintf(want, sizeof(want), "00-%s-%s-01", sval(s, "traceId"),
	    sval(s, "spanId"));
	assert_string_equal(tp, want);
	assert_int_equal(json_integer_value(json_object_get(s, "kind")), 1);
	assert_true(strtoull(sval(s, "endTimeUnixNano"), NULL, 10) >=
	    strtoull(sval(s, "startTimeUnixNano"), NULL, 10));
	assert_true(strtoull(sval(s, "startTimeUnixNano"), NULL, 10) >
	    1600000000ULL * 1000000000ULL);
	assert_int_equal(json_array_size(a), 3);
	assert_string_equal(sval(attr(a, "bot"), "stringValue"), "second");
	assert_string_equal(sval(attr(a, "n"), "intValue"),
	    "-9223372036854775807");
	assert_string_equal(sval(attr(a, "bad"), "stringValue"), "a?b");
	ev = json_object_get(s, "events");
	assert_int_equal(json_array_size(ev), 2);
	assert_string_equal(sval(json_array_get(ev, 0), "name"), "tool.start");
	assert_string_equal(sval(attr(json_object_get(json_array_get(ev, 0),
	    "attributes"), "tool"), "stringValue"), "bash");
	assert_true(strtoull(sval(json_array_get(ev, 0), "timeUnixNano"), NULL,
	    10) >= strtoull(sval(s, "startTimeUnixNano"), NULL, 10));
	assert_null(json_object_get(json_array_get(ev, 1), "attributes"));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(s,
	    "status"), "code")), 2);
	assert_string_equal(sval(json_object_get(s, "status"), "message"),
	    "it broke");
}

static void
test_encoding(void **state)
{
	struct otel_span	*root, *child, *plain;
	struct otel_stats	 st;
	char			 path[PATH_MAX], tp[OTEL_TRACEPARENT_LEN];
	json_t			*c, *lines, *s;

	path_in_tmp(path, sizeof(path), "enc.jsonl");
	c = file_conf(path);
	assert_int_equal(otel_configure(t.base, c, "worker",
	    "mattermost:copilot", 3), 0);
	json_decref(c);
	assert_true(otel_enabled());
	root = otel_span_start("session.turn", NULL);
	assert_non_null(root);
	otel_span_str(root, "bot", "first");
	otel_span_int(root, "n", -INT64_MAX);
	otel_span_str(root, "bot", "second");	/* a later value wins */
	otel_span_str(root, "bad", "a\xff" "b");
	otel_span_event(root, "tool.start", "tool", "bash");
	otel_span_event(root, "tool.end", NULL, NULL);
	otel_span_status(root, "it broke");
	otel_span_traceparent(root, tp);
	child = otel_span_start("child", tp);
	otel_span_status(child, NULL);
	plain = otel_span_start("plain", NULL);
	otel_span_end(root);
	otel_span_end(child);
	otel_span_end(plain);
	otel_span_drop(otel_span_start("abandoned", NULL));
	otel_get_stats(&st);
	assert_int_equal(st.queued, 3);
	otel_flush();
	otel_get_stats(&st);
	assert_int_equal(st.queued, 0);
	assert_int_equal(st.sent, 3);

	lines = read_lines(path);
	assert_int_equal(json_array_size(lines), 1);
	check_resource(json_array_get(lines, 0));
	check_root(s = find_span(lines, "session.turn"), tp);
	assert_null(find_span(lines, "abandoned"));
	s = find_span(lines, "child");
	assert_non_null(s);
	assert_string_equal(sval(s, "traceId"), sval(find_span(lines,
	    "session.turn"), "traceId"));
	assert_string_equal(sval(s, "parentSpanId"), sval(find_span(lines,
	    "session.turn"), "spanId"));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(s,
	    "status"), "code")), 1);
	assert_null(json_object_get(json_object_get(s, "status"), "message"));
	s = find_span(lines, "plain");
	assert_null(json_object_get(s, "status"));	/* unset */
	assert_null(json_object_get(s, "attributes"));
	assert_string_not_equal(sval(s, "traceId"), sval(find_span(lines,
	    "session.turn"), "traceId"));
	json_decref(lines);
}

static void
test_traceparent(void **state)
{
	static const char *const bad[] = {
		"", "garbage",
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",
		"00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-zz",
	};
	struct otel_span	*s;
	char			 path[PATH_MAX], name[16];
	char			 tp[OTEL_TRACEPARENT_LEN];
	json_t			*c, *lines, *j;
	size_t			 i;

	path_in_tmp(path, sizeof(path), "tp.jsonl");
	c = file_conf(path);
	assert_int_equal(otel_configure(t.base, c, "sessiond", NULL, 0), 0);
	json_decref(c);
	s = otel_span_start("good", TP_PARENT);
	otel_span_traceparent(s, tp);
	assert_int_equal(strlen(tp), OTEL_TRACEPARENT_LEN - 1);
	assert_memory_equal(tp, "00-" TP_TRACE "-", 36);
	assert_string_equal(tp + 52, "-01");
	otel_span_end(s);
	/* A later version may carry more fields; flags 00 are fine. */
	otel_span_end(otel_span_start("v01", "01-" TP_TRACE "-" TP_SPAN
	    "-00-more"));
	for (i = 0; i < nitems(bad); i++) {
		snprintf(name, sizeof(name), "bad%zu", i);
		otel_span_end(otel_span_start(name, bad[i]));
	}
	otel_shutdown(0);
	lines = read_lines(path);
	assert_int_equal(count_spans(lines), 2 + nitems(bad));
	j = find_span(lines, "good");
	assert_string_equal(sval(j, "traceId"), TP_TRACE);
	assert_string_equal(sval(j, "parentSpanId"), TP_SPAN);
	assert_string_equal(sval(find_span(lines, "v01"), "parentSpanId"),
	    TP_SPAN);
	for (i = 0; i < nitems(bad); i++) {
		snprintf(name, sizeof(name), "bad%zu", i);
		j = find_span(lines, name);
		assert_non_null(j);
		assert_null(json_object_get(j, "parentSpanId"));
		assert_true(is_hex(sval(j, "traceId"), 32));
		assert_string_not_equal(sval(j, "traceId"), TP_TRACE);
	}
	json_decref(lines);
}

static void
test_queue_bound(void **state)
{
	struct otel_stats	 st;
	json_t			*c = dead_http_conf();

	assert_int_equal(otel_configure(t.base, c, "worker", NULL, 0), 0);
	json_decref(c);
	/* One batch goes out at BATCH_MAX; the rest queue, bounded. */
	end_n(OTEL_QUEUE_MAX + OTEL_BATCH_MAX + 100, "q");
	otel_get_stats(&st);
	assert_int_equal(st.dropped, 100);
	assert_int_equal(st.queued, OTEL_QUEUE_MAX + OTEL_BATCH_MAX);
	end_n(50, "q");
	otel_get_stats(&st);
	assert_int_equal(st.dropped, 150);
	assert_int_equal(st.queued, OTEL_QUEUE_MAX + OTEL_BATCH_MAX);
	otel_shutdown(0);
	otel_get_stats(&st);
	assert_int_equal(st.queued, 0);
	assert_int_equal(st.sent, 0);
	assert_int_equal(st.dropped, OTEL_QUEUE_MAX + OTEL_BATCH_MAX + 150);
	assert_false(otel_enabled());
}

static void
test_batching(void **state)
{
	struct otel_stats	 st;
	char			 path[PATH_MAX];
	json_t			*c, *lines;
	uint64_t		 t0;

	path_in_tmp(path, sizeof(path), "batch.jsonl");
	c = file_conf(path);
	assert_int_equal(otel_configure(t.base, c, "worker", NULL, 0), 0);
	json_decref(c);
	/* A full batch is written at once... */
	end_n(OTEL_BATCH_MAX + 1, "b");
	lines = read_lines(path);
	assert_int_equal(json_array_size(lines), 1);
	assert_int_equal(count_spans(lines), OTEL_BATCH_MAX);
	json_decref(lines);
	/* ...the rest after OTEL_BATCH_MS. */
	t0 = util_now_ms();
	run_loop(OTEL_BATCH_MS - 300, NULL);
	otel_get_stats(&st);
	assert_int_equal(st.queued, 1);
	run_loop(OTEL_BATCH_MS, NULL);
	otel_get_stats(&st);
	assert_int_equal(st.queued, 0);
	assert_int_equal(st.sent, OTEL_BATCH_MAX + 1);
	assert_true(util_now_ms() - t0 >= OTEL_BATCH_MS - 300);
	lines = read_lines(path);
	assert_int_equal(json_array_size(lines), 2);
	json_decref(lines);
}

static void
test_reconfigure_file(void **state)
{
	struct otel_stats	 st;
	char			 a[PATH_MAX], b[PATH_MAX];
	json_t			*c, *lines, *res;

	path_in_tmp(a, sizeof(a), "a.jsonl");
	path_in_tmp(b, sizeof(b), "b.jsonl");
	c = file_conf(a);
	assert_int_equal(otel_configure(t.base, c, "worker", "mm:x", 1), 0);
	json_decref(c);
	end_n(10, "old");
	c = file_conf(b);
	assert_int_equal(otel_configure(t.base, c, "worker", "mm:x", 2), 0);
	json_decref(c);
	end_n(5, "new");
	lines = read_lines(a);			/* drained at once */
	assert_int_equal(count_spans(lines), 10);
	json_decref(lines);
	otel_shutdown(1000);
	lines = read_lines(b);
	assert_int_equal(count_spans(lines), 5);
	res = req_resource(json_array_get(lines, 0));
	assert_string_equal(sval(attr(res, "copilot_bridge.generation"),
	    "intValue"), "2");
	json_decref(lines);
	otel_get_stats(&st);
	assert_int_equal(st.sent, 15);
	assert_int_equal(st.dropped, 0);
}

static int
nothing_queued(void)
{
	struct otel_stats	st;

	otel_get_stats(&st);
	return (st.queued == 0);
}

static void
test_reconfigure_http_drains(void **state)
{
	struct otel_stats	 st;
	char			 path[PATH_MAX];
	json_t			*c = dead_http_conf();
	uint64_t		 t0;

	assert_int_equal(otel_configure(t.base, c, "worker", NULL, 0), 0);
	json_decref(c);
	end_n(7, "lost");
	path_in_tmp(path, sizeof(path), "after.jsonl");
	c = file_conf(path);
	t0 = util_now_ms();
	assert_int_equal(otel_configure(t.base, c, "worker", NULL, 0), 0);
	json_decref(c);
	end_n(3, "kept");
	otel_flush();
	otel_get_stats(&st);
	assert_int_equal(st.queued, 7);		/* the old one still tries */
	assert_int_equal(st.sent, 3);
	run_loop(OTEL_FLUSH_MS + 2000, nothing_queued);
	assert_true(util_now_ms() - t0 >= OTEL_FLUSH_MS - 50);
	assert_true(util_now_ms() - t0 < OTEL_FLUSH_MS + 1500);
	otel_get_stats(&st);
	assert_int_equal(st.dropped, 7);
	assert_true(st.retries >= 1);
	assert_true(otel_enabled());
}

static void
test_shutdown_wait(void **state)
{
	struct otel_stats	 st;
	char			 path[PATH_MAX];
	json_t			*c = dead_http_conf(), *lines;
	uint64_t		 t0;

	assert_int_equal(otel_configure(t.base, c, "worker", NULL, 0), 0);
	json_decref(c);
	end_n(5, "s");
	t0 = util_now_ms();
	otel_shutdown(300);
	assert_true(util_now_ms() - t0 >= 250);
	assert_true(util_now_ms() - t0 < 1500);
	otel_get_stats(&st);
	assert_int_equal(st.dropped, 5);
	assert_int_equal(st.queued, 0);
	assert_false(otel_enabled());
	assert_null(otel_span_start("off", NULL));

	/* After shutdown, configure works again and stats restart. */
	path_in_tmp(path, sizeof(path), "again.jsonl");
	c = file_conf(path);
	assert_int_equal(otel_configure(t.base, c, "worker", NULL, 0), 0);
	json_decref(c);
	otel_get_stats(&st);
	assert_int_equal(st.dropped, 0);
	end_n(4, "again");
	otel_shutdown(0);		/* a file is written even without wait */
	lines = read_lines(path);
	assert_int_equal(count_spans(lines), 4);
	json_decref(lines);
}

static void
test_bad_file(void **state)
{
	struct otel_stats	 st;
	json_t			*c;

	c = file_conf("/nonexistent-dir/x/y.jsonl");
	assert_int_equal(otel_configure(t.base, c, "worker", NULL, 0), 0);
	json_decref(c);
	end_n(3, "nowhere");
	otel_flush();
	otel_get_stats(&st);
	assert_int_equal(st.dropped, 3);
	assert_int_equal(st.queued, 0);
}

/* ------------------------------------------------------------ HTTP */

static struct {
	pid_t	pid;
	int	port;
} fk;

static int
find_root(void)
{
	char		dir[PATH_MAX], path[PATH_MAX * 2];
	const char	*ups[] = { "..", "../..", "../../.." };
	size_t		i;

	if (util_exe_dir(dir, sizeof(dir)) == -1)
		return (-1);
	for (i = 0; i < nitems(ups); i++) {
		snprintf(path, sizeof(path), "%s/%s/tests/fakes/otlp.py", dir,
		    ups[i]);
		if (access(path, R_OK) == 0) {
			snprintf(path, sizeof(path), "%s/%s", dir, ups[i]);
			return (realpath(path, t.root) == NULL ? -1 : 0);
		}
	}
	return (-1);
}

/* Start the fake collector; 0 when it is not available (tests skip). */
static int
fake_start(void)
{
	char		 portfile[PATH_MAX], script[PATH_MAX * 2], *txt;
	uint64_t	 deadline;
	size_t		 len;

	if (find_root() == -1 || access("/usr/bin/python3", X_OK) != 0)
		return (0);
	path_in_tmp(portfile, sizeof(portfile), "fake.port");
	snprintf(script, sizeof(script), "%s/tests/fakes/otlp.py", t.root);
	if ((fk.pid = fork()) == -1)
		return (0);
	if (fk.pid == 0) {
		if (freopen("/dev/null", "w", stdout) == NULL)
			_exit(126);
		execl("/usr/bin/python3", "python3", script, "--port", "0",
		    "--port-file", portfile, (char *)NULL);
		_exit(127);
	}
	deadline = util_now_ms() + 15000;
	while (util_now_ms() < deadline && waitpid(fk.pid, NULL, WNOHANG) == 0) {
		if ((txt = util_read_file(portfile, 64, &len)) != NULL) {
			fk.port = atoi(txt);
			free(txt);
			return (fk.port > 0);
		}
		usleep(20 * 1000);
	}
	return (0);
}

static void
fake_stop(void)
{
	if (fk.pid > 0) {
		(void)kill(fk.pid, SIGTERM);
		(void)waitpid(fk.pid, NULL, 0);
	}
	fk.pid = 0;
}

static size_t
sink(char *p, size_t size, size_t n, void *arg)
{
	char	**buf = arg;
	size_t	  len = *buf != NULL ? strlen(*buf) : 0, add = size * n;
	char	 *nb;

	if ((nb = realloc(*buf, len + add + 1)) == NULL)
		return (0);
	memcpy(nb + len, p, add);
	nb[len + add] = '\0';
	*buf = nb;
	return (add);
}

/* A blocking call to the fake's control API: its JSON answer. */
static json_t *
fake_call(const char *method, const char *path, const char *body)
{
	CURL			*c = curl_easy_init();
	struct curl_slist	*h = NULL;
	char			 url[256], *buf = NULL;
	json_t			*j;

	assert_non_null(c);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/_fake%s", fk.port,
	    path);
	h = curl_slist_append(h, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	if (body != NULL)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &buf);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_cleanup(c);
	curl_slist_free_all(h);
	assert_non_null(buf);
	j = json_loads(buf, 0, NULL);
	free(buf);
	assert_non_null(j);
	return (j);
}

static json_t *
fake_spans(const char *name)
{
	char	 p[128];
	json_t	*j, *s;

	snprintf(p, sizeof(p), "/spans?name=%s", name);
	j = fake_call("GET", p, NULL);
	s = json_incref(json_object_get(j, "spans"));
	json_decref(j);
	return (s);
}

static uint64_t want_sent, want_dropped;

static int
reached(void)
{
	struct otel_stats	st;

	otel_get_stats(&st);
	return (st.sent >= want_sent && st.dropped >= want_dropped &&
	    st.queued == 0);
}

static void
http_configure(const char *authenv)
{
	char	 url[64];
	json_t	*c;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", fk.port);
	c = json_pack("{s:s, s:s}", "otlpEndpoint", url, "sourceName",
	    "unit-http");
	if (authenv != NULL)
		json_object_set_new(c, "authEnv", json_string(authenv));
	assert_int_equal(otel_configure(t.base, c, "worker", "mm:bot", 5), 0);
	json_decref(c);
}

static void
http_basic(void)
{
	struct otel_span	*root, *child;
	char			 tp[OTEL_TRACEPARENT_LEN];
	json_t			*got, *s, *st;

	root = otel_span_start("http.root", NULL);
	otel_span_str(root, "k", "v");
	otel_span_event(root, "ev", "a", "b");
	child = otel_span_start("http.child", otel_span_traceparent(root, tp));
	otel_span_status(child, "boom");
	otel_span_end(child);
	otel_span_end(root);
	want_sent = 2;
	otel_flush();
	run_loop(5000, reached);
	assert_true(reached());
	got = fake_spans("http.child");
	assert_int_equal(json_array_size(got), 1);
	s = json_array_get(got, 0);
	assert_memory_equal(sval(s, "traceId"), tp + 3, 32);
	assert_memory_equal(sval(s, "parentSpanId"), tp + 36, 16);
	assert_string_equal(sval(json_object_get(s, "resource"),
	    "copilot_bridge.bot"), "mm:bot");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(s,
	    "resource"), "copilot_bridge.generation")), 5);
	assert_string_equal(sval(json_object_get(s, "status"), "message"),
	    "boom");
	json_decref(got);
	st = fake_call("GET", "/state", NULL);
	assert_int_equal(json_array_size(json_object_get(st, "rejected")), 0);
	json_decref(st);
}

/*
 * A 429 that says how long to wait is waited for, not just the backoff
 * (500 ms): the rule every platform call follows (net_retry_after_ms()).
 */
static void
http_retry_after(void)
{
	uint64_t	t0;

	json_decref(fake_call("POST", "/fail",
	    "{\"status\":429,\"count\":1,\"retryAfter\":2}"));
	end_n(1, "http.retry-after");
	want_sent += 1;
	t0 = util_now_ms();
	otel_flush();
	run_loop(8000, reached);
	assert_true(reached());
	assert_true(util_now_ms() - t0 >= 1900);
}

static void
http_retry_and_refusal(void)
{
	struct otel_stats	st;

	json_decref(fake_call("POST", "/fail", "{\"status\":503,\"count\":1}"));
	end_n(3, "http.retry");
	want_sent += 3;
	otel_flush();
	run_loop(5000, reached);
	otel_get_stats(&st);
	assert_true(reached());
	assert_int_equal(st.retries, 1);
	json_decref(fake_call("POST", "/fail", "{\"status\":429,\"count\":1}"));
	end_n(1, "http.retry");
	want_sent += 1;
	otel_flush();
	run_loop(5000, reached);
	assert_true(reached());
	json_decref(fake_call("POST", "/fail", "{\"status\":400,\"count\":1}"));
	end_n(2, "http.refused");
	want_dropped = 2;
	otel_flush();
	run_loop(5000, reached);
	otel_get_stats(&st);
	assert_int_equal(st.dropped, 2);
	assert_int_equal(st.retries, 2);
	http_retry_after();
}

static void
http_auth(void)
{
	json_t	*got;

	json_decref(fake_call("POST", "/clear", NULL));
	json_decref(fake_call("POST", "/auth",
	    "{\"authorization\":\"Bearer unit-secret\"}"));
	setenv("OTEL_UNIT_AUTH", "Bearer unit-secret", 1);
	http_configure("OTEL_UNIT_AUTH");
	end_n(2, "http.auth");
	want_sent += 2;
	otel_flush();
	run_loop(5000, reached);
	assert_true(reached());
	got = fake_spans("http.auth");
	assert_int_equal(json_array_size(got), 2);
	json_decref(got);
	unsetenv("OTEL_UNIT_AUTH");
}

/* A daemon exits from inside a callback: shutdown cannot run the loop. */
static void
shutdown_from_callback(int fd, short what, void *arg)
{
	int	i;

	for (i = 0; i < 3; i++)
		otel_span_end(otel_span_start("http.at-exit", NULL));
	otel_shutdown(2000);
	*(int *)arg = 1;
}

static void
http_shutdown_in_callback(void)
{
	struct event	*ev;
	struct timeval	 tv = { 0, 0 };
	json_t		*got;
	int		 done = 0;

	setenv("OTEL_UNIT_AUTH", "Bearer unit-secret", 1);
	http_configure("OTEL_UNIT_AUTH");	/* the fake still wants it */
	ev = evtimer_new(t.base, shutdown_from_callback, &done);
	assert_non_null(ev);
	assert_int_equal(evtimer_add(ev, &tv), 0);
	assert_int_equal(event_base_loop(t.base, EVLOOP_ONCE), 0);
	assert_true(done);
	event_free(ev);
	got = fake_spans("http.at-exit");
	assert_int_equal(json_array_size(got), 3);
	json_decref(got);
}

static void
test_http_fake(void **state)
{
	struct otel_stats	st;

	unsetenv("http_proxy");
	unsetenv("HTTP_PROXY");
	if (!fake_start()) {
		fake_stop();
		skip();
	}
	assert_int_equal(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
	want_sent = want_dropped = 0;
	http_configure(NULL);
	http_basic();
	http_retry_and_refusal();
	http_auth();
	otel_shutdown(2000);
	otel_get_stats(&st);
	assert_int_equal(st.queued, 0);
	http_shutdown_in_callback();
	curl_global_cleanup();
	fake_stop();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_disabled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_encoding, setup, teardown),
		cmocka_unit_test_setup_teardown(test_traceparent, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_queue_bound, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_batching, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reconfigure_file, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_reconfigure_http_drains,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_shutdown_wait, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_http_fake, setup,
		    teardown),
	};

	log_set_level(LOG_LERROR);
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
