/*
 * backends: echo end to end, and copilot against the REAL runtime with the
 * fake LLM (tests/fakes/openai.py) as a BYOK provider, offline, in an
 * isolated HOME/COPILOT_HOME.  The copilot tests are skipped only when the
 * runtime binary is not installed (run `npm ci` in tests/).
 *
 * Every wait runs the event loop with a deadline.  BACKEND_TEST_DEBUG=1 in
 * the environment shows the backend's debug log (the runtime's stderr too).
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <event2/event.h>

#include "common/log.h"
#include "common/util.h"
#include "sessiond/backend.h"

#define TURN_MS		30000
#define OPEN_MS		30000
#define RT_REL		"tests/node_modules/@github/copilot-sdk-linux-x64/" \
			"prebuilds/linux-x64/copilot-runtime"

/* Everything a session reported. */
struct rec {
	char	 id[160];
	char	 open_error[512];
	int	 nopened;
	char	 deltas[8192];
	int	 ndeltas;
	char	 message[8192];
	int	 nmessages;
	char	 tool[128];
	char	 tool_args[512];	/* its arguments, as JSON */
	int	 ntools;
	char	 perm_id[160];
	char	 perm_kind[64];
	char	 perm_detail[512];
	int	 nperms;
	int	 nidle;
	int	 msgs_at_idle;	/* nmessages when the last idle came */
	int	 aborted;
	char	 error[512];
	int	 nerrors;
	char	 lost[512];
	int	 nlost;
	int	 after_close;	/* callbacks after close(): must stay 0 */
	int	 closed;
};

static struct event_base	*base;

static void
cpy(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src != NULL ? src : "(null)");
}

static void
ev_opened(void *arg, const char *id, const char *error)
{
	struct rec	*r = arg;

	r->after_close += r->closed;
	r->nopened++;
	if (id != NULL)
		cpy(r->id, sizeof(r->id), id);
	if (error != NULL)
		cpy(r->open_error, sizeof(r->open_error), error);
}

static void
ev_delta(void *arg, const char *text)
{
	struct rec	*r = arg;
	size_t		 n = strlen(r->deltas);

	r->after_close += r->closed;
	r->ndeltas++;
	snprintf(r->deltas + n, sizeof(r->deltas) - n, "%s", text);
}

static void
ev_message(void *arg, const char *text)
{
	struct rec	*r = arg;

	r->after_close += r->closed;
	r->nmessages++;
	cpy(r->message, sizeof(r->message), text);
}

static void
ev_tool(void *arg, const char *name, const json_t *args)
{
	struct rec	*r = arg;
	char		*s = json_dumps(args, JSON_COMPACT | JSON_SORT_KEYS);

	r->after_close += r->closed;
	r->ntools++;
	cpy(r->tool, sizeof(r->tool), name);
	cpy(r->tool_args, sizeof(r->tool_args), s != NULL ? s : "");
	free(s);
}

static void
ev_permission(void *arg, const char *id, const char *kind, const char *detail,
    const json_t *request)
{
	struct rec	*r = arg;

	r->after_close += r->closed;
	r->nperms++;
	cpy(r->perm_id, sizeof(r->perm_id), id);
	cpy(r->perm_kind, sizeof(r->perm_kind), kind);
	cpy(r->perm_detail, sizeof(r->perm_detail), detail);
}

static void
ev_idle(void *arg, int aborted)
{
	struct rec	*r = arg;

	r->after_close += r->closed;
	r->nidle++;
	r->msgs_at_idle = r->nmessages;
	r->aborted = aborted;
}

static void
ev_error(void *arg, const char *message)
{
	struct rec	*r = arg;

	r->after_close += r->closed;
	r->nerrors++;
	cpy(r->error, sizeof(r->error), message);
}

static void
ev_lost(void *arg, const char *why)
{
	struct rec	*r = arg;

	r->after_close += r->closed;
	r->nlost++;
	cpy(r->lost, sizeof(r->lost), why);
}

static const struct backend_events	events = {
	.opened = ev_opened,
	.delta = ev_delta,
	.message = ev_message,
	.tool = ev_tool,
	.permission = ev_permission,
	.idle = ev_idle,
	.error = ev_error,
	.lost = ev_lost,
};

/* Forget the turn's output, keep the session's identity. */
static void
rec_turn(struct rec *r)
{
	r->deltas[0] = r->message[0] = r->error[0] = r->tool[0] = '\0';
	r->ndeltas = r->nmessages = r->nidle = r->nerrors = r->ntools = 0;
	r->nperms = r->aborted = 0;
}

static void
tick_cb(int fd, short ev, void *arg)
{
}

/* One pass of the loop, waking up at least every 20 ms. */
static void
loop_once(void)
{
	static struct event	*t;
	struct timeval		 tv = { 0, 20 * 1000 };

	if (t == NULL)
		t = evtimer_new(base, tick_cb, NULL);
	assert_non_null(t);
	evtimer_add(t, &tv);
	event_base_loop(base, EVLOOP_ONCE);
}

/* Run the loop until cond holds or ms pass; the value of cond. */
#define RUN_UNTIL(cond, ms) __extension__ ({				\
	uint64_t _dl = util_now_ms() + (uint64_t)(ms);			\
	int _ok;							\
	while (!(_ok = (cond)) && util_now_ms() < _dl)			\
		loop_once();						\
	_ok;								\
})

static void
stopped(void *arg)
{
	*(int *)arg = 1;
}

/* stop() is asynchronous: its done() comes from the loop, within 1 s. */
static void
stop_backend(const struct backend *b)
{
	int	done = 0;

	b->stop(stopped, &done);
	assert_true(RUN_UNTIL(done, 1000));
}

static void
run_for(int ms)
{
	uint64_t	deadline = util_now_ms() + (uint64_t)ms;

	(void)RUN_UNTIL(util_now_ms() >= deadline, ms + 100);
}

/* -- echo ---------------------------------------------------------------- */

static const struct bsession_opts	echo_opts = { .channel = "chan" };

static struct bsession *
echo_open(struct rec *r, const char *id)
{
	struct bsession	*s;

	memset(r, 0, sizeof(*r));
	s = backend_echo.open(&echo_opts, id, &events, r);
	assert_non_null(s);
	assert_int_equal(r->nopened, 0);	/* never from inside open() */
	assert_true(RUN_UNTIL(r->nopened == 1, 1000));
	assert_string_equal(r->open_error, "");
	return (s);
}

static void
test_echo_turn(void **state)
{
	struct rec	 r, r2;
	struct bsession	*s, *s2;
	const char	*prompt = "Hello, wörld: three chunks please";

	assert_int_equal(backend_echo.start(base, NULL, NULL), 0);
	s = echo_open(&r, NULL);
	assert_memory_equal(r.id, "echo-chan-", 10);
	s2 = echo_open(&r2, "echo-chan-7");
	assert_string_equal(r2.id, "echo-chan-7");
	assert_string_not_equal(r.id, r2.id);

	assert_int_equal(backend_echo.send(s, prompt, 0, NULL), 0);
	assert_int_equal(r.ndeltas, 0);
	assert_true(RUN_UNTIL(r.nidle == 1, 2000));
	assert_true(r.ndeltas == 3);	/* three chunks, one per loop pass */
	assert_int_equal(r.ndeltas, 3);
	assert_string_equal(r.deltas, prompt);
	assert_int_equal(r.nmessages, 1);
	assert_string_equal(r.message, prompt);
	assert_int_equal(r.aborted, 0);
	assert_int_equal(r.nerrors, 0);
	assert_int_equal(r2.nidle, 0);

	/* Two prompts in a row: both answered, one idle. */
	rec_turn(&r);
	assert_int_equal(backend_echo.send(s, "one", 0, NULL), 0);
	assert_int_equal(backend_echo.send(s, "two", 1, NULL), 0);
	assert_true(RUN_UNTIL(r.nidle == 1, 2000));
	assert_int_equal(r.nmessages, 2);
	assert_string_equal(r.message, "two");
	assert_string_equal(r.deltas, "onetwo");
	run_for(100);
	assert_int_equal(r.nidle, 1);

	/* Close mid-turn: nothing afterwards. */
	rec_turn(&r2);
	assert_int_equal(backend_echo.send(s2, "bye bye bye", 0, NULL), 0);
	assert_true(RUN_UNTIL(r2.ndeltas == 1, 2000));
	backend_echo.close(s2);
	r2.closed = 1;
	run_for(150);
	assert_int_equal(r2.after_close, 0);

	backend_echo.close(s);
	stop_backend(&backend_echo);
}

static void
test_echo_abort(void **state)
{
	struct rec	 r;
	struct bsession	*s;

	assert_int_equal(backend_echo.start(base, NULL, NULL), 0);
	s = echo_open(&r, NULL);
	assert_int_equal(backend_echo.abort(s), 0);	/* no turn: no-op */
	run_for(50);
	assert_int_equal(r.nidle, 0);

	assert_int_equal(backend_echo.send(s, "a long answer to stop", 0, NULL), 0);
	assert_true(RUN_UNTIL(r.ndeltas == 1, 2000));
	assert_int_equal(backend_echo.abort(s), 0);
	assert_int_equal(r.nidle, 0);		/* from the loop, not abort() */
	assert_true(RUN_UNTIL(r.nidle == 1, 200));
	assert_int_equal(r.aborted, 1);
	run_for(150);
	assert_int_equal(r.ndeltas, 1);
	assert_int_equal(r.nmessages, 0);
	assert_int_equal(r.nidle, 1);

	/* Usable again. */
	rec_turn(&r);
	assert_int_equal(backend_echo.send(s, "again", 0, NULL), 0);
	assert_true(RUN_UNTIL(r.nidle == 1, 2000));
	assert_int_equal(r.aborted, 0);
	assert_string_equal(r.message, "again");
	backend_echo.close(s);
	stop_backend(&backend_echo);
}

static void
test_echo_permission(void **state)
{
	struct rec	 r;
	struct bsession	*s;
	int		 approve;

	assert_int_equal(backend_echo.start(base, NULL, NULL), 0);
	s = echo_open(&r, NULL);
	for (approve = 1; approve >= 0; approve--) {
		rec_turn(&r);
		assert_int_equal(backend_echo.send(s,
		    "/echo-permission rm -rf /tmp/x", 0, NULL), 0);
		assert_true(RUN_UNTIL(r.nperms == 1, 2000));
		assert_string_equal(r.perm_kind, "shell");
		assert_string_equal(r.perm_detail, "rm -rf /tmp/x");
		run_for(60);
		assert_int_equal(r.nidle, 0);	/* waits for the answer */
		assert_int_equal(r.ndeltas, 0);
		assert_int_equal(backend_echo.answer_permission(s, "nope", 1),
		    -1);
		assert_int_equal(backend_echo.answer_permission(s, r.perm_id,
		    approve), 0);
		assert_int_equal(backend_echo.answer_permission(s, r.perm_id,
		    approve), -1);		/* once */
		assert_true(RUN_UNTIL(r.nidle == 1, 2000));
		assert_string_equal(r.message, approve ?
		    "approved: rm -rf /tmp/x" : "denied: rm -rf /tmp/x");
		assert_string_equal(r.deltas, r.message);
		assert_int_equal(r.aborted, 0);
	}
	/* Abort while the question is open. */
	rec_turn(&r);
	assert_int_equal(backend_echo.send(s, "/echo-permission ls", 0, NULL), 0);
	assert_true(RUN_UNTIL(r.nperms == 1, 2000));
	assert_int_equal(backend_echo.abort(s), 0);
	assert_true(RUN_UNTIL(r.nidle == 1, 500));
	assert_int_equal(r.aborted, 1);
	assert_int_equal(backend_echo.answer_permission(s, r.perm_id, 1), -1);
	backend_echo.close(s);
	stop_backend(&backend_echo);
}

/* -- copilot: the real runtime and the fake LLM ---------------------------- */

static struct {
	char	 root[PATH_MAX];	/* the source tree */
	char	 runtime[PATH_MAX * 2];
	char	 tmp[PATH_MAX];
	char	 home[PATH_MAX + 16];
	char	 copilot_home[PATH_MAX + 32];
	char	 work[PATH_MAX + 16];
	pid_t	 fake_pid;
	int	 port;
	int	 ready;
} cp;

static int
find_root(void)
{
	char		dir[PATH_MAX], path[PATH_MAX * 2];
	const char	*ups[] = { "..", "../..", "../../.." };
	size_t		i;

	if (util_exe_dir(dir, sizeof(dir)) == -1)
		return (-1);
	for (i = 0; i < nitems(ups); i++) {
		snprintf(path, sizeof(path), "%s/%s/tests/fakes/openai.py", dir,
		    ups[i]);
		if (access(path, R_OK) == 0) {
			snprintf(path, sizeof(path), "%s/%s", dir, ups[i]);
			if (realpath(path, cp.root) == NULL)
				return (-1);
			return (0);
		}
	}
	return (-1);
}

static size_t
curl_sink(char *p, size_t size, size_t n, void *arg)
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

/* A request to the fake's control API; the body of the answer. */
static char *
fake_http(const char *method, const char *path, const char *body)
{
	CURL		*c = curl_easy_init();
	char		 url[256], *out = NULL;
	struct curl_slist *h = NULL;
	long		 code = 0;
	CURLcode	 rc;

	assert_non_null(c);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", cp.port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, curl_sink);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
	if (strcmp(method, "POST") == 0) {
		h = curl_slist_append(h, "Content-Type: application/json");
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body != NULL ? body : "");
	}
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	if (rc != CURLE_OK || code != 200)
		fail_msg("fake %s %s: curl %d, HTTP %ld", method, path, rc, code);
	return (out);
}

static void
fake_script(const char *json)
{
	free(fake_http("POST", "/_fake/script", json));
}

/* The last chat-completions request the fake got, as JSON text. */
static char *
fake_last_completion(int *count)
{
	char	*body = fake_http("GET", "/_fake/requests", NULL), *s = NULL;
	json_t	*j, *reqs, *r, *last = NULL;
	size_t	 i;

	j = json_loads(body, 0, NULL);
	free(body);
	assert_non_null(j);
	reqs = json_object_get(j, "requests");
	*count = 0;
	json_array_foreach(reqs, i, r) {
		const char *p = json_string_value(json_object_get(r, "path"));

		if (p != NULL && strstr(p, "/chat/completions") != NULL) {
			last = json_object_get(r, "body");
			(*count)++;
		}
	}
	if (last != NULL)
		s = json_dumps(last, JSON_COMPACT);
	json_decref(j);
	return (s);
}

static void
rm_rf(const char *path)
{
	char	cmd[PATH_MAX * 3];

	if (path[0] != '/' || strlen(path) < 8)
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", path);
}

/*
 * Set up the sandbox and the fake LLM the first time a copilot test needs
 * them.  1: ready; 0: the runtime is not installed (skip).
 */
static int	cp_setup(void);

static int
cp_init(void)
{
	static int	 tried;

	if (!tried) {
		tried = 1;
		if (cp_setup() == -1)
			fail_msg("cannot set up the copilot tests");
	}
	return (cp.ready);
}

static int
cp_setup(void)
{
	char		 portfile[PATH_MAX + 32], script[PATH_MAX * 2];
	uint64_t	 deadline;
	char		*txt;
	size_t		 len;

	if (find_root() == -1)
		return (0);
	snprintf(cp.runtime, sizeof(cp.runtime), "%s/%s", cp.root, RT_REL);
	if (access(cp.runtime, X_OK) != 0)
		return (0);			/* the tests skip */
	snprintf(cp.tmp, sizeof(cp.tmp), "/tmp/cb-backend-XXXXXX");
	if (mkdtemp(cp.tmp) == NULL)
		return (-1);
	snprintf(cp.home, sizeof(cp.home), "%s/home", cp.tmp);
	snprintf(cp.copilot_home, sizeof(cp.copilot_home), "%s/home/.copilot",
	    cp.tmp);
	snprintf(cp.work, sizeof(cp.work), "%s/work", cp.tmp);
	if (util_mkdir_p(cp.copilot_home, 0700) == -1 ||
	    util_mkdir_p(cp.work, 0700) == -1)
		return (-1);
	/* The runtime inherits our environment: isolated and offline. */
	setenv("HOME", cp.home, 1);
	setenv("COPILOT_HOME", cp.copilot_home, 1);
	setenv("COPILOT_OFFLINE", "true", 1);
	setenv("TMPDIR", cp.tmp, 1);
	unsetenv("http_proxy");
	unsetenv("https_proxy");
	unsetenv("HTTP_PROXY");
	unsetenv("HTTPS_PROXY");
	unsetenv("GITHUB_TOKEN");
	unsetenv("GH_TOKEN");
	unsetenv("COPILOT_GITHUB_TOKEN");

	snprintf(portfile, sizeof(portfile), "%s/fake.port", cp.tmp);
	snprintf(script, sizeof(script), "%s/tests/fakes/openai.py", cp.root);
	switch (cp.fake_pid = fork()) {
	case -1:
		return (-1);
	case 0:
		if (freopen("/dev/null", "w", stdout) == NULL)
			_exit(126);
		execl("/usr/bin/python3", "python3", script, "--port", "0",
		    "--port-file", portfile, (char *)NULL);
		_exit(127);
	}
	deadline = util_now_ms() + 15000;
	while (util_now_ms() < deadline) {
		if ((txt = util_read_file(portfile, 64, &len)) != NULL) {
			cp.port = atoi(txt);
			free(txt);
			break;
		}
		usleep(20 * 1000);
	}
	if (cp.port <= 0) {
		fprintf(stderr, "the fake LLM did not start\n");
		return (-1);
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	cp.ready = 1;
	return (0);
}

static int
group_teardown(void **state)
{
	int	status;

	if (cp.fake_pid > 0) {
		(void)kill(cp.fake_pid, SIGTERM);
		(void)waitpid(cp.fake_pid, &status, 0);
	}
	if (cp.tmp[0] != '\0' && getenv("BACKEND_TEST_KEEP") == NULL)
		rm_rf(cp.tmp);
	if (cp.ready)
		curl_global_cleanup();
	return (0);
}

/* After a failure: leave no runtime behind for the next test. */
static int
cp_teardown(void **state)
{
	stop_backend(&backend_copilot);
	return (0);
}

static json_t *
cp_config(void)
{
	json_t	*c = json_pack("{s:{s:s}}", "session", "runtimePath", cp.runtime);

	assert_non_null(c);
	return (c);
}

static void
cp_start(void)
{
	json_t	*c;

	if (!cp_init())
		skip();
	c = cp_config();
	assert_int_equal(backend_copilot.start(base, c, NULL), 0);
	json_decref(c);
	assert_true(copilot_runtime_pid() > 0);
}

static struct bsession *
cp_open(struct rec *r, const char *id)
{
	struct bsession_opts	 o = { .channel = "chan-test", .cwd = cp.work,
				    .model = "fake-model" };
	struct bsession		*s;
	char			 url[64];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1", cp.port);
	o.provider = json_pack("{s:s,s:s,s:s}", "type", "openai", "baseUrl",
	    url, "apiKey", "x");
	memset(r, 0, sizeof(*r));
	s = backend_copilot.open(&o, id, &events, r);
	json_decref(o.provider);		/* borrowed: the backend copies */
	assert_non_null(s);
	assert_int_equal(r->nopened, 0);
	if (!RUN_UNTIL(r->nopened == 1, OPEN_MS))
		fail_msg("no opened() within %d ms", OPEN_MS);
	if (r->open_error[0] != '\0')
		fail_msg("open failed: %s", r->open_error);
	assert_true(strlen(r->id) >= 32);
	return (s);
}

/* One turn: send, run until idle; the recorded output in r. */
static void
cp_turn(struct bsession *s, struct rec *r, const char *prompt)
{
	rec_turn(r);
	assert_int_equal(backend_copilot.send(s, prompt, 0, NULL), 0);
	if (!RUN_UNTIL(r->nidle >= 1, TURN_MS))
		fail_msg("no idle within %d ms for \"%s\"", TURN_MS, prompt);
	if (r->nerrors > 0)
		fail_msg("turn \"%s\" failed: %s", prompt, r->error);
}

static void
test_copilot_bad_path(void **state)
{
	json_t	*c = json_pack("{s:{s:s}}", "session", "runtimePath",
		    "/nonexistent/copilot-runtime");

	assert_int_equal(backend_copilot.start(base, c, NULL), -1);
	json_decref(c);
	assert_null(backend_copilot.open(&echo_opts, NULL, &events, NULL));
	stop_backend(&backend_copilot);			/* harmless when not started */

	/* No runtimePath: PATH, else the npm package next to the build. */
	if (!cp_init())
		return;
	c = json_object();
	assert_int_equal(backend_copilot.start(base, c, NULL), 0);
	json_decref(c);
	assert_true(copilot_runtime_pid() > 0);
	stop_backend(&backend_copilot);
	assert_int_equal(copilot_runtime_pid(), -1);
}

static void
test_copilot_turn(void **state)
{
	struct rec	 r;
	struct bsession	*s;
	uint64_t	 t0;
	int		 n, n0;
	char		*last;

	cp_start();
	s = cp_open(&r, NULL);

	fake_script("[{\"match\":\"hello\",\"reply\":\"Hi there, friend!\","
	    "\"chunks\":3}]");
	cp_turn(s, &r, "hello");
	assert_string_equal(r.deltas, "Hi there, friend!");
	assert_true(r.ndeltas >= 2);
	assert_int_equal(r.nmessages, 1);
	assert_string_equal(r.message, "Hi there, friend!");
	assert_int_equal(r.aborted, 0);

	/* A tool that needs permission: approved, then rejected. */
	fake_script("[{\"match\":\"run\",\"bash\":\"echo hi\"},"
	    "{\"when\":\"tool\",\"reply\":\"The tool said: {tool_result}\"}]");
	rec_turn(&r);
	assert_int_equal(backend_copilot.send(s, "run it", 0, NULL), 0);
	assert_true(RUN_UNTIL(r.nperms == 1, TURN_MS));
	assert_string_equal(r.perm_kind, "shell");
	assert_string_equal(r.perm_detail, "echo hi");
	assert_int_equal(r.ntools, 1);
	assert_string_equal(r.tool, "bash");
	assert_non_null(strstr(r.tool_args, "\"command\":\"echo hi\""));
	assert_int_equal(r.nidle, 0);
	assert_int_equal(backend_copilot.answer_permission(s, r.perm_id, 1), 0);
	assert_true(RUN_UNTIL(r.nidle == 1, TURN_MS));
	assert_int_equal(r.nerrors, 0);
	if (strncmp(r.message, "The tool said: hi", 17) != 0)
		fail_msg("approved tool: \"%s\"", r.message);

	/*
	 * A reject carries feedback, so the model is called once more with
	 * the refusal as the tool's result and the answer says so.
	 */
	free(fake_last_completion(&n0));
	rec_turn(&r);
	assert_int_equal(backend_copilot.send(s, "run it again", 0, NULL), 0);
	assert_true(RUN_UNTIL(r.nperms == 1, TURN_MS));
	assert_int_equal(backend_copilot.answer_permission(s, r.perm_id, 0), 0);
	assert_true(RUN_UNTIL(r.nidle == 1, TURN_MS));
	assert_int_equal(r.nerrors, 0);
	assert_int_equal(r.aborted, 0);
	assert_int_equal(r.ntools, 1);
	if (strstr(r.message, "rejected") == NULL ||
	    strstr(r.message, "denied in chat") == NULL)
		fail_msg("rejected tool: \"%s\"", r.message);
	free(fake_last_completion(&n));
	assert_int_equal(n, n0 + 2);
	assert_int_equal(backend_copilot.answer_permission(s, r.perm_id, 1), 0);
	run_for(200);		/* too late: logged, nothing else happens */
	assert_int_equal(r.nidle, 1);

	/* Abort mid-stream. */
	fake_script("[{\"match\":\"slow\",\"reply\":\"one two three four five\","
	    "\"chunks\":5,\"delay\":1}]");
	rec_turn(&r);
	assert_int_equal(backend_copilot.send(s, "slow please", 0, NULL), 0);
	assert_true(RUN_UNTIL(r.ndeltas >= 1, TURN_MS));
	t0 = util_now_ms();
	assert_int_equal(backend_copilot.abort(s), 0);
	assert_true(RUN_UNTIL(r.nidle == 1, 5000));
	assert_true(util_now_ms() - t0 < 3000);
	assert_int_equal(r.aborted, 1);
	assert_int_equal(r.nmessages, 0);

	/* Steering: an immediate send joins the running turn. */
	fake_script("[{\"match\":\"steer\",\"reply\":\"one two three four\","
	    "\"chunks\":4,\"delay\":0.3}]");
	rec_turn(&r);
	assert_int_equal(backend_copilot.send(s, "steer me", 0, NULL), 0);
	assert_true(RUN_UNTIL(r.ndeltas >= 1, TURN_MS));
	assert_int_equal(backend_copilot.send(s, "and mind the kumquat", 1, NULL), 0);
	assert_true(RUN_UNTIL(r.nidle == 1, TURN_MS));
	assert_int_equal(r.nerrors, 0);
	assert_int_equal(r.aborted, 0);
	last = fake_last_completion(&n);
	assert_non_null(last);
	if (strstr(last, "mind the kumquat") == NULL)
		fail_msg("steering text not seen by the model: %.300s", last);
	free(last);

	stop_backend(&backend_copilot);
	assert_int_equal(copilot_runtime_pid(), -1);
	assert_int_equal(backend_copilot.send(s, "after stop", 0, NULL), -1);
	backend_copilot.close(s);
}

/* stop() and start(): the session resumes with its history. */
static void
test_copilot_resume(void **state)
{
	struct rec	 r, r2;
	struct bsession	*s, *s2;
	char		 id[160], *last;
	int		 n;
	uint64_t	 t0;

	cp_start();
	s = cp_open(&r, NULL);
	snprintf(id, sizeof(id), "%s", r.id);
	fake_script("[{\"match\":\"banana\",\"reply\":\"Noted.\"}]");
	cp_turn(s, &r, "remember the word banana");
	assert_string_equal(r.message, "Noted.");
	t0 = util_now_ms();
	stop_backend(&backend_copilot);
	assert_true(util_now_ms() - t0 <= 3500);
	r.closed = 1;
	backend_copilot.close(s);

	cp_start();
	s = cp_open(&r, id);
	assert_string_equal(r.id, id);
	cp_turn(s, &r, "which word?");
	assert_string_equal(r.message, "echo: which word?");
	last = fake_last_completion(&n);
	assert_non_null(last);
	if (strstr(last, "remember the word banana") == NULL ||
	    strstr(last, "Noted.") == NULL)
		fail_msg("history lost: %.400s", last);
	free(last);

	/* An id the runtime does not know: a new session instead. */
	s2 = cp_open(&r2, "00000000-0000-4000-8000-000000000000");
	assert_string_not_equal(r2.id, "00000000-0000-4000-8000-000000000000");
	cp_turn(s2, &r2, "fresh");
	assert_string_equal(r2.message, "echo: fresh");
	backend_copilot.close(s2);
	backend_copilot.close(s);
	stop_backend(&backend_copilot);
}

/* kill -9: restarted, resumed; the turn in flight ends with an error. */
static void
test_copilot_crash(void **state)
{
	struct rec	 r, r2;
	struct bsession	*s, *s2;
	pid_t		 pid, pid2;
	char		*last, dir[PATH_MAX * 2];
	int		 n, sent;

	cp_start();
	s = cp_open(&r, NULL);
	s2 = cp_open(&r2, NULL);
	fake_script("[{\"match\":\"kiwi\",\"reply\":\"Kiwi noted.\"},"
	    "{\"match\":\"slow\",\"reply\":\"one two three four five\","
	    "\"chunks\":5,\"delay\":1}]");
	cp_turn(s, &r, "remember kiwi");

	/* Crash in the middle of a turn. */
	rec_turn(&r);
	assert_int_equal(backend_copilot.send(s, "slow please", 0, NULL), 0);
	assert_true(RUN_UNTIL(r.ndeltas >= 1, TURN_MS));
	pid = copilot_runtime_pid();
	assert_true(pid > 0);
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_true(RUN_UNTIL(r.nidle == 1, 5000));
	assert_int_equal(r.nerrors, 1);
	assert_string_equal(r.error, "the Copilot runtime restarted");
	assert_int_equal(r.aborted, 1);
	assert_int_equal(r2.nidle, 0);		/* it had no turn */

	/* A new runtime, and the session resumed on it. */
	assert_true(RUN_UNTIL((pid2 = copilot_runtime_pid()) > 0 && pid2 != pid,
	    10000));
	assert_int_equal(r.nlost, 0);
	assert_int_equal(r2.nlost, 0);
	rec_turn(&r);
	sent = 0;
	assert_true(RUN_UNTIL(sent || (sent = backend_copilot.send(s,
	    "what did I ask you to remember?", 0, NULL) == 0), 20000));
	assert_true(RUN_UNTIL(r.nidle == 1, TURN_MS));
	assert_int_equal(r.nerrors, 0);
	assert_int_equal(r.nlost, 0);
	last = fake_last_completion(&n);
	assert_non_null(last);
	if (strstr(last, "remember kiwi") == NULL ||
	    strstr(last, "Kiwi noted.") == NULL)
		fail_msg("history lost after the restart: %.400s", last);
	free(last);

	/* s2 never had a turn: the runtime had nothing of it, re-created. */
	assert_int_equal(r2.nlost, 0);
	cp_turn(s2, &r2, "hi from two");
	assert_string_equal(r2.message, "echo: hi from two");

	/* A session whose state vanished cannot be resumed: lost(). */
	pid = copilot_runtime_pid();
	assert_int_equal(kill(pid, SIGKILL), 0);
	snprintf(dir, sizeof(dir), "%s/session-state/%s", cp.copilot_home,
	    r2.id);
	rm_rf(dir);
	assert_true(RUN_UNTIL(r2.nlost == 1, 20000));
	assert_non_null(strstr(r2.lost, r2.id));
	assert_int_equal(r.nlost, 0);
	assert_int_equal(backend_copilot.send(s2, "gone?", 0, NULL), -1);
	backend_copilot.close(s2);

	/* The other one carries on. */
	rec_turn(&r);
	sent = 0;
	assert_true(RUN_UNTIL(sent || (sent = backend_copilot.send(s,
	    "still there?", 0, NULL) == 0), 20000));
	assert_true(RUN_UNTIL(r.nidle == 1, TURN_MS));
	assert_int_equal(r.nerrors, 0);
	assert_string_equal(r.message, "echo: still there?");
	backend_copilot.close(s);
	stop_backend(&backend_copilot);
}

/* -- copilot: protocol edge cases against a fake runtime ------------------ */

static const char	fake_runtime[] =
"#!/usr/bin/python3\n"
"# A fake Copilot runtime for the protocol edge cases (test_backend.c).\n"
"import json, os, sys\n"
"inp, out = sys.stdin.buffer, sys.stdout.buffer\n"
"def rd():\n"
"    n = None\n"
"    while True:\n"
"        line = inp.readline()\n"
"        if not line:\n"
"            sys.exit(0)\n"
"        line = line.strip()\n"
"        if not line:\n"
"            if n is None:\n"
"                continue\n"
"            break\n"
"        k, _, v = line.partition(b\":\")\n"
"        if k.strip().lower() == b\"content-length\":\n"
"            n = int(v)\n"
"    return json.loads(inp.read(n))\n"
"def wr(o):\n"
"    b = json.dumps(o).encode()\n"
"    out.write(b\"Content-Length: %d\\r\\n\\r\\n\" % len(b) + b)\n"
"    out.flush()\n"
"def reply(mid, res):\n"
"    wr({\"jsonrpc\": \"2.0\", \"id\": mid, \"result\": res})\n"
"def ev(sid, typ, data):\n"
"    wr({\"jsonrpc\": \"2.0\", \"method\": \"session.event\",\n"
"        \"params\": {\"sessionId\": sid, \"event\": {\"type\": typ, \"data\": data}}})\n"
"mode = os.environ.get(\"FAKE_RUNTIME_MODE\", \"\")\n"
"held = None\n"
"while True:\n"
"    m = rd()\n"
"    meth, mid, p = m.get(\"method\"), m.get(\"id\"), m.get(\"params\") or {}\n"
"    if meth == \"connect\":\n"
"        reply(mid, {\"ok\": True, \"protocolVersion\": 2 if mode == \"proto2\" else 3,\n"
"                    \"version\": \"fake\"})\n"
"    elif meth in (\"session.create\", \"session.resume\"):\n"
"        sid = p[\"sessionId\"]\n"
"        wr({\"jsonrpc\": \"2.0\", \"method\": \"host.event\", \"params\": {}})\n"
"        ev(sid, \"model.unknown_thing\", {\"x\": 1})\n"
"        wr({\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"hooks.invoke\",\n"
"            \"params\": {\"sessionId\": sid, \"hookType\": \"sessionStart\", \"input\": {}}})\n"
"        wr({\"jsonrpc\": \"2.0\", \"id\": 2, \"method\": \"weird.request\", \"params\": {}})\n"
"        got = {}\n"
"        while len(got) < 2:\n"
"            a = rd()\n"
"            if \"method\" not in a:\n"
"                got[a.get(\"id\")] = a\n"
"        bad = []\n"
"        if got.get(1, {}).get(\"result\") != {}:\n"
"            bad.append(\"hooks.invoke answered %r\" % got.get(1))\n"
"        if (got.get(2, {}).get(\"error\") or {}).get(\"code\") != -32601:\n"
"            bad.append(\"weird.request answered %r\" % got.get(2))\n"
"        if bad:\n"
"            wr({\"jsonrpc\": \"2.0\", \"id\": mid,\n"
"                \"error\": {\"code\": -32603, \"message\": \"; \".join(bad)}})\n"
"        else:\n"
"            reply(mid, {\"sessionId\": sid})\n"
"    elif meth == \"session.send\":\n"
"        sid, prompt = p[\"sessionId\"], p[\"prompt\"]\n"
"        if prompt == \"hold\":\n"
"            held = m\n"
"            continue\n"
"        reply(mid, {\"messageId\": \"m1\"})\n"
"        if prompt == \"garbage\":\n"
"            out.write(b\"Content-Length: nope\\r\\n\\r\\n\")\n"
"            out.flush()\n"
"            continue\n"
"        if prompt == \"exit\":\n"
"            sys.exit(3)\n"
"        if prompt == \"end-late\":\n"
"            ev(sid, \"assistant.message\", {\"messageId\": \"a\", \"content\": \"before\"})\n"
"            late = rd()\n"
"            reply(late[\"id\"], {\"messageId\": \"m3\"})\n"
"            ev(sid, \"session.idle\", {\"mode\": \"interactive\"})\n"
"            ev(sid, \"pending_messages.modified\", {})\n"
"            ev(sid, \"user.message\", {\"messageId\": \"m3\",\n"
"                \"content\": late[\"params\"][\"prompt\"]})\n"
"            ev(sid, \"assistant.message\", {\"messageId\": \"b\", \"content\": \"steered\"})\n"
"            ev(sid, \"session.idle\", {\"mode\": \"interactive\"})\n"
"            continue\n"
"        ev(sid, \"assistant.message_delta\", {\"messageId\": \"a\", \"deltaContent\": \"pa\"})\n"
"        ev(sid, \"assistant.message_delta\", {\"messageId\": \"s\", \"deltaContent\": \"SUB\",\n"
"                                            \"parentToolCallId\": \"call_9\"})\n"
"        ev(sid, \"assistant.message_delta\", {\"messageId\": \"a\", \"deltaContent\": \"rt\"})\n"
"        ev(sid, \"assistant.message\", {\"messageId\": \"a\", \"content\": \"part\"})\n"
"        ev(sid, \"tool.execution_start\", {\"toolCallId\": \"c1\", \"toolName\": \"view\",\n"
"                                         \"arguments\": {\"path\": \"/etc/hosts\"}})\n"
"        ev(sid, \"permission.requested\", {\"requestId\": \"p0\", \"resolvedByHook\": True,\n"
"            \"permissionRequest\": {\"kind\": \"read\", \"path\": \"/etc/hosts\"}})\n"
"        ev(sid, \"permission.requested\", {\"requestId\": \"p1\",\n"
"            \"permissionRequest\": {\"kind\": \"write\", \"fileName\": \"/tmp/f\\nx\"}})\n"
"        ev(sid, \"session.error\", {\"errorType\": \"query\", \"message\": \"it broke\"})\n"
"        ev(sid, \"session.idle\", {\"mode\": \"interactive\"})\n"
"        ev(sid, \"session.idle\", {\"mode\": \"interactive\"})\n"
"    elif meth == \"session.abort\":\n"
"        reply(mid, {\"success\": True})\n"
"        if held is not None:\n"
"            reply(held[\"id\"], {\"messageId\": \"m2\"})\n"
"            ev(held[\"params\"][\"sessionId\"], \"session.idle\", {\"aborted\": True})\n"
"            held = None\n"
"    elif mid is not None:\n"
"        reply(mid, {})\n";

static void
fake_start(struct rec *r, struct bsession **sp, const char *mode)
{
	char	 path[PATH_MAX * 2];
	json_t	*c;
	FILE	*f;

	if (!cp_init() || access("/usr/bin/python3", X_OK) != 0)
		skip();
	snprintf(path, sizeof(path), "%s/fake-runtime", cp.tmp);
	assert_non_null(f = fopen(path, "w"));
	assert_int_equal(fputs(fake_runtime, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, 0755), 0);
	setenv("FAKE_RUNTIME_MODE", mode, 1);
	c = json_pack("{s:{s:s}}", "session", "runtimePath", path);
	assert_int_equal(backend_copilot.start(base, c, NULL), 0);
	json_decref(c);
	memset(r, 0, sizeof(*r));
	*sp = backend_copilot.open(&echo_opts, NULL, &events, r);
	assert_non_null(*sp);
}

/* Wait for a crash to be noticed and a new runtime to come up. */
static void
wait_restart(pid_t old)
{
	pid_t	pid;

	assert_true(RUN_UNTIL((pid = copilot_runtime_pid()) > 0 && pid != old,
	    10000));
}

static void
test_copilot_protocol(void **state)
{
	struct rec	 r;
	struct bsession	*s;
	pid_t		 pid;
	int		 sent;

	fake_start(&r, &s, "");
	assert_true(RUN_UNTIL(r.nopened == 1, 5000));
	if (r.open_error[0] != '\0')
		fail_msg("open: %s", r.open_error);

	/* Mapping: sub-agent deltas and hook-resolved prompts are skipped. */
	assert_int_equal(backend_copilot.send(s, "hi", 0, NULL), 0);
	assert_true(RUN_UNTIL(r.nidle >= 1, 5000));
	run_for(100);
	assert_int_equal(r.nidle, 1);		/* the stray idle is dropped */
	assert_string_equal(r.deltas, "part");
	assert_string_equal(r.message, "part");
	assert_int_equal(r.ntools, 1);
	assert_string_equal(r.tool, "view");
	assert_string_equal(r.tool_args, "{\"path\":\"/etc/hosts\"}");
	assert_int_equal(r.nperms, 1);
	assert_string_equal(r.perm_id, "p1");
	assert_string_equal(r.perm_kind, "write");
	assert_string_equal(r.perm_detail, "/tmp/f x");
	assert_int_equal(r.nerrors, 1);
	assert_string_equal(r.error, "it broke");

	/* Replies out of order: abort's before send's. */
	rec_turn(&r);
	assert_int_equal(backend_copilot.send(s, "hold", 0, NULL), 0);
	run_for(50);
	assert_int_equal(backend_copilot.abort(s), 0);
	assert_true(RUN_UNTIL(r.nidle == 1, 5000));
	assert_int_equal(r.aborted, 1);
	assert_int_equal(r.nerrors, 0);

	/*
	 * A message that steers the turn as it ends is not taken in it: the
	 * runtime idles, then runs it; the turn goes on to its answer.
	 */
	rec_turn(&r);
	assert_int_equal(backend_copilot.send(s, "end-late", 0, NULL), 0);
	assert_true(RUN_UNTIL(r.nmessages == 1, 5000));
	assert_int_equal(backend_copilot.send(s, "and this", 1, NULL), 0);
	assert_true(RUN_UNTIL(r.nidle == 1, 5000));
	run_for(100);
	assert_int_equal(r.nidle, 1);
	assert_int_equal(r.msgs_at_idle, 2);
	assert_string_equal(r.message, "steered");

	/* Broken framing, then an exit: restarted, the session reopened. */
	pid = copilot_runtime_pid();
	rec_turn(&r);
	assert_int_equal(backend_copilot.send(s, "garbage", 0, NULL), 0);
	assert_true(RUN_UNTIL(r.nidle == 1, 5000));
	assert_string_equal(r.error, "the Copilot runtime restarted");
	assert_int_equal(r.aborted, 1);
	wait_restart(pid);
	pid = copilot_runtime_pid();
	rec_turn(&r);
	sent = 0;
	assert_true(RUN_UNTIL(sent || (sent = backend_copilot.send(s, "exit",
	    0, NULL) == 0), 5000));
	assert_true(RUN_UNTIL(r.nidle == 1, 5000));
	assert_string_equal(r.error, "the Copilot runtime restarted");
	wait_restart(pid);
	rec_turn(&r);
	sent = 0;
	assert_true(RUN_UNTIL(sent || (sent = backend_copilot.send(s, "hi",
	    0, NULL) == 0), 10000));
	assert_true(RUN_UNTIL(r.nidle == 1, 5000));
	assert_string_equal(r.message, "part");
	assert_int_equal(r.nlost, 0);
	assert_int_equal(r.nopened, 1);		/* reopened silently */
	backend_copilot.close(s);
	r.closed = 1;
	stop_backend(&backend_copilot);
	assert_int_equal(r.after_close, 0);
}

/* A runtime of the wrong protocol is never used; opens keep waiting. */
static void
test_copilot_protocol_version(void **state)
{
	struct rec	 r;
	struct bsession	*s;

	fake_start(&r, &s, "proto2");
	run_for(1500);
	assert_int_equal(r.nopened, 0);
	assert_int_equal(backend_copilot.send(s, "hi", 0, NULL), -1);
	stop_backend(&backend_copilot);
	backend_copilot.close(s);
	unsetenv("FAKE_RUNTIME_MODE");
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_echo_turn),
		cmocka_unit_test(test_echo_abort),
		cmocka_unit_test(test_echo_permission),
		cmocka_unit_test(test_copilot_bad_path),
		cmocka_unit_test_teardown(test_copilot_turn, cp_teardown),
		cmocka_unit_test_teardown(test_copilot_resume, cp_teardown),
		cmocka_unit_test_teardown(test_copilot_crash, cp_teardown),
		cmocka_unit_test_teardown(test_copilot_protocol, cp_teardown),
		cmocka_unit_test_teardown(test_copilot_protocol_version,
		    cp_teardown),
	};
	int	rc;

	(void)signal(SIGPIPE, SIG_IGN);
	log_init("test", NULL, 0);
	log_set_level(getenv("BACKEND_TEST_DEBUG") != NULL ? LOG_LDEBUG :
	    LOG_LERROR);
	if ((base = event_base_new()) == NULL)
		return (1);
	rc = cmocka_run_group_tests(tests, NULL, group_teardown);
	event_base_free(base);
	return (rc);
}
