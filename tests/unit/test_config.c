/*
 * Unit tests for common/config.c: validation texts, defaults, the diff
 * classes (upstream's reload tests plus the SC-004 reclassification), the
 * worker view, the /reload config reply and the two upstream quirk fixes.
 *
 * Configs are written with single quotes for readability; parse_q() turns
 * them into JSON.  variant() derives a config from another by setting or
 * deleting dotted paths, so each reload test shows only what it edits.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/config.h"
#include "supervisor/supervisor.h"
#include "common/utf8.h"
#include "common/util.h"

static char		*arena[64];
static size_t		 narena;
static struct cfg	*T_o, *T_n;
static struct cfg_diff	*T_d;

static const char *
keep(char *s)
{
	assert_non_null(s);
	assert_true(narena < nitems(arena));
	arena[narena++] = s;
	return (s);
}

static int
teardown(void **state)
{
	while (narena > 0)
		free(arena[--narena]);
	cfg_diff_free(T_d);
	cfg_free(T_o);
	cfg_free(T_n);
	T_d = NULL;
	T_o = T_n = NULL;
	return (0);
}

/* Single quotes to double quotes (no test text needs an apostrophe). */
static char *
dq_raw(const char *s)
{
	char	*d, *p;

	d = strdup(s);
	assert_non_null(d);
	for (p = d; *p != '\0'; p++)
		if (*p == '\'')
			*p = '"';
	return (d);
}

static const char *
dq(const char *s)
{
	return (keep(dq_raw(s)));
}

static struct cfg *
parse_q(const char *sq)
{
	char		 err[CFG_ERR_MAX];
	const char	*js = dq(sq);
	struct cfg	*c;

	c = cfg_parse(js, strlen(js), "test.json", err, sizeof(err));
	if (c == NULL)
		fail_msg("parse failed: %s\n  input: %s", err, js);
	return (c);
}

static const char *
parse_err(const char *sq)
{
	static char	 err[CFG_ERR_MAX];
	char		*js = dq_raw(sq);
	struct cfg	*c;

	strcpy(err, "(none)");
	c = cfg_parse(js, strlen(js), "test.json", err, sizeof(err));
	if (c != NULL) {
		cfg_free(c);
		fail_msg("parse unexpectedly succeeded: %s", js);
	}
	free(js);
	return (err);
}

/* Walk to the parent of the last dotted segment, creating objects. */
static json_t *
walk(json_t *j, char *path, char **last)
{
	char	*dot, *seg = path;
	json_t	*next;

	while ((dot = strchr(seg, '.')) != NULL) {
		*dot = '\0';
		if (json_is_array(j))
			next = json_array_get(j, (size_t)atoi(seg));
		else if ((next = json_object_get(j, seg)) == NULL) {
			next = json_object();
			json_object_set_new(j, seg, next);
		}
		j = next;
		seg = dot + 1;
	}
	*last = seg;
	return (j);
}

/*
 * base with each (path, single-quoted JSON value) applied; a NULL value
 * deletes the key.  Ends with a NULL path.
 */
static const char *
variant(const char *base, ...)
{
	va_list		 ap;
	json_error_t	 je;
	json_t		*root, *parent, *val;
	const char	*path, *v;
	char		*p, *last;

	root = json_loads(dq(base), 0, &je);
	assert_non_null(root);
	va_start(ap, base);
	while ((path = va_arg(ap, const char *)) != NULL) {
		v = va_arg(ap, const char *);
		p = strdup(path);
		parent = walk(root, p, &last);
		assert_non_null(parent);
		if (v == NULL)
			json_object_del(parent, last);
		else {
			val = json_loads(dq(v), JSON_DECODE_ANY, &je);
			assert_non_null(val);
			if (json_is_array(parent) &&
			    (size_t)atoi(last) >= json_array_size(parent))
				json_array_append_new(parent, val);
			else if (json_is_array(parent))
				json_array_set_new(parent, (size_t)atoi(last),
				    val);
			else
				json_object_set_new(parent, last, val);
		}
		free(p);
	}
	va_end(ap);
	p = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	return (keep(p));
}

static struct cfg_diff *
diff_q(const char *a, const char *b)
{
	T_o = parse_q(a);
	T_n = parse_q(b);
	T_d = cfg_diff(T_o, T_n);
	assert_non_null(T_d);
	return (T_d);
}

static void
show_list(const char *what, const struct cfg_strlist *sl)
{
	size_t	i;

	print_message("%s (%zu):\n", what, sl->n);
	for (i = 0; i < sl->n; i++)
		print_message("  [%s]\n", sl->v[i]);
}

/* The list is exactly the given strings, in order; NULL-terminated. */
static void
assert_list(const struct cfg_strlist *sl, ...)
{
	va_list		 ap;
	const char	*want;
	size_t		 i = 0;
	int		 ok = 1;

	va_start(ap, sl);
	while ((want = va_arg(ap, const char *)) != NULL) {
		if (i >= sl->n || strcmp(sl->v[i], want) != 0) {
			print_message("want [%s] at %zu\n", want, i);
			ok = 0;
		}
		i++;
	}
	va_end(ap);
	if (i != sl->n)
		ok = 0;
	if (!ok) {
		show_list("got", sl);
		fail();
	}
}

static const struct cfg_botreload *
only_bot(const struct cfg_diff *d, const char *key)
{
	if (d->nbots != 1)
		fail_msg("want one bot reload (%s), got %zu", key, d->nbots);
	assert_string_equal(d->bots[0].key, key);
	return (&d->bots[0]);
}

#define BASE								\
	"{'platforms':{'mattermost':{'url':'https://chat.example.com',"	\
	"'bots':{'copilot':{'token':'tok1','admin':true}}}},"		\
	"'channels':[{'id':'ch1','platform':'mattermost','bot':'copilot',"\
	"'workingDirectory':'/tmp','triggerMode':'mention',"		\
	"'verbose':false}]}"

#define SLACK								\
	"{'platforms':{'slack':{'bots':{'sb':{'token':'xoxb-1',"	\
	"'appToken':'xapp-1'}}}}}"

/* ------------------------------------------------------------ parsing */

static void
test_defaults(void **state)
{
	struct cfg	*c;
	char		 want[PATH_MAX];
	size_t		 i;

	setenv("HOME", "/home/tester", 1);
	c = T_o = parse_q(BASE);
	assert_int_equal(c->drain_timeout_ms, 10000);
	assert_int_equal(c->reconnect_timeout_ms, 10000);
	assert_int_equal(c->auto_reload_bots, 0);
	assert_int_equal(c->platform_concurrency, 4);
	assert_int_equal(c->watch_mode, POLLWATCH_AUTO);
	assert_int_equal(c->watch_interval_ms, 1000);
	assert_int_equal(c->log_level, LOG_LINFO);
	assert_string_equal(c->state_dir, "/home/tester/.copilot-bridge");
	assert_null(c->log_dir);
	snprintf(want, sizeof(want), "%s/control.sock", c->state_dir);
	assert_string_equal(c->control_socket, want);
	assert_string_equal(c->path, "test.json");
	assert_true(json_is_array(c->grace));
	assert_int_equal(json_array_size(c->grace), 0);
	assert_int_equal(strlen(c->hash), 64);
	for (i = 0; i < 64; i++)
		assert_non_null(strchr("0123456789abcdef", c->hash[i]));
	assert_int_equal(c->nbots, 1);
	assert_string_equal(c->bots[0].key, "mattermost:copilot");
	assert_int_equal(c->bots[0].admin, 1);
	assert_int_equal(c->bots[0].has_adapter, 1);
	assert_null(c->bots[0].app_token);
}

static void
test_new_keys(void **state)
{
	struct cfg	*c;

	setenv("HOME", "/home/tester", 1);
	c = T_o = parse_q(variant(BASE,
	    "reloadDrainTimeoutMs", "5000", "reconnectTimeoutMs", "600000",
	    "autoReloadBots", "true", "logLevel", "'debug'",
	    "reloadPlatformConcurrency", "1000",
	    "watch", "'poll'", "watchIntervalMs", "250",
	    "stateDir", "'~/state'", "logDir", "'/var/log/cb'",
	    "session", "{'backend':'echo','runtimePath':'/opt/rt'}", NULL));
	assert_int_equal(c->drain_timeout_ms, 5000);
	assert_int_equal(c->reconnect_timeout_ms, 600000);
	assert_int_equal(c->auto_reload_bots, 1);
	assert_int_equal(c->platform_concurrency, 1000);
	assert_int_equal(c->watch_mode, POLLWATCH_POLL);
	assert_int_equal(c->watch_interval_ms, 250);
	assert_int_equal(c->log_level, LOG_LDEBUG);
	assert_string_equal(c->state_dir, "/home/tester/state");
	assert_string_equal(c->log_dir, "/var/log/cb");
	assert_string_equal(c->control_socket,
	    "/home/tester/state/control.sock");
	T_n = parse_q(variant(BASE, "controlSocket", "'~'",
	    "reloadDrainTimeoutMs", "1.0", NULL));
	assert_string_equal(T_n->control_socket, "/home/tester");
	assert_int_equal(T_n->drain_timeout_ms, 1);
}

static void
test_bots_order(void **state)
{
	struct cfg	*c;

	c = T_o = parse_q("{'platforms':{"
	    "'zulip':{'url':'https://z/','botToken':'zt'},"
	    "'slack':{'bots':{'y':{'token':'b2','appToken':'a2'},"
	    "'x':{'token':'b1','appToken':'a1','admin':1}}},"
	    "'mattermost':{'url':'https://mm//','bots':{'b':{'token':'t2'},"
	    "'a':{'token':'t1'}}}}}");
	assert_int_equal(c->nbots, 5);
	assert_string_equal(c->bots[0].key, "mattermost:a");
	assert_string_equal(c->bots[1].key, "mattermost:b");
	assert_string_equal(c->bots[2].key, "slack:x");
	assert_string_equal(c->bots[3].key, "slack:y");
	assert_string_equal(c->bots[4].key, "zulip:default");
	assert_string_equal(c->bots[0].url, "https://mm");
	assert_string_equal(c->bots[0].token, "t1");
	assert_null(c->bots[2].url);
	assert_string_equal(c->bots[2].app_token, "a1");
	assert_int_equal(c->bots[2].admin, 1);
	assert_int_equal(c->bots[3].admin, 0);
	assert_int_equal(c->bots[2].has_adapter, 1);
	assert_int_equal(c->bots[4].has_adapter, 0);
	assert_string_equal(c->bots[4].name, "default");
	assert_string_equal(c->bots[4].token, "zt");
	assert_string_equal(c->bots[4].url, "https://z");
	assert_ptr_equal(cfg_find_bot(c, "slack:y"), &c->bots[3]);
	assert_null(cfg_find_bot(c, "slack"));
	assert_null(cfg_find_bot(c, "y"));
}

static void
test_accepted_shapes(void **state)
{
	struct cfg	*c;

	/* Non-array channels become [], unknown keys are ignored. */
	c = T_o = parse_q("{'platforms':{'mattermost':{'url':'u','bots':{}}},"
	    "'channels':'nope','_comment':1,'interAgent':false,"
	    "'database':false,'defaults':7,'permissions':{'allow':['read']}}");
	assert_int_equal(c->nbots, 0);
	assert_true(json_is_array(json_object_get(c->root, "channels")));
	assert_int_equal(json_array_size(json_object_get(c->root, "channels")),
	    0);
	/* A platform other than mattermost/slack passes, as upstream. */
	T_n = parse_q("{'platforms':{'discord':{'url':'u','botToken':'t'}},"
	    "'channels':[{'id':'c','platform':'discord','bot':'any',"
	    "'workingDirectory':'/w'}],'database':{'module':'m'}}");
	assert_int_equal(T_n->nbots, 1);
	assert_int_equal(T_n->bots[0].has_adapter, 0);
}

static void
test_access_normalised(void **state)
{
	struct cfg	*c;
	json_t		*u;
	char		*s;

	c = T_o = parse_q("{'platforms':{'mattermost':{'url':'u',"
	    "'access':{'mode':'allowlist','users':['  @alice ','bob','@']},"
	    "'admins':[' @root'],"
	    "'bots':{'a':{'token':'t','access':{'mode':'open',"
	    "'users':['\\u00a0@carol\\t']},'admins':['@dave']}}}}}");
	u = json_object_get(json_object_get(json_object_get(json_object_get(
	    c->root, "platforms"), "mattermost"), "access"), "users");
	s = json_dumps(u, JSON_COMPACT);
	assert_string_equal(s, "[\"alice\",\"bob\",\"\"]");
	free(s);
	s = json_dumps(json_object_get(c->root, "platforms"),
	    JSON_COMPACT | JSON_SORT_KEYS);
	assert_non_null(strstr(s, "\"users\":[\"carol\"]"));
	assert_non_null(strstr(s, "\"admins\":[\"root\"]"));
	assert_non_null(strstr(s, "\"admins\":[\"dave\"]"));
	free(s);
}

/* Every validation text upstream gives (docs/configuration.md), then ours. */
#define P_MM	"'platforms':{'mattermost':{'url':'https://x','bots':{'a':{'token':'t'}}}}"
#define PROV(x)	"{" P_MM ",'providers':{'p':" x "}}"

static const struct {
	const char	*in;
	const char	*want;
} bad_cases[] = {
	{ "{}", "Config must have a \"platforms\" object" },
	{ "{'platforms':[]}", "Config must have a \"platforms\" object" },
	{ "{'platforms':null}", "Config must have a \"platforms\" object" },
	{ "[]", "Config must have a \"platforms\" object" },
	{ "42", "Config must have a \"platforms\" object" },
	{ "{'platforms':{'slack':{}}}",
	    "Platform \"slack\" requires \"bots\" with bot tokens" },
	{ "{'platforms':{'slack':{'bots':{'b':{}}}}}",
	    "Platform \"slack\" bot \"b\" missing \"token\"" },
	{ "{'platforms':{'slack':{'bots':{'b':{'token':'x'}}}}}",
	    "Platform \"slack\" bot \"b\" missing \"appToken\" (required for "
	    "Socket Mode)" },
	{ "{'platforms':{'mattermost':{'botToken':'x'}}}",
	    "Platform \"mattermost\" missing \"url\"" },
	{ "{'platforms':{'mattermost':{'url':'','botToken':'x'}}}",
	    "Platform \"mattermost\" missing \"url\"" },
	{ "{'platforms':{'mattermost':null}}",
	    "Platform \"mattermost\" missing \"url\"" },
	{ "{'platforms':{'mattermost':{'url':'https://x'}}}",
	    "Platform \"mattermost\" needs either \"botToken\" or \"bots\"" },
	{ "{'platforms':{'mattermost':{'url':'https://x','bots':{'a':{}}}}}",
	    "Platform \"mattermost\" bot \"a\" missing \"token\"" },
	{ "{'platforms':{'mattermost':{'url':'u','botToken':'t','access':'x'}}}",
	    "mattermost:(platform) access must be an object" },
	{ "{'platforms':{'mattermost':{'url':'u','botToken':'t',"
	    "'access':{'mode':'bad'}}}}",
	    "mattermost:(platform) access.mode must be one of: allowlist, "
	    "blocklist, open" },
	{ "{'platforms':{'mattermost':{'url':'u','botToken':'t',"
	    "'access':[]}}}",
	    "mattermost:(platform) access.mode must be one of: allowlist, "
	    "blocklist, open" },
	{ "{'platforms':{'mattermost':{'url':'u','bots':{'a':{'token':'t',"
	    "'access':{'mode':'open','users':'x'}}}}}}",
	    "mattermost:a access.users must be an array" },
	{ "{'platforms':{'mattermost':{'url':'u','bots':{'a':{'token':'t',"
	    "'access':{'mode':'open','users':[' ']}}}}}}",
	    "mattermost:a access.users entries must be non-empty strings" },
	{ "{'platforms':{'slack':{'access':{'mode':'open','users':[1]},"
	    "'bots':{'b':{'token':'x','appToken':'y'}}}}}",
	    "slack:(platform) access.users entries must be non-empty strings" },
	{ "{" P_MM ",'channels':[{}]}", "Each channel must have an \"id\"" },
	{ "{" P_MM ",'channels':[{'id':''}]}",
	    "Each channel must have an \"id\"" },
	{ "{" P_MM ",'channels':[{'id':'c'}]}",
	    "Channel \"c\" missing \"platform\"" },
	{ "{" P_MM ",'channels':[{'id':'c','platform':'mattermost'}]}",
	    "Channel \"c\" missing \"workingDirectory\"" },
	{ "{" P_MM ",'channels':[{'id':'c','platform':'discord',"
	    "'workingDirectory':'/w'}]}",
	    "Channel \"c\" references unknown platform \"discord\"" },
	{ "{'platforms':{'mattermost':{'url':'u','bots':{'b':{'token':'1'},"
	    "'a':{'token':'2'}}}},'channels':[{'id':'c','platform':'mattermost',"
	    "'workingDirectory':'/w','bot':'z'}]}",
	    "Channel \"c\" references unknown bot \"z\" (available: b, a)" },
	{ "{" P_MM ",'logLevel':'verbose'}",
	    "logLevel must be one of: debug, info, warn, error" },
	{ "{" P_MM ",'logLevel':null}",
	    "logLevel must be one of: debug, info, warn, error" },
	{ "{" P_MM ",'interAgent':{'enabled':'yes'}}",
	    "interAgent.enabled must be a boolean" },
	{ "{" P_MM ",'interAgent':true}",
	    "interAgent.enabled must be a boolean" },
	{ "{" P_MM ",'interAgent':{'enabled':false,'defaultTimeout':-5}}",
	    "interAgent.defaultTimeout must be a positive number" },
	{ "{" P_MM ",'interAgent':{'enabled':false,'maxTimeout':0}}",
	    "interAgent.maxTimeout must be a positive number" },
	{ "{" P_MM ",'interAgent':{'enabled':false,'maxDepth':1.5}}",
	    "interAgent.maxDepth must be a positive integer" },
	{ "{" P_MM ",'interAgent':{'enabled':false,'allow':[]}}",
	    "interAgent.allow must be an object mapping bot names to "
	    "permissions" },
	{ "{" P_MM ",'interAgent':{'enabled':true,'allow':{'a':"
	    "{'canCall':'x'}}}}", "interAgent.allow.a.canCall must be an array" },
	{ "{" P_MM ",'interAgent':{'enabled':true,'allow':{'a':"
	    "{'canBeCalledBy':{}}}}}",
	    "interAgent.allow.a.canBeCalledBy must be an array" },
	/* permissions: common/policy.c's texts (docs/configuration.md). */
	{ "{" P_MM ",'permissions':[]}", "permissions must be an object" },
	{ "{" P_MM ",'permissions':{'deny':'shell(rm)'}}",
	    "permissions.deny must be an array of strings" },
	{ "{" P_MM ",'permissions':{'allow':['read',7]}}",
	    "permissions.allow[1] must be a string" },
	{ "{" P_MM ",'permissions':{'deny':['shell(']}}",
	    "permissions.deny[0] \"shell(\": no closing \")\"" },
	{ "{" P_MM ",'permissions':{'allow':['read','shell(git)',"
	    "'shell(ls; rm)']}}", "permissions.allow[2] \"shell(ls; rm)\": "
	    "shell() takes one simple command, without ; | & ( ) < > or "
	    "substitutions" },
	{ "{" P_MM ",'permissions':{'allowUrls':['*.x.com']}}",
	    "permissions.allowUrls[0] \"*.x.com\": not a host name (a host "
	    "covers its subdomains; no port, path or *)" },
	{ "{" P_MM ",'permissions':{'allowPaths':['srv/x']}}",
	    "permissions.allowPaths[0] \"srv/x\": the path must be absolute "
	    "(or ~/..., with a home directory)" },
	{ "{" P_MM ",'providers':[]}",
	    "\"providers\" must be an object mapping provider names to configs" },
	{ "{" P_MM ",'providers':{'a b':{}}}",
	    "Provider name \"a b\" is invalid \xe2\x80\x94 must be non-empty and "
	    "cannot contain ':' or whitespace" },
	{ "{" P_MM ",'providers':{'a:b':{}}}",
	    "Provider name \"a:b\" is invalid \xe2\x80\x94 must be non-empty and "
	    "cannot contain ':' or whitespace" },
	{ "{" P_MM ",'providers':{'':{}}}",
	    "Provider name \"\" is invalid \xe2\x80\x94 must be non-empty and "
	    "cannot contain ':' or whitespace" },
	{ PROV("1"), "Provider \"p\" must be an object" },
	{ PROV("{'type':'x'}"),
	    "Provider \"p\" type must be one of: openai, azure, anthropic" },
	{ PROV("{}"), "Provider \"p\" requires a \"baseUrl\" string" },
	{ PROV("{'baseUrl':'u','models':[]}"),
	    "Provider \"p\" requires a non-empty \"models\" array" },
	{ PROV("{'baseUrl':'u','models':[{}]}"),
	    "Provider \"p\" models entries must have a string \"id\"" },
	{ PROV("{'baseUrl':'u','models':[{'id':'m','contextWindow':0}]}"),
	    "Provider \"p\" model \"m\" contextWindow must be a positive "
	    "integer" },
	{ PROV("{'baseUrl':'u','models':[{'id':'m','wireApi':'x'}]}"),
	    "Provider \"p\" model \"m\" wireApi must be \"completions\" or "
	    "\"responses\"" },
	{ PROV("{'baseUrl':'u','models':[{'id':'m'}],'apiKeyEnv':5}"),
	    "Provider \"p\" apiKeyEnv must be a string" },
	{ PROV("{'baseUrl':'u','models':[{'id':'m'}],'azure':'x'}"),
	    "Provider \"p\" azure must be an object" },
	{ PROV("{'baseUrl':'u','models':[{'id':'m'}],'azure':{'apiVersion':1}}"),
	    "Provider \"p\" azure.apiVersion must be a string" },
	{ PROV("{'baseUrl':'u','models':[{'id':'m'}],'wireApi':'x'}"),
	    "Provider \"p\" wireApi must be \"completions\" or \"responses\"" },
	{ "{" P_MM ",'logging':'x'}", "\"logging\" must be an object" },
	{ "{" P_MM ",'logging':{'maxSize':100}}",
	    "logging.maxSize must be a number >= 1024 (bytes)" },
	{ "{" P_MM ",'logging':{'maxFiles':-1}}",
	    "logging.maxFiles must be a non-negative integer" },
	{ "{" P_MM ",'logging':{'compress':'yes'}}",
	    "logging.compress must be a boolean" },
	{ "{" P_MM ",'telemetry':[]}", "\"telemetry\" must be an object" },
	{ "{" P_MM ",'telemetry':{'otlpEndpoint':1}}",
	    "telemetry.otlpEndpoint must be a string" },
	{ "{" P_MM ",'telemetry':{'exporterType':'grpc'}}",
	    "telemetry.exporterType must be \"otlp-http\" or \"file\"" },
	{ "{" P_MM ",'telemetry':{'filePath':1}}",
	    "telemetry.filePath must be a string" },
	{ "{" P_MM ",'telemetry':{'sourceName':1}}",
	    "telemetry.sourceName must be a string" },
	{ "{" P_MM ",'telemetry':{'captureContent':'no'}}",
	    "telemetry.captureContent must be a boolean" },
	{ "{" P_MM ",'telemetry':{'authEnv':1}}",
	    "telemetry.authEnv must be a string (env var name)" },
	{ "{" P_MM ",'memory':1}", "\"memory\" must be an object" },
	{ "{" P_MM ",'memory':{'tier':3}}", "memory.tier must be 0, 1, or 2" },
	{ "{" P_MM ",'memory':{'cloudMemory':'x'}}",
	    "memory.cloudMemory must be a boolean" },
	{ "{" P_MM ",'memory':{'consolidation':null}}",
	    "memory.consolidation must be an object" },
	{ "{" P_MM ",'memory':{'consolidation':{'model':1}}}",
	    "memory.consolidation.model must be a string" },
	{ "{" P_MM ",'memory':{'consolidation':{'idleMinutes':-1}}}",
	    "memory.consolidation.idleMinutes must be a non-negative number" },
	{ "{" P_MM ",'database':{'x':1}}",
	    "database.module must be a string when database config is present" },
	{ "{" P_MM ",'database':'sqlite'}",
	    "database.module must be a string when database config is present" },
	/* New keys (docs/configuration.md, "New keys"). */
	{ "{" P_MM ",'reloadDrainTimeoutMs':0}",
	    "reloadDrainTimeoutMs must be an integer between 1 and 600000 "
	    "(milliseconds)" },
	{ "{" P_MM ",'reloadDrainTimeoutMs':600001}",
	    "reloadDrainTimeoutMs must be an integer between 1 and 600000 "
	    "(milliseconds)" },
	{ "{" P_MM ",'reloadDrainTimeoutMs':'10'}",
	    "reloadDrainTimeoutMs must be an integer between 1 and 600000 "
	    "(milliseconds)" },
	{ "{" P_MM ",'reconnectTimeoutMs':1.5}",
	    "reconnectTimeoutMs must be an integer between 1 and 600000 "
	    "(milliseconds)" },
	{ "{" P_MM ",'autoReloadBots':'yes'}",
	    "autoReloadBots must be a boolean" },
	{ "{" P_MM ",'reloadPlatformConcurrency':0}",
	    "reloadPlatformConcurrency must be an integer between 1 and 1000" },
	{ "{" P_MM ",'reloadPlatformConcurrency':1001}",
	    "reloadPlatformConcurrency must be an integer between 1 and 1000" },
	{ "{" P_MM ",'reloadPlatformConcurrency':2.5}",
	    "reloadPlatformConcurrency must be an integer between 1 and 1000" },
	{ "{" P_MM ",'reloadPlatformConcurrency':'4'}",
	    "reloadPlatformConcurrency must be an integer between 1 and 1000" },
	{ "{" P_MM ",'watch':'fanotify'}",
	    "watch must be one of: auto, inotify, poll" },
	{ "{" P_MM ",'watch':true}",
	    "watch must be one of: auto, inotify, poll" },
	{ "{" P_MM ",'watchIntervalMs':99}",
	    "watchIntervalMs must be an integer between 100 and 600000 "
	    "(milliseconds)" },
	{ "{" P_MM ",'watchIntervalMs':600001}",
	    "watchIntervalMs must be an integer between 100 and 600000 "
	    "(milliseconds)" },
	{ "{" P_MM ",'watchIntervalMs':'1000'}",
	    "watchIntervalMs must be an integer between 100 and 600000 "
	    "(milliseconds)" },
	{ "{'platforms':{'mattermost':{'url':'u','botToken':'t','admins':'x'}}}",
	    "mattermost:(platform) admins must be an array of non-empty strings" },
	{ "{'platforms':{'mattermost':{'url':'u','bots':{'a':{'token':'t',"
	    "'admins':['']}}}}}",
	    "mattermost:a admins must be an array of non-empty strings" },
	{ "{" P_MM ",'session':'x'}", "\"session\" must be an object" },
	{ "{" P_MM ",'session':{'backend':'foo'}}",
	    "session.backend must be \"copilot\" or \"echo\"" },
	{ "{" P_MM ",'session':{'runtimePath':1}}",
	    "session.runtimePath must be a non-empty string" },
	{ "{" P_MM ",'files':[]}", "\"files\" must be an object" },
	{ "{" P_MM ",'files':{'maxFileMiB':0}}",
	    "files.maxFileMiB must be a number above 0 and at most 4096" },
	{ "{" P_MM ",'files':{'maxFileMiB':'20'}}",
	    "files.maxFileMiB must be a number above 0 and at most 4096" },
	{ "{" P_MM ",'files':{'maxFileMiB':4097}}",
	    "files.maxFileMiB must be a number above 0 and at most 4096" },
	{ "{" P_MM ",'files':{'maxMessageMiB':-1}}",
	    "files.maxMessageMiB must be a number above 0 and at most 4096" },
	{ "{" P_MM ",'files':{'tempMaxAgeHours':0}}",
	    "files.tempMaxAgeHours must be a number above 0 and at most 8760" },
	{ "{" P_MM ",'files':{'tempMaxAgeHours':true}}",
	    "files.tempMaxAgeHours must be a number above 0 and at most 8760" },
	{ "{" P_MM ",'stateDir':''}", "stateDir must be a non-empty string" },
	{ "{" P_MM ",'logDir':1}", "logDir must be a non-empty string" },
	{ "{" P_MM ",'controlSocket':null}",
	    "controlSocket must be a non-empty string" },
	{ "{'platforms':{'slack':{'apiUrl':1,'bots':{'b':{'token':'x',"
	    "'appToken':'y'}}}}}",
	    "Platform \"slack\" apiUrl must be a non-empty string" },
	/* Values upstream would crash on or pass to an adapter unusable. */
	{ "{'platforms':{'mattermost':{'url':'u','bots':'x'}}}",
	    "Platform \"mattermost\" \"bots\" must be an object" },
	{ "{'platforms':{'mattermost':{'url':'u','bots':{'a':{'token':5}}}}}",
	    "Platform \"mattermost\" bot \"a\" \"token\" must be a string" },
	{ "{'platforms':{'mattermost':{'url':5,'botToken':'t'}}}",
	    "Platform \"mattermost\" \"url\" must be a string" },
	{ "{'platforms':{'mattermost':{'url':'u','botToken':true}}}",
	    "Platform \"mattermost\" \"botToken\" must be a string" },
	{ "{'platforms':{'slack':{'bots':{'b':{'token':'x','appToken':2}}}}}",
	    "Platform \"slack\" bot \"b\" \"appToken\" must be a string" },
	{ "{" P_MM ",'channels':[{'id':5}]}",
	    "Each channel \"id\" must be a string" },
	{ "{" P_MM ",'channels':[{'id':'c','platform':1,"
	    "'workingDirectory':'/w'}]}", "Channel \"c\" platform must be a string" },
	{ "{" P_MM ",'channels':[{'id':'c','platform':'mattermost',"
	    "'workingDirectory':[1]}]}",
	    "Channel \"c\" workingDirectory must be a string" },
	{ "{" P_MM ",'channels':[{'id':'c','platform':'mattermost',"
	    "'workingDirectory':'/w','bot':3}]}",
	    "Channel \"c\" bot must be a string" },
	{ "{" P_MM ",'channels':[{'id':'c','platform':'mattermost',"
	    "'workingDirectory':'/w','threadSessions':'yes'}]}",
	    "Channel \"c\" threadSessions must be a boolean" },
	{ "{" P_MM ",'defaults':{'threadSessions':1}}",
	    "defaults.threadSessions must be a boolean" },
	{ "{" P_MM ",'scheduler':3}", "\"scheduler\" must be an object" },
	{ "{" P_MM ",'scheduler':{'graceSeconds':-1}}",
	    "scheduler.graceSeconds must be a non-negative number (seconds)" },
	{ "{" P_MM ",'scheduler':{'graceSeconds':'1h'}}",
	    "scheduler.graceSeconds must be a non-negative number (seconds)" },
	{ "{" P_MM ",'defaults':{'timezone':5}}",
	    "defaults timezone must be a string (an IANA time zone such as "
	    "\"Europe/Paris\")" },
	{ "{" P_MM ",'defaults':{'timezone':'../etc/passwd'}}",
	    "defaults timezone: \"../etc/passwd\" is not a time zone name" },
	{ "{" P_MM ",'channels':[{'id':'c','platform':'mattermost',"
	    "'workingDirectory':'/w','timezone':'/etc/localtime'}]}",
	    "Channel \"c\" timezone: \"/etc/localtime\" is not a time zone "
	    "name" },
	/* Upstream's order: platforms are checked before logLevel. */
	{ "{'platforms':{'x':{}},'logLevel':'bad'}",
	    "Platform \"x\" missing \"url\"" },
};

/* A zone the tz database does not have is refused, and says where. */
static void
test_unknown_time_zone(void **state)
{
	const char	*got;

	got = parse_err("{" P_MM ",'channels':[{'id':'c','platform':"
	    "'mattermost','workingDirectory':'/w','timezone':'Mars/Base'}]}");
	assert_non_null(strstr(got, "Channel \"c\" timezone: unknown time "
	    "zone \"Mars/Base\" ("));
	T_o = parse_q("{" P_MM ",'defaults':{'timezone':'America/New_York'},"
	    "'scheduler':{'graceSeconds':0},'channels':[{'id':'c','platform':"
	    "'mattermost','workingDirectory':'/w','timezone':'UTC'}]}");
	assert_non_null(T_o);
}

static void
test_validation_texts(void **state)
{
	const char	*got;
	size_t		 i;
	int		 bad = 0;

	for (i = 0; i < nitems(bad_cases); i++) {
		got = parse_err(bad_cases[i].in);
		if (strcmp(got, bad_cases[i].want) != 0) {
			print_error("case %zu: %s\n  got:  %s\n  want: %s\n", i,
			    bad_cases[i].in, got, bad_cases[i].want);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

static void
test_bad_input(void **state)
{
	static const char badutf[] = "{\"platforms\":{\"m\xc3\x28\":1}}";
	char		 err[CFG_ERR_MAX];
	char		*deep;
	size_t		 n = 100000;

	assert_null(cfg_parse("", 0, "c.json", err, sizeof(err)));
	assert_string_equal(err, "c.json:1:0: unexpected token near end of file");
	assert_null(cfg_parse(NULL, 0, NULL, err, sizeof(err)));
	assert_string_equal(err, "1:0: unexpected token near end of file");
	assert_null(cfg_parse("\xff", 1, "c.json", err, sizeof(err)));
	assert_string_equal(err, "c.json:1:0: unable to decode byte 0xff");
	assert_null(cfg_parse(badutf, sizeof(badutf) - 1, "c.json", err,
	    sizeof(err)));
	assert_non_null(strstr(err, "unable to decode byte"));
	/* A NUL inside the buffer ends nothing early: it is an error. */
	assert_null(cfg_parse("{}\0{}", 5, "c.json", err, sizeof(err)));
	assert_non_null(strstr(err, "c.json:1:"));
	deep = malloc(n);
	assert_non_null(deep);
	memset(deep, '[', n);
	assert_null(cfg_parse(deep, n, "c.json", err, sizeof(err)));
	assert_non_null(strstr(err, "maximum parsing depth reached"));
	memset(deep, '{', 1);
	assert_null(cfg_parse(deep, n, "c.json", err, sizeof(err)));
	free(deep);
	/* A tiny error buffer truncates, never overflows; NULL is allowed. */
	assert_null(cfg_parse("[]", 2, "c.json", err, 8));
	assert_string_equal(err, "Config ");
	assert_null(cfg_parse("[]", 2, "c.json", NULL, 0));
}


/*
 * Numbers of any size: jansson refuses what does not fit a json_int_t or
 * a double, validation refuses what is out of range, and nothing that is
 * accepted is converted beyond its range.
 */
static void
test_huge_numbers(void **state)
{
	static const char *const refused[] = {
		"reloadDrainTimeoutMs", "9223372036854775807",
		"reloadDrainTimeoutMs", "-9223372036854775808",
		"reloadDrainTimeoutMs", "1e300",
		"reloadDrainTimeoutMs", "600001",
		"reconnectTimeoutMs", "600000.5",
		"reconnectTimeoutMs", "0",
		NULL
	};
	const char	*e;
	struct cfg	*c;
	size_t		 i;

	for (i = 0; refused[i] != NULL; i += 2) {
		e = parse_err(variant(BASE, refused[i], refused[i + 1], NULL));
		assert_non_null(strstr(e, "must be an integer between 1 and "
		    "600000"));
	}
	/* Beyond what JSON numbers hold here: a parse error with a place. */
	e = parse_err("{'reloadDrainTimeoutMs':99999999999999999999,"
	    "'platforms':{}}");
	assert_non_null(strstr(e, "test.json:1:"));
	e = parse_err("{'reloadDrainTimeoutMs':1e400,'platforms':{}}");
	assert_non_null(strstr(e, "test.json:1:"));
	/* The largest accepted values arrive whole. */
	c = T_o = parse_q(variant(BASE, "reloadDrainTimeoutMs", "600000",
	    "reconnectTimeoutMs", "600000.0", NULL));
	assert_int_equal(c->drain_timeout_ms, 600000);
	assert_int_equal(c->reconnect_timeout_ms, 600000);
	/* Numbers nobody converts may be as large as JSON allows. */
	T_n = parse_q(variant(BASE, "interAgent", "{'enabled':true,"
	    "'maxDepth':1e300,'defaultTimeout':9223372036854775807}",
	    "logging", "{'maxSize':1e308}", NULL));
}

/* The typed view: platforms, bots, channels, telemetry. */
static void
test_typed(void **state)
{
	struct cfg			*c;
	const struct cfg_platform	*p;

	c = T_o = parse_q("{'platforms':{'slack':{'apiUrl':'http://x/api//',"
	    "'admins':['@a'],'bots':{'s':{'token':'t','appToken':'a',"
	    "'admins':['b']}}},'mattermost':{'url':'http://m/',"
	    "'botToken':'t','access':{'mode':'open'}}},'channels':["
	    "{'id':'c1','platform':'slack','workingDirectory':'/w',"
	    "'bot':''},{'id':'c2','platform':'mattermost','bot':'default',"
	    "'workingDirectory':'/w','isDM':true}],'telemetry':{}}");
	assert_int_equal(c->nplatforms, 2);
	assert_string_equal(c->platforms[0].name, "mattermost");
	assert_null(c->platforms[0].api_url);
	assert_non_null(c->platforms[0].access);
	p = cfg_find_platform(c, "slack");
	assert_non_null(p);
	assert_string_equal(p->api_url, "http://x/api/");
	assert_string_equal(json_string_value(json_array_get(p->admins, 0)),
	    "a");
	assert_null(cfg_find_platform(c, "irc"));
	assert_int_equal(c->nbots, 2);
	assert_string_equal(c->bots[0].key, "mattermost:default");
	assert_null(c->bots[0].obj);
	assert_int_equal(c->bots[1].plat, 1);
	assert_non_null(c->bots[1].admins);
	assert_int_equal(c->nchans, 2);
	assert_string_equal(c->chans[0].id, "c1");
	assert_null(c->chans[0].bot);		/* "": no bot */
	assert_false(c->chans[0].is_dm);
	assert_string_equal(c->chans[1].bot, "default");
	assert_true(c->chans[1].is_dm);
	assert_ptr_equal(c->telemetry, json_object_get(c->root, "telemetry"));
	T_n = parse_q(SLACK);
	assert_null(T_n->telemetry);
	assert_int_equal(T_n->nchans, 0);
}

static const char *
served_by(json_t *chans, const char *id)
{
	json_t	*ch;
	size_t	 i;

	json_array_foreach(chans, i, ch)
		if (strcmp(json_string_value(json_object_get(ch, "id")), id) ==
		    0)
			return (json_string_value(json_object_get(ch,
			    "servedBy")));
	fail_msg("no channel %s", id);
	return (NULL);
}

/*
 * The bot that serves a channel is decided once, by the supervisor: its
 * "bot", or the platform's first bot when that is absent or falsy, as
 * upstream's `ch.bot || first bot` (so "bot": "" is the first bot).
 * sessiond reads it from "servedBy"; each worker gets exactly its own.
 */
static void
test_served_by(void **state)
{
	const char	*chans = "[{'id':'c1','platform':'mattermost',"
	    "'workingDirectory':'/1','bot':'b'},{'id':'c2','platform':"
	    "'mattermost','workingDirectory':'/2','bot':''},{'id':'c3',"
	    "'platform':'mattermost','workingDirectory':'/3'},{'id':'c4',"
	    "'platform':'mattermost','workingDirectory':'/4','bot':null},"
	    "{'id':'c5','platform':'slack','workingDirectory':'/5'}]";
	const char	*two = "{'platforms':{'mattermost':{'url':'http://m',"
	    "'bots':{'b':{'token':'tb'},'a':{'token':'ta'}}},'slack':{'bots':"
	    "{'s':{'token':'xoxb','appToken':'xapp'}}}},'channels':%s}";
	char		 buf[2048];
	json_t		*sd, *w, *arr;
	size_t		 i;
	struct cfg	*g;

	snprintf(buf, sizeof(buf), two, chans);
	T_o = parse_q(buf);
	sd = project_sessiond(T_o);
	assert_non_null(sd);
	arr = json_object_get(sd, "channels");
	assert_int_equal(json_array_size(arr), 5);
	assert_string_equal(served_by(arr, "c1"), "mattermost:b");
	assert_string_equal(served_by(arr, "c2"), "mattermost:a");
	assert_string_equal(served_by(arr, "c3"), "mattermost:a");
	assert_string_equal(served_by(arr, "c4"), "mattermost:a");
	assert_string_equal(served_by(arr, "c5"), "slack:s");
	/* Nothing else of the channel changes: "bot" stays as written. */
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    arr, 1), "bot")), "");
	json_decref(sd);
	/* Each worker gets the channels it serves, and no others. */
	w = project_worker(T_o, "mattermost:a");
	arr = json_object_get(w, "channels");
	assert_int_equal(json_array_size(arr), 3);
	for (i = 0; i < 3; i++)
		assert_null(json_object_get(json_array_get(arr, i),
		    "servedBy"));
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    arr, 0), "id")), "c2");
	json_decref(w);
	w = project_worker(T_o, "mattermost:b");
	assert_int_equal(json_array_size(json_object_get(w, "channels")), 1);
	json_decref(w);

	/* A channel in its grace period is served, and says by whom. */
	snprintf(buf, sizeof(buf), two, "[]");
	T_n = parse_q(buf);
	assert_int_equal(cfg_carry_grace(T_n, T_o), 0);
	assert_int_equal(T_n->ngrace, 5);
	sd = project_sessiond(T_n);
	arr = json_object_get(sd, "channels");
	assert_int_equal(json_array_size(arr), 5);
	assert_string_equal(served_by(arr, "c2"), "mattermost:a");
	assert_string_equal(served_by(arr, "c1"), "mattermost:b");
	json_decref(sd);
	/* ...by the bots of the config in force: "a" gone, "b" is first. */
	g = parse_q("{'platforms':{'mattermost':{'url':'http://m','bots':{"
	    "'b':{'token':'tb'}}}}}");
	assert_int_equal(cfg_carry_grace(g, T_n), 0);
	sd = project_sessiond(g);
	assert_string_equal(served_by(json_object_get(sd, "channels"), "c3"),
	    "mattermost:b");
	json_decref(sd);
	cfg_free(g);
}

/* sessiond's view: the document without any token, paths resolved. */
static void
test_sessiond_view(void **state)
{
	json_t	*sd;
	char	*s;

	T_o = parse_q("{'stateDir':'/s','platforms':{'mattermost':{'url':"
	    "'http://m','botToken':'secret-1'},'slack':{'bots':{'x':{'token':"
	    "'secret-2','appToken':'secret-3','admin':true}}}}}");
	sd = project_sessiond(T_o);
	assert_non_null(sd);
	s = json_dumps(sd, JSON_SORT_KEYS | JSON_COMPACT);
	assert_null(strstr(s, "secret"));
	assert_string_equal(s, "{\"channels\":[],\"logDir\":null,"
	    "\"platforms\":{\"mattermost\":{\"url\":\"http://m\"},\"slack\":"
	    "{\"bots\":{\"x\":{\"admin\":true}}}},\"stateDir\":\"/s\"}");
	free(s);
	json_decref(sd);
	/* The loaded config is untouched. */
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    json_object_get(T_o->root, "platforms"), "mattermost"),
	    "botToken")), "secret-1");
}

/*
 * A long complaint arrives whole; one cut by a small buffer ends on a
 * whole character, so it can go into a JSON reply.
 */
static void
test_long_error(void **state)
{
	char		 name[4097], *js, err[CFG_ERR_MAX], small[64];
	size_t		 i, n;

	for (i = 0; i + 2 <= 4096; i += 2)
		memcpy(name + i, "\xc3\xa9", 2);
	name[i] = '\0';
	n = strlen(name) + 256;
	assert_non_null(js = malloc(n));
	snprintf(js, n, "{\"platforms\":{},\"channels\":[{\"id\":\"c\","
	    "\"platform\":\"%s\",\"workingDirectory\":\"/w\"}]}", name);
	assert_null(cfg_parse(js, strlen(js), "c.json", err, sizeof(err)));
	assert_true(strlen(err) > 4096);
	assert_non_null(strstr(err, name));
	for (n = 20; n < sizeof(small); n++) {
		assert_null(cfg_parse(js, strlen(js), "c.json", small, n));
		assert_true(utf8_valid(small, strlen(small)));
		assert_true(strlen(small) + 2 >= n - 1);
	}
	free(js);
}

/* ------------------------------------------------------------ load */

static char	tmpdir[PATH_MAX];

static const char *
tmpfile_with(const char *name, const char *text)
{
	char	 path[PATH_MAX + 64];
	FILE	*f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
	return (keep(strdup(path)));
}

static int
mk_tmpdir(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_config.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	return (0);
}

static int
rm_tmpdir(void **state)
{
	char	cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	assert_int_equal(system(cmd), 0);
	return (teardown(state));
}

static void
test_load(void **state)
{
	char		 err[CFG_ERR_MAX], want[CFG_ERR_MAX + PATH_MAX];
	const char	*p;

	snprintf(want, sizeof(want), "%s/none.json", tmpdir);
	assert_null(cfg_load(want, err, sizeof(err)));
	snprintf(want, sizeof(want), "Config file not found: %s/none.json. "
	    "Copy config.sample.json to config.json and edit it.", tmpdir);
	assert_string_equal(err, want);

	/* upstream test "invalid JSON": the error says where. */
	p = tmpfile_with("syntax.json", "{\n  \"a\": 1\n  \"b\"\n}\n");
	assert_null(cfg_load(p, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s:3:5: '}' expected near '\"b\"'", p);
	assert_string_equal(err, want);

	/* upstream test "validation error (empty url)". */
	p = tmpfile_with("emptyurl.json", dq(variant(BASE,
	    "platforms.mattermost.url", "''", NULL)));
	assert_null(cfg_load(p, err, sizeof(err)));
	assert_string_equal(err, "Platform \"mattermost\" missing \"url\"");

	p = tmpfile_with("ok.json", dq(BASE));
	assert_non_null(T_o = cfg_load(p, err, sizeof(err)));
	assert_string_equal(T_o->path, p);
	assert_string_equal(err, "");

	assert_null(cfg_load(tmpdir, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s: %s", tmpdir, strerror(EISDIR));
	assert_string_equal(err, want);
}

static void
test_resolve_path(void **state)
{
	char	 out[PATH_MAX], want[PATH_MAX + 64], cwd[PATH_MAX];
	char	 real[PATH_MAX];
	char	*old_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;

	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_non_null(realpath(tmpdir, real));
	setenv("HOME", real, 1);
	unsetenv("COPILOT_BRIDGE_CONFIG");
	assert_int_equal(chdir(real), 0);

	/* 4: nothing else exists: ./config.json, made absolute. */
	assert_int_equal(cfg_resolve_path(NULL, out, sizeof(out)), 0);
	snprintf(want, sizeof(want), "%s/config.json", real);
	assert_string_equal(out, want);

	/* 3: ~/.copilot-bridge/config.json, only once it exists. */
	snprintf(want, sizeof(want), "%s/.copilot-bridge", real);
	assert_int_equal(mkdir(want, 0700), 0);
	tmpfile_with(".copilot-bridge/config.json", "{}");
	assert_int_equal(cfg_resolve_path(NULL, out, sizeof(out)), 0);
	snprintf(want, sizeof(want), "%s/.copilot-bridge/config.json", real);
	assert_string_equal(out, want);

	/* 2: the environment beats the home file. */
	setenv("COPILOT_BRIDGE_CONFIG", "/etc/cb/env.json", 1);
	assert_int_equal(cfg_resolve_path(NULL, out, sizeof(out)), 0);
	assert_string_equal(out, "/etc/cb/env.json");

	/* 1: -c beats everything. */
	assert_int_equal(cfg_resolve_path("rel/arg.json", out, sizeof(out)), 0);
	assert_string_equal(out, "rel/arg.json");

	/* Too small a buffer is an error, not a truncated path. */
	assert_int_equal(cfg_resolve_path("/a/long/path.json", out, 5), -1);

	unsetenv("COPILOT_BRIDGE_CONFIG");
	assert_int_equal(chdir(cwd), 0);
	if (old_home != NULL)
		setenv("HOME", old_home, 1);
	free(old_home);
}

/* The shipped sample is valid and means what docs/configuration.md says. */
static void
test_sample(void **state)
{
	char	err[CFG_ERR_MAX];

	if (access("etc/config.sample.json", R_OK) != 0)
		skip();
	T_o = cfg_load("etc/config.sample.json", err, sizeof(err));
	if (T_o == NULL)
		fail_msg("%s", err);
	assert_int_equal(T_o->nbots, 1);
	assert_string_equal(T_o->bots[0].key, "mattermost:copilot");
	assert_int_equal(T_o->drain_timeout_ms, CFG_DEFAULT_DRAIN_MS);
	assert_int_equal(T_o->reconnect_timeout_ms, CFG_DEFAULT_RECONNECT_MS);
	assert_int_equal(T_o->auto_reload_bots, 0);
	assert_int_equal(T_o->watch_mode, POLLWATCH_AUTO);
	assert_int_equal(T_o->watch_interval_ms, POLLWATCH_INTERVAL_MS);
	assert_null(T_o->log_dir);
}

/* ------------------------------------------------------------ diff */

static void
test_identical(void **state)
{
	struct cfg_diff	*d;

	d = diff_q(BASE, BASE);
	assert_true(cfg_diff_empty(d));
	assert_int_equal(d->changes.n, 0);
	assert_int_equal(d->restart.n, 0);
	assert_int_equal(d->nbots, 0);
	assert_int_equal(d->telemetry, 0);
	assert_string_equal(T_o->hash, T_n->hash);
}

/* Key order and 1 vs 1.0 are not changes (upstream: string compare). */
static void
test_reordered_not_changed(void **state)
{
	struct cfg_diff	*d;

	d = diff_q("{'logging':{'maxSize':2048,'maxFiles':3},"
	    "'platforms':{'m':{'url':'u','botToken':'t'}}}",
	    "{'platforms':{'m':{'botToken':'t','url':'u'}},"
	    "'logging':{'maxFiles':3.0,'maxSize':2048}}");
	assert_true(cfg_diff_empty(d));
}

static void
root_hash(const struct cfg *c, char out[65])
{
	char	*s;

	s = json_dumps(c->root, JSON_SORT_KEYS | JSON_COMPACT);
	assert_non_null(s);
	assert_int_equal(util_sha256_hex(s, strlen(s), out), 0);
	free(s);
}

/* Quirk (b): normalisation happens identically on both sides. */
static void
test_normalised_twice_empty(void **state)
{
	const char	*cfgtxt = "{'platforms':{'slack':{'access':{'mode':"
	    "'allowlist','users':[' @U123 ','@bob']},'bots':{'b':{'token':'x',"
	    "'appToken':'y','access':{'mode':'open','users':['@eve']}}}}}}";
	struct cfg_diff	*d;
	char		 h[65];

	d = diff_q(cfgtxt, cfgtxt);
	assert_true(cfg_diff_empty(d));
	/* Using a cfg never changes it: its root still hashes the same. */
	root_hash(T_n, h);
	assert_string_equal(h, T_n->hash);
	json_decref(project_worker(T_n, T_n->bots[0].key));
	cfg_diff_free(cfg_diff(T_n, T_o));
	free(cfg_diff_markdown(d));
	root_hash(T_n, h);
	assert_string_equal(h, T_n->hash);
	root_hash(T_o, h);
	assert_string_equal(h, T_o->hash);
}

static void
test_trigger_mode(void **state)
{
	struct cfg_diff	*d;

	d = diff_q(BASE, variant(BASE, "channels.0.triggerMode", "'all'",
	    NULL));
	assert_list(&d->changes, "channel \"ch1\": triggerMode changed", NULL);
	assert_int_equal(d->nbots, 0);
	assert_list(&d->restart, NULL);
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    json_object_get(T_n->root, "channels"), 0), "triggerMode")), "all");
	teardown(state);
	d = diff_q(BASE, variant(BASE, "defaults", "{'triggerMode':'all',"
	    "'fallbackModels':[]}", NULL));
	assert_list(&d->changes, "defaults.fallbackModels: undefined \u2192 []",
	    "defaults.triggerMode: \"mention\" \u2192 \"all\"", NULL);
}

static void
test_permissions(void **state)
{
	struct cfg_diff	*d;

	d = diff_q(BASE, variant(BASE, "permissions", "{'allow':['read']}",
	    NULL));
	assert_list(&d->changes, "permissions updated", NULL);
	assert_int_equal(d->nbots, 0);
	assert_list(&d->restart, NULL);
	teardown(state);
	/* Absent and {} are the same, as upstream's "?? {}". */
	d = diff_q(BASE, variant(BASE, "permissions", "{}", "interAgent", "null",
	    NULL));
	assert_true(cfg_diff_empty(d));
}

static void
test_channel_edit(void **state)
{
	struct cfg_diff	*d;

	d = diff_q(BASE, variant(BASE, "channels.0.verbose", "true", NULL));
	assert_list(&d->changes, "channel \"ch1\": verbose changed", NULL);
	teardown(state);
	d = diff_q(BASE, variant(BASE, "channels.0.verbose", "true",
	    "channels.0.model", "'gpt-5'", "channels.0.triggerMode", NULL,
	    NULL));
	assert_list(&d->changes,
	    "channel \"ch1\": model, triggerMode, verbose changed", NULL);
}

static void
test_channel_added_removed(void **state)
{
	struct cfg_diff	*d;
	const char	*two;

	two = variant(BASE, "channels.1", "{'id':'ch2','platform':'mattermost',"
	    "'workingDirectory':'/w'}", NULL);
	d = diff_q(BASE, two);
	assert_list(&d->changes, "channel \"ch2\": added", NULL);
	teardown(state);
	two = variant(BASE, "channels.1", "{'id':'ch2','platform':'mattermost',"
	    "'workingDirectory':'/w'}", NULL);
	d = diff_q(two, BASE);
	assert_list(&d->changes, "channel \"ch2\": removed from config (still "
	    "active in-memory)", NULL);
	assert_int_equal(d->nbots, 0);
}

/* Quirk (a): a removed channel is reported once, and keeps serving. */
static void
test_grace(void **state)
{
	struct cfg	*a, *b, *b2, *a2;
	struct cfg_diff	*d;
	json_t		*w;
	const char	*two;

	two = variant(BASE, "channels.1", "{'id':'ch2','platform':'mattermost',"
	    "'workingDirectory':'/w'}", NULL);
	a = parse_q(two);
	b = parse_q(BASE);
	d = cfg_diff(a, b);
	assert_list(&d->changes, "channel \"ch2\": removed from config (still "
	    "active in-memory)", NULL);
	cfg_diff_free(d);
	assert_int_equal(cfg_carry_grace(b, a), 0);
	assert_int_equal(json_array_size(b->grace), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    b->grace, 0), "id")), "ch2");
	/* The worker still gets ch2 (effective bot: first one, copilot). */
	w = project_worker(b, b->bots[0].key);
	assert_int_equal(json_array_size(json_object_get(w, "channels")), 2);
	json_decref(w);

	/* Reloading the same file again: nothing to report, still in grace. */
	b2 = parse_q(BASE);
	d = cfg_diff(b, b2);
	assert_true(cfg_diff_empty(d));
	cfg_diff_free(d);
	assert_int_equal(cfg_carry_grace(b2, b), 0);
	assert_int_equal(json_array_size(b2->grace), 1);

	/* Back in the file: an addition, and it leaves grace. */
	a2 = parse_q(two);
	d = cfg_diff(b2, a2);
	assert_list(&d->changes, "channel \"ch2\": added", NULL);
	cfg_diff_free(d);
	assert_int_equal(cfg_carry_grace(a2, b2), 0);
	assert_int_equal(json_array_size(a2->grace), 0);
	cfg_free(a);
	cfg_free(b);
	cfg_free(b2);
	cfg_free(a2);
}

/* SC-004: token, appToken, url, added, removed are botReloadNeeded. */
static void
test_sc004_token(void **state)
{
	const struct cfg_botreload	*b;
	struct cfg_diff			*d;

	d = diff_q(BASE, variant(BASE, "platforms.mattermost.bots.copilot.token",
	    "'tok2'", NULL));
	b = only_bot(d, "mattermost:copilot");
	assert_list(&b->reasons, "token", NULL);
	assert_list(&b->texts, "bot \"mattermost:copilot\": token changed",
	    NULL);
	assert_list(&d->restart, NULL);
	assert_list(&d->changes, NULL);
}

static void
test_sc004_apptoken(void **state)
{
	const struct cfg_botreload	*b;
	struct cfg_diff			*d;

	d = diff_q(SLACK, variant(SLACK, "platforms.slack.bots.sb.appToken",
	    "'xapp-2'", NULL));
	b = only_bot(d, "slack:sb");
	assert_list(&b->reasons, "appToken", NULL);
	assert_list(&b->texts, "bot \"slack:sb\": appToken changed", NULL);
	assert_list(&d->restart, NULL);
	assert_list(&d->changes, NULL);
	teardown(state);
	/* Both at once: both listed (upstream's else-if showed one). */
	d = diff_q(SLACK, variant(SLACK, "platforms.slack.bots.sb.appToken",
	    "'xapp-2'", "platforms.slack.bots.sb.token", "'xoxb-2'", NULL));
	b = only_bot(d, "slack:sb");
	assert_list(&b->reasons, "token", "appToken", NULL);
	assert_list(&b->texts, "bot \"slack:sb\": token changed",
	    "bot \"slack:sb\": appToken changed", NULL);
	assert_list(&d->restart, NULL);
}

static void
test_sc004_url(void **state)
{
	const struct cfg_botreload	*b;
	struct cfg_diff			*d;

	d = diff_q(BASE, variant(BASE, "platforms.mattermost.url",
	    "'https://new.example.com'", "platforms.mattermost.bots.two",
	    "{'token':'t2'}", NULL));
	assert_int_equal(d->nbots, 2);
	b = &d->bots[0];
	assert_string_equal(b->key, "mattermost:copilot");
	assert_list(&b->reasons, "url", NULL);
	assert_list(&b->texts, "platform \"mattermost\": URL changed", NULL);
	assert_string_equal(d->bots[1].key, "mattermost:two");
	assert_list(&d->bots[1].reasons, "added", NULL);
	assert_list(&d->restart, NULL);
	teardown(state);
	/* Slack's apiUrl is its address: same class. */
	d = diff_q(SLACK, variant(SLACK, "platforms.slack.apiUrl",
	    "'http://127.0.0.1:9/api/'", NULL));
	b = only_bot(d, "slack:sb");
	assert_list(&b->reasons, "url", NULL);
	assert_list(&b->texts, "platform \"slack\": apiUrl changed", NULL);
	assert_list(&d->restart, NULL);
	assert_list(&d->changes, NULL);
}

static void
test_sc004_added(void **state)
{
	const struct cfg_botreload	*b;
	struct cfg_diff			*d;

	d = diff_q(BASE, variant(BASE, "platforms.mattermost.bots.alice",
	    "{'token':'t3'}", NULL));
	b = only_bot(d, "mattermost:alice");
	assert_list(&b->reasons, "added", NULL);
	assert_list(&b->texts, "bot \"mattermost:alice\": added (new adapter "
	    "needed)", NULL);
	assert_list(&d->restart, NULL);
	assert_list(&d->changes, NULL);
	teardown(state);
	/* upstream test "new platform": each of its bots is added. */
	d = diff_q(BASE, variant(BASE, "platforms.discord", "{'url':'https://d',"
	    "'bots':{'y':{'token':'1'},'x':{'token':'2'}}}", NULL));
	assert_int_equal(d->nbots, 2);
	assert_string_equal(d->bots[0].key, "discord:x");
	assert_string_equal(d->bots[1].key, "discord:y");
	assert_list(&d->bots[0].reasons, "added", NULL);
	assert_list(&d->bots[0].texts, "platform \"discord\": added (new "
	    "adapter + WebSocket needed)", NULL);
	assert_list(&d->restart, NULL);
}

static void
test_sc004_removed(void **state)
{
	const struct cfg_botreload	*b;
	struct cfg_diff			*d;
	const char			*two;

	two = variant(BASE, "platforms.mattermost.bots.alice", "{'token':'t3'}",
	    NULL);
	d = diff_q(two, BASE);
	b = only_bot(d, "mattermost:alice");
	assert_list(&b->reasons, "removed", NULL);
	assert_list(&b->texts, "bot \"mattermost:alice\": removed (adapter "
	    "still running)", NULL);
	assert_list(&d->restart, NULL);
	assert_list(&d->changes, NULL);
	teardown(state);
	d = diff_q(variant(BASE, "platforms.slack", "{'bots':{'sb':{'token':'a',"
	    "'appToken':'b'}}}", NULL), BASE);
	b = only_bot(d, "slack:sb");
	assert_list(&b->reasons, "removed", NULL);
	assert_list(&b->texts, "platform \"slack\": removed (adapter still "
	    "running)", NULL);
	assert_list(&d->restart, NULL);
}

static void
test_bottoken_shorthand(void **state)
{
	const struct cfg_botreload	*b;
	struct cfg_diff			*d;
	const char			*one;

	one = "{'platforms':{'mattermost':{'url':'u','botToken':'t1'}}}";
	d = diff_q(one, variant(one, "platforms.mattermost.botToken", "'t2'",
	    NULL));
	b = only_bot(d, "mattermost:default");
	assert_list(&b->reasons, "token", NULL);
	assert_list(&b->texts, "platform \"mattermost\": botToken changed",
	    NULL);
	assert_list(&d->restart, NULL);
}

static void
test_bot_config_live(void **state)
{
	struct cfg_diff	*d;

	d = diff_q(BASE, variant(BASE, "platforms.mattermost.bots.copilot.admin",
	    "false", NULL));
	assert_list(&d->changes, "bot \"mattermost:copilot\": config updated",
	    NULL);
	assert_int_equal(d->nbots, 0);
	assert_list(&d->restart, NULL);
	teardown(state);
	d = diff_q(BASE, variant(BASE, "platforms.mattermost.bots.copilot.admins",
	    "['root']", "platforms.mattermost.bots.copilot.agent", "'x'", NULL));
	assert_list(&d->changes, "bot \"mattermost:copilot\": config updated",
	    NULL);
	assert_int_equal(d->nbots, 0);
}

static void
test_telemetry(void **state)
{
	struct cfg_diff	*d;

	d = diff_q(BASE, variant(BASE, "telemetry", "{'otlpEndpoint':"
	    "'http://localhost:4318'}", NULL));
	assert_int_equal(d->telemetry, 1);
	assert_list(&d->changes, "telemetry config updated", NULL);
	assert_list(&d->restart, NULL);
	assert_int_equal(d->nbots, 0);
	assert_false(cfg_diff_empty(d));
	teardown(state);
	/* upstream made logging a restart; here it is applied live. */
	d = diff_q(BASE, variant(BASE, "logging", "{'maxFiles':5}", NULL));
	assert_int_equal(d->telemetry, 0);
	assert_list(&d->changes, "logging config updated", NULL);
	assert_list(&d->restart, NULL);
	teardown(state);
	/* The files' caps and age: sessiond reads them per message. */
	d = diff_q(BASE, variant(BASE, "files", "{'maxFileMiB':0.5,"
	    "'maxMessageMiB':1,'tempMaxAgeHours':0.25}", NULL));
	assert_list(&d->changes, "files config updated", NULL);
	assert_list(&d->restart, NULL);
	assert_int_equal(d->nbots, 0);
}

static void
test_sections_live(void **state)
{
	struct cfg_diff	*d;
	const char	*a, *b;

	a = variant(BASE, "providers", "{'gone':{'baseUrl':'u','models':"
	    "[{'id':'m'}]},'kept':{'baseUrl':'u','models':[{'id':'m'}]}}",
	    "memory", "{'tier':1}", "database", "{'module':'a'}",
	    "platforms.mattermost.access", "{'mode':'open'}", NULL);
	b = variant(a, "providers.gone", NULL, "providers.new", "{'baseUrl':"
	    "'u','models':[{'id':'m'}]}", "providers.kept.baseUrl", "'v'",
	    "memory.tier", "2", "interAgent", "{'enabled':true}",
	    "database.module", "'b'", "platforms.mattermost.access.mode",
	    "'allowlist'", "platforms.mattermost.admins", "['root']",
	    "session", "{'backend':'echo'}", NULL);
	d = diff_q(a, b);
	assert_list(&d->changes, "interAgent config updated",
	    "provider \"gone\": removed", "provider \"kept\": config updated",
	    "provider \"new\": added", "memory config updated",
	    "platform \"mattermost\": access updated",
	    "platform \"mattermost\": admins updated",
	    "session config updated", "database config updated", NULL);
	assert_int_equal(d->nbots, 0);
	assert_list(&d->restart, NULL);
}

static void
test_scalars_live(void **state)
{
	struct cfg_diff	*d;

	d = diff_q(BASE, variant(BASE, "logLevel", "'debug'", "infiniteSessions",
	    "true", "reloadDrainTimeoutMs", "5000", "reconnectTimeoutMs",
	    "20000", "autoReloadBots", "true", "logDir", "'/var/log/cb'",
	    "reloadPlatformConcurrency", "2", "watch", "'poll'",
	    "watchIntervalMs", "500", NULL));
	assert_list(&d->changes,
	    "logLevel: \"info\" \u2192 \"debug\"",
	    "infiniteSessions: false \u2192 true",
	    "reloadDrainTimeoutMs: 10000 \u2192 5000",
	    "reconnectTimeoutMs: 10000 \u2192 20000",
	    "reloadPlatformConcurrency: 4 \u2192 2",
	    "autoReloadBots: false \u2192 true",
	    "watch: \"auto\" \u2192 \"poll\"",
	    "watchIntervalMs: 1000 \u2192 500",
	    "logDir: null \u2192 \"/var/log/cb\"", NULL);
	assert_int_equal(d->nbots, 0);
	assert_list(&d->restart, NULL);
	teardown(state);
	/* Writing a default explicitly changes nothing effective. */
	d = diff_q(BASE, variant(BASE, "logLevel", "'info'",
	    "reloadDrainTimeoutMs", "10000", "infiniteSessions", "'yes'",
	    "reloadPlatformConcurrency", "4", "watch", "'auto'",
	    "watchIntervalMs", "1000", NULL));
	assert_true(cfg_diff_empty(d));
}

static void
test_restart(void **state)
{
	struct cfg_diff	*d;

	d = diff_q(BASE, variant(BASE, "stateDir", "'/srv/cb'", "controlSocket",
	    "'/run/cb.sock'", NULL));
	assert_list(&d->restart, "stateDir changed (requires restart)",
	    "controlSocket changed (requires restart)", NULL);
	assert_list(&d->changes, NULL);
	assert_int_equal(d->nbots, 0);
	assert_int_equal(d->telemetry, 0);
}

/* ------------------------------------------------------------ output */

static void
test_worker_json(void **state)
{
	struct cfg	*c;
	json_t		*w;
	char		*s;

	c = T_o = parse_q("{'logLevel':'warn','logDir':'/l',"
	    "'reconnectTimeoutMs':1234,'platforms':{"
	    "'mattermost':{'url':'https://mm/','admins':['@ann','bo'],"
	    "'access':{'mode':'allowlist','users':['x']},'bots':{"
	    "'b':{'token':'tb','admins':['bo','cy'],'admin':true,"
	    "'access':{'mode':'open'}},'a':{'token':'ta'}}},"
	    "'slack':{'apiUrl':'http://127.0.0.1:9/api','bots':{"
	    "'s':{'token':'xoxb','appToken':'xapp'}}}},"
	    "'channels':[{'id':'c1','platform':'mattermost',"
	    "'workingDirectory':'/1'},{'id':'c2','platform':'mattermost',"
	    "'bot':'b','workingDirectory':'/2'},{'id':'c3','platform':'slack',"
	    "'workingDirectory':'/3'}]}");
	assert_string_equal(c->bots[1].key, "mattermost:b");
	w = project_worker(c, c->bots[1].key);
	assert_non_null(w);
	s = json_dumps(w, JSON_SORT_KEYS | JSON_COMPACT);
	assert_string_equal(s, "{\"access\":{\"mode\":\"allowlist\","
	    "\"users\":[\"x\"]},\"admin\":true,\"admins\":[\"ann\",\"bo\","
	    "\"cy\"],\"bot\":\"b\",\"botAccess\":{\"mode\":\"open\"},"
	    "\"channels\":[{\"bot\":\"b\",\"id\":\"c2\",\"platform\":"
	    "\"mattermost\",\"workingDirectory\":\"/2\"}],\"key\":"
	    "\"mattermost:b\",\"logDir\":\"/l\",\"logLevel\":\"warn\","
	    "\"platform\":\"mattermost\",\"reconnectTimeoutMs\":1234,"
	    "\"telemetry\":null,\"token\":\"tb\",\"url\":\"https://mm\"}");
	free(s);
	json_decref(w);
	/* Channel without "bot": the first bot in sorted order, "a". */
	w = project_worker(c, c->bots[0].key);
	s = json_dumps(json_object_get(w, "channels"), JSON_COMPACT);
	assert_string_equal(s, "[{\"id\":\"c1\",\"platform\":\"mattermost\","
	    "\"workingDirectory\":\"/1\"}]");
	free(s);
	assert_true(json_is_null(json_object_get(w, "botAccess")));
	assert_false(json_is_true(json_object_get(w, "admin")));
	json_decref(w);
	w = project_worker(c, c->bots[2].key);
	s = json_dumps(w, JSON_SORT_KEYS | JSON_COMPACT);
	assert_string_equal(s, "{\"access\":null,\"admin\":false,\"admins\":[],"
	    "\"apiUrl\":\"http://127.0.0.1:9/api/\",\"appToken\":\"xapp\","
	    "\"bot\":\"s\",\"botAccess\":null,\"channels\":[{\"id\":\"c3\","
	    "\"platform\":\"slack\",\"workingDirectory\":\"/3\"}],\"key\":"
	    "\"slack:s\",\"logDir\":\"/l\",\"logLevel\":\"warn\",\"platform\":"
	    "\"slack\",\"reconnectTimeoutMs\":1234,\"telemetry\":null,"
	    "\"token\":\"xoxb\"}");
	free(s);
	json_decref(w);
	T_n = parse_q(SLACK);
	w = project_worker(T_n, T_n->bots[0].key);
	assert_string_equal(json_string_value(json_object_get(w, "apiUrl")),
	    "https://slack.com/api/");
	assert_true(json_is_null(json_object_get(w, "logDir")));
	assert_int_equal(json_integer_value(json_object_get(w,
	    "reconnectTimeoutMs")), 10000);
	json_decref(w);
	assert_null(project_worker(T_n, NULL));
}

/*
 * Every worker exports its own spans, so its config carries the root's
 * telemetry object; a telemetry-only change reaches the workers as a live
 * change (CONFIG_UPDATE), never as a bot reload or a restart.
 */
static void
test_worker_json_telemetry(void **state)
{
	struct cfg_diff	*d;
	json_t		*w, *t;
	char		*s;

	d = diff_q(BASE, variant(BASE, "telemetry", "{'otlpEndpoint':"
	    "'http://127.0.0.1:4318','authEnv':'OTEL_AUTH',"
	    "'captureContent':true}", NULL));
	assert_int_equal(d->telemetry, 1);
	assert_int_equal(d->nbots, 0);
	assert_list(&d->restart, NULL);
	assert_list(&d->changes, "telemetry config updated", NULL);
	assert_false(cfg_diff_empty(d));

	w = project_worker(T_o, T_o->bots[0].key);
	assert_non_null(w);
	assert_true(json_is_null(json_object_get(w, "telemetry")));
	json_decref(w);

	w = project_worker(T_n, T_n->bots[0].key);
	assert_non_null(w);
	t = json_object_get(w, "telemetry");
	assert_true(json_is_object(t));
	s = json_dumps(t, JSON_SORT_KEYS | JSON_COMPACT);
	assert_string_equal(s, "{\"authEnv\":\"OTEL_AUTH\","
	    "\"captureContent\":true,\"otlpEndpoint\":"
	    "\"http://127.0.0.1:4318\"}");
	free(s);
	/* A copy: the worker's JSON never aliases the loaded config. */
	assert_ptr_not_equal(t, json_object_get(T_n->root, "telemetry"));
	json_decref(w);
	teardown(state);

	/* An endpoint change alone: still no bot reload, no restart. */
	d = diff_q(variant(BASE, "telemetry", "{'otlpEndpoint':'http://a:1'}",
	    NULL), variant(BASE, "telemetry", "{'otlpEndpoint':'http://b:2',"
	    "'exporterType':'otlp-http'}", NULL));
	assert_int_equal(d->telemetry, 1);
	assert_int_equal(d->nbots, 0);
	assert_list(&d->restart, NULL);
	teardown(state);

	/* Unchanged telemetry: nothing at all. */
	d = diff_q(variant(BASE, "telemetry", "{'filePath':'/t.jsonl'}", NULL),
	    variant(BASE, "telemetry", "{'filePath':'/t.jsonl'}", NULL));
	assert_int_equal(d->telemetry, 0);
	assert_true(cfg_diff_empty(d));
}

static void
test_markdown(void **state)
{
	struct cfg_diff	*d;
	char		*s;

	d = diff_q(BASE, BASE);
	s = cfg_diff_markdown(d);
	assert_string_equal(s, "\u2705 Config reloaded \u2014 no changes "
	    "detected.");
	free(s);
	teardown(state);
	d = diff_q(BASE, variant(BASE, "permissions", "{'deny':['shell']}",
	    "platforms.mattermost.url", "'https://n'",
	    "platforms.mattermost.bots.copilot.token", "'t9'",
	    "platforms.mattermost.bots.zed", "{'token':'z'}",
	    "telemetry", "{'sourceName':'x'}", "stateDir", "'/s'", NULL));
	s = cfg_diff_markdown(d);
	assert_string_equal(s,
	    "\u2705 Config reloaded.\n"
	    "**Applied:**\n"
	    "  \u2713 permissions updated\n"
	    "  \u2713 telemetry config updated\n"
	    "**Bot reload needed:**\n"
	    "  \u26a0\ufe0f bot \"mattermost:copilot\": token changed\n"
	    "  \u26a0\ufe0f platform \"mattermost\": URL changed\n"
	    "  \u2192 /reload bot mattermost:copilot\n"
	    "  \u26a0\ufe0f bot \"mattermost:zed\": added (new adapter needed)\n"
	    "  \u2192 /reload bot mattermost:zed\n"
	    "**Telemetry reload needed:**\n"
	    "**Restart needed:**\n"
	    "  \u26a0\ufe0f stateDir changed (requires restart)");
	free(s);
	teardown(state);
	/* Only a restart item: no empty blocks. */
	d = diff_q(BASE, variant(BASE, "controlSocket", "'/c'", NULL));
	s = cfg_diff_markdown(d);
	assert_string_equal(s, "\u2705 Config reloaded.\n**Restart needed:**\n"
	    "  \u26a0\ufe0f controlSocket changed (requires restart)");
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_defaults, teardown),
		cmocka_unit_test_teardown(test_new_keys, teardown),
		cmocka_unit_test_teardown(test_bots_order, teardown),
		cmocka_unit_test_teardown(test_accepted_shapes, teardown),
		cmocka_unit_test_teardown(test_access_normalised, teardown),
		cmocka_unit_test_teardown(test_validation_texts, teardown),
		cmocka_unit_test_teardown(test_unknown_time_zone, teardown),
		cmocka_unit_test_teardown(test_bad_input, teardown),
		cmocka_unit_test_teardown(test_huge_numbers, teardown),
		cmocka_unit_test_teardown(test_typed, teardown),
		cmocka_unit_test_teardown(test_served_by, teardown),
		cmocka_unit_test_teardown(test_sessiond_view, teardown),
		cmocka_unit_test_teardown(test_long_error, teardown),
		cmocka_unit_test_setup_teardown(test_load, mk_tmpdir,
		    rm_tmpdir),
		cmocka_unit_test_setup_teardown(test_resolve_path, mk_tmpdir,
		    rm_tmpdir),
		cmocka_unit_test_teardown(test_sample, teardown),
		cmocka_unit_test_teardown(test_identical, teardown),
		cmocka_unit_test_teardown(test_reordered_not_changed, teardown),
		cmocka_unit_test_teardown(test_normalised_twice_empty, teardown),
		cmocka_unit_test_teardown(test_trigger_mode, teardown),
		cmocka_unit_test_teardown(test_permissions, teardown),
		cmocka_unit_test_teardown(test_channel_edit, teardown),
		cmocka_unit_test_teardown(test_channel_added_removed, teardown),
		cmocka_unit_test_teardown(test_grace, teardown),
		cmocka_unit_test_teardown(test_sc004_token, teardown),
		cmocka_unit_test_teardown(test_sc004_apptoken, teardown),
		cmocka_unit_test_teardown(test_sc004_url, teardown),
		cmocka_unit_test_teardown(test_sc004_added, teardown),
		cmocka_unit_test_teardown(test_sc004_removed, teardown),
		cmocka_unit_test_teardown(test_bottoken_shorthand, teardown),
		cmocka_unit_test_teardown(test_bot_config_live, teardown),
		cmocka_unit_test_teardown(test_telemetry, teardown),
		cmocka_unit_test_teardown(test_sections_live, teardown),
		cmocka_unit_test_teardown(test_scalars_live, teardown),
		cmocka_unit_test_teardown(test_restart, teardown),
		cmocka_unit_test_teardown(test_worker_json, teardown),
		cmocka_unit_test_teardown(test_worker_json_telemetry, teardown),
		cmocka_unit_test_teardown(test_markdown, teardown),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
