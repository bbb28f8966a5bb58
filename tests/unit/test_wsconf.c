/*
 * Unit tests for what a session is built from besides the config
 * (sessiond/wsconf.h): .env (dotenv.c), mcp-config.json and its merge
 * (mcp.c), *.agent.md and front matter (agents.c), skill directories
 * (skills.c), the appended system message (instr.c), and a channel's set
 * with its reload and MCP status (wsconf.c), in a scratch $HOME and
 * workspace.  Bad input of every parser included.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/util.h"
#include "sessiond/wsconf.h"

static char	 T_root[64];

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	return (remove(path));
}

static int
teardown(void **state)
{
	if (T_root[0] != '\0')
		nftw(T_root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	T_root[0] = '\0';
	unsetenv("WSCONF_TEST_VAR");
	return (0);
}

static int
setup(void **state)
{
	strcpy(T_root, "/tmp/test_wsconf.XXXXXX");
	assert_non_null(mkdtemp(T_root));
	return (0);
}

static const char *
tpath(const char *rel)
{
	static char	 ring[8][PATH_MAX];
	static int	 next;
	char		*p = ring[next++ % 8];

	snprintf(p, PATH_MAX, "%s/%s", T_root, rel);
	return (p);
}

static void
put(const char *rel, const char *text)
{
	char	 dir[PATH_MAX], tmp[PATH_MAX], *slash;
	FILE	*fp;

	snprintf(dir, sizeof(dir), "%s", tpath(rel));
	slash = strrchr(dir, '/');
	*slash = '\0';
	assert_int_equal(util_mkdir_p(dir, 0700), 0);
	/* As an editor saves: a new file renamed over the old. */
	snprintf(tmp, sizeof(tmp), "%s.tmp", tpath(rel));
	assert_non_null(fp = fopen(tmp, "w"));
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(rename(tmp, tpath(rel)), 0);
}

static char *
dump(const json_t *j)
{
	static char	*last;

	free(last);
	last = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	assert_non_null(last);
	return (last);
}

/* ---- .env ----------------------------------------------------------------- */

static void
test_dotenv(void **state)
{
	static const char text[] =
	    "# a comment\n"
	    "\n"
	    "A=1\n"
	    "  B = two words  \n"
	    "C=\"quoted\"\n"
	    "D='single'\n"
	    "E=\"mismatched'\n"
	    "F=\"\n"
	    "G=a=b=c\r\n"
	    "no equals sign\n"
	    "=empty key\n"
	    "   # indented comment=yes\n"
	    "A=later wins\n"
	    "H=\n"
	    "export I=kept as upstream keeps it\n"
	    "J=\"\"";
	json_t	*v;

	assert_non_null(v = dotenv_parse(text, sizeof(text) - 1, "t/.env"));
	assert_string_equal(dump(v), "{\"A\":\"later wins\",\"B\":\"two words\","
	    "\"C\":\"quoted\",\"D\":\"single\",\"E\":\"\\\"mismatched'\","
	    "\"F\":\"\",\"G\":\"a=b=c\",\"H\":\"\",\"J\":\"\","
	    "\"export I\":\"kept as upstream keeps it\"}");
	json_decref(v);
	/* Not UTF-8, or a NUL: the line goes, the others stay. */
	assert_non_null(v = dotenv_parse("X=\xff\xfe\nY=ok\nZ=a\0b\n", 17,
	    "t/.env"));
	assert_string_equal(dump(v), "{\"Y\":\"ok\"}");
	json_decref(v);
	assert_non_null(v = dotenv_parse("", 0, "t/.env"));
	assert_int_equal(json_object_size(v), 0);
	json_decref(v);
}

static void
test_dotenv_load(void **state)
{
	json_t	*v;

	assert_non_null(v = dotenv_load(tpath("ws")));
	assert_int_equal(json_object_size(v), 0);
	json_decref(v);
	put("ws/.env", "SECRET=s3cr3t\n");
	assert_non_null(v = dotenv_load(tpath("ws")));
	assert_string_equal(dump(v), "{\"SECRET\":\"s3cr3t\"}");
	json_decref(v);
	assert_non_null(v = dotenv_load(NULL));
	json_decref(v);
}

/* ---- mcp-config.json -------------------------------------------------------- */

static json_t *
parse_ok(const char *text)
{
	json_t	*s;
	char	 err[256] = "";

	if (mcp_parse("/p/mcp-config.json", text, strlen(text), &s, err,
	    sizeof(err)) != 0)
		fail_msg("parse failed: %s", err);
	return (s);
}

static void
test_mcp_parse(void **state)
{
	json_t	*s;
	char	 err[256];

	s = parse_ok("{\"mcpServers\": {"
	    "\"a\": {\"command\": \"x\", \"args\": [\"1\"], \"env\": {\"K\": \"v\"}},"
	    "\"b\": {\"type\": \"http\", \"url\": \"http://h/mcp\", \"headers\": "
	    "{\"H\": \"v\"}, \"tools\": [\"t\"], \"oauth\": {}},"
	    "\"c\": {\"type\": \"stdio\", \"command\": \"y\", \"tools\": null}}}");
	assert_string_equal(dump(s), "{\"a\":{\"args\":[\"1\"],\"command\":\"x\","
	    "\"env\":{\"K\":\"v\"},\"tools\":[\"*\"]},\"b\":{\"headers\":"
	    "{\"H\":\"v\"},\"tools\":[\"t\"],\"type\":\"http\",\"url\":"
	    "\"http://h/mcp\"},\"c\":{\"command\":\"y\",\"tools\":[\"*\"],"
	    "\"type\":\"stdio\"}}");
	json_decref(s);
	/* Every entry the runtime would choke on is left out. */
	s = parse_ok("{\"mcpServers\": {"
	    "\"nocmd\": {\"type\": \"local\"},"
	    "\"cmdnum\": {\"command\": 5},"
	    "\"emptycmd\": {\"command\": \"\"},"
	    "\"badtype\": {\"type\": \"weird\", \"command\": \"x\"},"
	    "\"typenum\": {\"type\": 1, \"command\": \"x\"},"
	    "\"argsstr\": {\"command\": \"x\", \"args\": \"a\"},"
	    "\"argnum\": {\"command\": \"x\", \"args\": [\"a\", 5]},"
	    "\"envnum\": {\"command\": \"x\", \"env\": {\"A\": 5}},"
	    "\"envarr\": {\"command\": \"x\", \"env\": [\"A\"]},"
	    "\"cwdnum\": {\"command\": \"x\", \"cwd\": 5},"
	    "\"toolsstr\": {\"command\": \"x\", \"tools\": \"*\"},"
	    "\"toolsnum\": {\"command\": \"x\", \"tools\": [1]},"
	    "\"httpnourl\": {\"type\": \"http\"},"
	    "\"headersnum\": {\"type\": \"sse\", \"url\": \"u\", \"headers\": {\"A\": 1}},"
	    "\"notobj\": \"hello\","
	    "\"\": {\"command\": \"x\"},"
	    "\"bad}name\": {\"command\": \"x\"},"
	    "\"ctl\\u0001\": {\"command\": \"x\"},"
	    "\"ok\": {\"command\": \"x\"}}}");
	assert_string_equal(dump(s), "{\"ok\":{\"command\":\"x\",\"tools\":"
	    "[\"*\"]}}");
	json_decref(s);
	/* No servers, or not an object of them: none, no error. */
	s = parse_ok("[1, 2]");
	assert_int_equal(json_object_size(s), 0);
	json_decref(s);
	s = parse_ok("{\"mcpServers\": [{\"command\": \"x\"}]}");
	assert_int_equal(json_object_size(s), 0);
	json_decref(s);
	s = parse_ok("{}");
	assert_int_equal(json_object_size(s), 0);
	json_decref(s);
	/* A syntax error says where. */
	assert_int_equal(mcp_parse("/p/mcp-config.json", "{\n  \"mcpServers\": "
	    "{ ,\n}", 23, &s, err, sizeof(err)), -1);
	assert_null(s);
	assert_string_equal(err, "/p/mcp-config.json:2:19: string or '}' "
	    "expected near ','");
	assert_int_equal(mcp_parse("/p/x.json", "", 0, &s, err, sizeof(err)),
	    -1);
	assert_true(strncmp(err, "/p/x.json:", 10) == 0);
}

static void
test_mcp_expand(void **state)
{
	static const char *const secrets[] = { "BRIDGE_KEY" };
	struct mcp_where	 w = { NULL, NULL, secrets, 1 };
	json_t			*env;
	char			*x;

	assert_non_null(env = json_pack("{s:s,s:s}", "A", "from-dotenv", "E",
	    ""));
	setenv("WSCONF_TEST_VAR", "from-process", 1);
	setenv("BRIDGE_KEY", "must-not-leak", 1);
	setenv("A", "loses-to-dotenv", 1);
	assert_non_null(x = mcp_expand("${A}/${WSCONF_TEST_VAR}/${MISSING_X}/"
	    "${BRIDGE_KEY}/${E}", env, &w));
	assert_string_equal(x, "from-dotenv/from-process///");
	free(x);
	/* Only ${WORD}: everything else stays as written. */
	assert_non_null(x = mcp_expand("$A ${} ${A ${A-B} ${A}} $${A} ${ A}",
	    env, &w));
	assert_string_equal(x, "$A ${} ${A ${A-B} from-dotenv} $from-dotenv "
	    "${ A}");
	free(x);
	assert_non_null(x = mcp_expand("${", env, &w));
	assert_string_equal(x, "${");
	free(x);
	unsetenv("BRIDGE_KEY");
	unsetenv("A");
	json_decref(env);
}

/* A server entry of the fake, named n, in JSON. */
#define SRV(n)	"\"" n "\": {\"command\": \"/bin/" n "\"}"

static void
test_mcp_load(void **state)
{
	static const char *const secrets[] = { "BRIDGE_KEY" };
	struct mcp_where	 w = { NULL, NULL, secrets, 1 };
	struct mcpset		*ms;
	char			 home[PATH_MAX], ws[PATH_MAX];

	snprintf(home, sizeof(home), "%s", tpath("home"));
	snprintf(ws, sizeof(ws), "%s", tpath("ws"));
	put("home/.copilot/installed-plugins/v/p1/.mcp.json",
	    "{\"mcpServers\": {" SRV("plug") "," SRV("both") "}}");
	put("home/.copilot/installed-plugins/v/p2/.mcp.json",
	    "{\"mcpServers\": {\"plug\": {\"command\": \"/bin/second\"}}}");
	put("home/.copilot/mcp-config.json", "{\"mcpServers\": {" SRV("user")
	    ", \"both\": {\"command\": \"/bin/user-both\", \"env\": "
	    "{\"SECRET\": \"own\"}}," SRV("over") ", \"remote\": {\"type\": "
	    "\"http\", \"url\": \"http://h\"}}}");
	put("ws/mcp-config.json", "{\"mcpServers\": {\"over\": {\"command\": "
	    "\"/bin/ws-over\", \"env\": {\"T\": \"${SECRET}+${WSCONF_TEST_VAR}"
	    "+${BRIDGE_KEY}\"}, \"cwd\": \"/elsewhere\"}, \"wsr\": {\"type\": "
	    "\"sse\", \"url\": \"http://s\", \"env\": {\"X\": \"${SECRET}\"}}}}");
	put("ws/.env", "SECRET=dot\nOTHER=2\n");
	setenv("WSCONF_TEST_VAR", "proc", 1);
	setenv("BRIDGE_KEY", "no", 1);
	w.home = home;
	w.cwd = ws;
	assert_non_null(ms = mcp_load(&w));
	assert_string_equal(ms->err, "");
	assert_string_equal(dump(ms->sources), "{\"both\":\"user\",\"over\":"
	    "\"workspace (overriding user)\",\"plug\":\"plugin\",\"remote\":"
	    "\"user\",\"user\":\"user\",\"wsr\":\"workspace\"}");
	/* First plugin wins; the user's file over plugins; cwd and .env. */
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    ms->servers, "plug"), "command")), "/bin/plug");
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    ms->servers, "plug"), "cwd")), ws);
	assert_string_equal(dump(json_object_get(json_object_get(ms->servers,
	    "both"), "env")), "{\"OTHER\":\"2\",\"SECRET\":\"own\"}");
	/* A remote server gets neither cwd nor .env. */
	assert_string_equal(dump(json_object_get(ms->servers, "remote")),
	    "{\"tools\":[\"*\"],\"type\":\"http\",\"url\":\"http://h\"}");
	/* The workspace's: ${VAR} from .env, then us, never a secret. */
	assert_string_equal(dump(json_object_get(ms->servers, "over")),
	    "{\"command\":\"/bin/ws-over\",\"cwd\":\"/elsewhere\",\"env\":"
	    "{\"OTHER\":\"2\",\"SECRET\":\"dot\",\"T\":\"dot+proc+\"},"
	    "\"tools\":[\"*\"]}");
	assert_string_equal(dump(json_object_get(ms->servers, "wsr")),
	    "{\"env\":{\"X\":\"dot\"},\"tools\":[\"*\"],\"type\":\"sse\","
	    "\"url\":\"http://s\"}");
	assert_true(ms->watch.nany >= 1);
	mcp_free(ms);
	/* A file that does not parse: said, its servers missing. */
	put("ws/mcp-config.json", "{\"mcpServers\": {\n\"x\": }\n");
	assert_non_null(ms = mcp_load(&w));
	assert_true(strstr(ms->err, "ws/mcp-config.json:2:6: ") != NULL);
	assert_string_equal(json_string_value(json_object_get(ms->sources,
	    "over")), "user");
	assert_null(json_object_get(ms->servers, "wsr"));
	assert_non_null(json_object_get(ms->servers, "user"));
	mcp_free(ms);
	/* Nothing at all. */
	w.home = NULL;
	w.cwd = NULL;
	assert_non_null(ms = mcp_load(&w));
	assert_int_equal(json_object_size(ms->servers), 0);
	mcp_free(ms);
	unsetenv("BRIDGE_KEY");
}

/* ---- *.agent.md -------------------------------------------------------------- */

static void
fm(const char *text, const char *want, const char *want_body)
{
	char	out[256];
	size_t	body;
	int	found;

	found = agents_front(text, strlen(text), "description", out,
	    sizeof(out), 120, &body);
	if (want == NULL)
		assert_int_equal(found, 0);
	else {
		assert_int_equal(found, 1);
		assert_string_equal(out, want);
	}
	assert_string_equal(text + body, want_body);
}

static void
test_front_matter(void **state)
{
	char	long_desc[400], want[200];

	fm("---\ndescription: Does things\n---\nYou are X.\n", "Does things",
	    "You are X.\n");
	fm("---\r\nname: x\r\nDescription: \"Quoted\"\r\n---\r\nBody", "Quoted",
	    "Body");
	fm("---\ndescription: 'single' \n---\n", "single", "");
	fm("---\ndescription: >-\n  folded one\n  two\n\n  three\nx: y\n---\nB",
	    "folded one two", "B");
	fm("---\ndescription: |\nnot indented\n---\nB", "", "B");
	fm("---\ndescription:\ndescription: second\n---\nB", "second", "B");
	fm("---\ndescription:  \n---\nB", "", "B");
	fm("no front matter\ndescription: x\n", NULL,
	    "no front matter\ndescription: x\n");
	fm("---\ndescription: never closed\n", "never closed",
	    "---\ndescription: never closed\n");
	fm("---\n---\nB", NULL, "B");
	fm("", NULL, "");
	fm("---", NULL, "---");
	fm("---\n  description: indented\n---\n", NULL, "");
	memset(long_desc, 'x', sizeof(long_desc));
	memcpy(long_desc, "---\ndescription: ", 17);
	memcpy(long_desc + sizeof(long_desc) - 6, "\n---\n", 6);
	memset(want, 'x', 120);
	want[120] = '\0';
	fm(long_desc, want, "");
	/* Cut on a character, not inside one. */
	fm("---\ndescription: \xc3\xa9\xc3\xa9\n---\n", "\xc3\xa9\xc3\xa9", "");
}

static void
test_agents_load(void **state)
{
	struct agentset		*as;
	const struct agent	*a;
	json_t			*c;
	char			 home[PATH_MAX], ws[PATH_MAX];

	snprintf(home, sizeof(home), "%s", tpath("home"));
	snprintf(ws, sizeof(ws), "%s", tpath("ws"));
	put("home/.copilot/installed-plugins/v/p/agents/shared.agent.md",
	    "---\ndescription: from plugin\n---\nplugin prompt");
	put("home/.copilot/installed-plugins/v/p/agents/plug.agent.md", "P");
	put("home/.copilot/agents/shared.agent.md",
	    "---\ndescription: from user\n---\nuser prompt");
	put("home/.copilot/agents/notes.md", "not an agent");
	put("ws/.github/agents/gh.agent.md", "---\ndescription: gh\n---\ngh");
	put("ws/agents/shared.agent.md", "---\ndescription: ws\n---\nws prompt");
	put("ws/agents/.agent.md", "no name");
	put("ws/agents/bad.agent.md", "\xff\xfe");
	assert_non_null(as = agents_load(home, ws));
	assert_int_equal(as->n, 3);
	assert_non_null(a = agents_find(as, "shared"));
	assert_string_equal(a->source, "workspace");
	assert_string_equal(a->description, "ws");
	assert_string_equal(a->prompt, "ws prompt");
	assert_non_null(a = agents_find(as, "plug"));
	assert_string_equal(a->source, "plugin");
	assert_string_equal(a->description, "");
	assert_non_null(a = agents_find(as, "gh"));
	assert_null(agents_find(as, "bad"));
	assert_null(agents_find(as, "notes"));
	assert_non_null(c = agents_custom(as));
	assert_string_equal(dump(c), "[{\"name\":\"plug\",\"prompt\":\"P\"},"
	    "{\"description\":\"ws\",\"name\":\"shared\",\"prompt\":"
	    "\"ws prompt\"},{\"description\":\"gh\",\"name\":\"gh\","
	    "\"prompt\":\"gh\"}]");
	json_decref(c);
	agents_free(as);
	assert_non_null(as = agents_load(NULL, NULL));
	assert_int_equal(as->n, 0);
	assert_non_null(c = agents_custom(as));
	assert_string_equal(dump(c), "[]");
	json_decref(c);
	agents_free(as);
}

/* ---- skills and instructions ------------------------------------------------- */

static void
test_skills(void **state)
{
	struct skillset	*ss;
	json_t		*sig, *l;
	char		 home[PATH_MAX], ws[PATH_MAX], want[4 * PATH_MAX];
	struct timespec	 ts[2] = { { 0, 0 }, { 1000, 0 } };

	snprintf(home, sizeof(home), "%s", tpath("home"));
	snprintf(ws, sizeof(ws), "%s", tpath("ws"));
	put("home/.copilot/skills/one/SKILL.md",
	    "---\nname: one\ndescription: first skill\n---\nbody");
	put("home/.copilot/installed-plugins/v/p/skills/ps/SKILL.md", "x");
	put("ws/.github/skills/wsk/SKILL.md", "---\ndescription: ws skill\n---\n");
	assert_non_null(ss = skills_load(home, ws));
	snprintf(want, sizeof(want), "[\"%s/.copilot/skills\",\"%s/.agents/"
	    "skills\",\"%s/.copilot/installed-plugins/v/p/skills\"]", home,
	    home, home);
	assert_string_equal(dump(ss->dirs), want);
	assert_int_equal(json_array_size(ss->sig), 3);
	assert_non_null(sig = json_deep_copy(ss->sig));
	skills_free(ss);
	/* A skill changed: the signature says so. */
	assert_int_equal(utimensat(AT_FDCWD, tpath(
	    "ws/.github/skills/wsk/SKILL.md"), ts, 0), 0);
	assert_non_null(ss = skills_load(home, ws));
	assert_false(json_equal(sig, ss->sig));
	skills_free(ss);
	json_decref(sig);
	assert_non_null(l = skills_list(home, ws));
	assert_string_equal(dump(l), "[{\"description\":\"first skill\","
	    "\"name\":\"one\",\"source\":\"user\"},{\"description\":"
	    "\"ws skill\",\"name\":\"wsk\",\"source\":\"workspace\"},"
	    "{\"description\":\"\",\"name\":\"ps\",\"source\":\"plugin\"}]");
	json_decref(l);
}

static void
test_instr(void **state)
{
	struct wswatch	 w;
	json_t		*m;
	const char	*c;

	memset(&w, 0, sizeof(w));
	assert_non_null(m = instr_system_message(NULL, &w));
	c = json_string_value(json_object_get(json_object_get(json_object_get(
	    m, "sections"), "custom_instructions"), "content"));
	assert_non_null(c);
	assert_true(strstr(c, "<bridge_instructions>") == c);
	assert_non_null(strstr(c, "no_reply"));
	assert_non_null(strstr(c, "Never read, cat, or display `.env`"));
	assert_null(strstr(c, "local_instructions"));
	assert_string_equal(json_string_value(json_object_get(m, "mode")),
	    "customize");
	json_decref(m);
	put("ws/AGENTS.local.md", "\n\n  Local rule: be brief.  \n\n");
	assert_non_null(m = instr_system_message(tpath("ws"), &w));
	c = json_string_value(json_object_get(json_object_get(json_object_get(
	    m, "sections"), "custom_instructions"), "content"));
	assert_non_null(strstr(c, "</bridge_instructions>\n\n"
	    "<local_instructions>\nLocal rule: be brief.\n</local_instructions>"));
	json_decref(m);
	assert_int_equal(w.ndirs, 1);
	wswatch_free(&w);
}

/* ---- a channel's set ----------------------------------------------------------- */

static void
test_wsconf_reload(void **state)
{
	struct wsconf	 ws;
	json_t		*x, *ev;
	char		 home[PATH_MAX], cwd[PATH_MAX];

	memset(&ws, 0, sizeof(ws));
	snprintf(home, sizeof(home), "%s", tpath("home"));
	snprintf(cwd, sizeof(cwd), "%s", tpath("ws"));
	assert_int_equal(util_mkdir_p(home, 0700), 0);
	setenv("HOME", home, 1);
	put("ws/mcp-config.json", "{\"mcpServers\": {" SRV("a") "}}");
	assert_true(wsconf_load(&ws, &ws, cwd, NULL) ==
	    (WSCONF_OPTS | WSCONF_SKILLS));
	assert_true(wsconf_current(&ws, cwd));
	assert_false(wsconf_current(&ws, home));
	/* Nothing changed: nothing to do. */
	assert_int_equal(wsconf_load(&ws, &ws, cwd, NULL), 0);
	put("ws/mcp-config.json", "{\"mcpServers\": {" SRV("a") "," SRV("b")
	    "}}");
	assert_int_equal(wsconf_load(&ws, &ws, cwd, NULL), WSCONF_MCP);
	/* Broken: the two servers stay, and the error is kept. */
	put("ws/mcp-config.json", "{\"mcpServers\": {" SRV("a") ",,}}");
	assert_int_equal(wsconf_load(&ws, &ws, cwd, NULL), 0);
	assert_non_null(strstr(ws.err, "mcp-config.json:1:"));
	assert_int_equal(json_object_size(ws.mcp->servers), 2);
	put("ws/AGENTS.local.md", "local");
	put("ws/agents/x.agent.md", "x");
	assert_int_equal(wsconf_load(&ws, &ws, cwd, NULL),
	    WSCONF_INSTR | WSCONF_AGENTS);
	assert_int_equal(json_object_size(ws.mcp->servers), 2);
	put("ws/mcp-config.json", "{\"mcpServers\": {" SRV("a") "}}");
	assert_int_equal(wsconf_load(&ws, &ws, cwd, NULL), WSCONF_MCP);
	assert_string_equal(ws.err, "");
	assert_int_equal(json_object_size(ws.mcp->servers), 1);
	assert_non_null(x = json_object());
	assert_int_equal(wsconf_extra(&ws, x), 0);
	assert_non_null(json_object_get(json_object_get(x, "mcpServers"), "a"));
	assert_int_equal(json_array_size(json_object_get(x, "customAgents")), 1);
	assert_true(json_is_true(json_object_get(x, "enableConfigDiscovery")));
	assert_non_null(json_object_get(x, "skillDirectories"));
	assert_non_null(json_object_get(x, "systemMessage"));
	json_decref(x);
	/* The runtime's word on the servers. */
	assert_non_null(ev = json_pack("{s:[{s:s,s:s},{s:s,s:s,s:s}]}",
	    "servers", "name", "a", "status", "connected", "name", "bad",
	    "status", "failed", "error", "exited"));
	wsconf_status(&ws, "ch", "session.mcp_servers_loaded", ev);
	json_decref(ev);
	assert_string_equal(dump(ws.status), "{\"a\":{\"error\":\"\",\"status\":"
	    "\"connected\"},\"bad\":{\"error\":\"exited\",\"status\":"
	    "\"failed\"}}");
	assert_non_null(ev = json_pack("{s:s,s:s}", "serverName", "a",
	    "status", "pending"));
	wsconf_status(&ws, "ch", "session.mcp_server_status_changed", ev);
	json_decref(ev);
	assert_non_null(ev = json_pack("{s:s}", "serverName", "bad"));
	wsconf_status(&ws, "ch", "session.mcp_server_removed", ev);
	json_decref(ev);
	assert_string_equal(dump(ws.status), "{\"a\":{\"error\":\"\",\"status\":"
	    "\"pending\"}}");
	wsconf_drop(&ws, &ws);
	assert_null(ws.cwd);
}

static void
test_wsconf_match(void **state)
{
	assert_true(wsconf_match("mcp-config.json"));
	assert_true(wsconf_match("x.agent.md"));
	assert_true(wsconf_match("AGENTS.local.md"));
	assert_true(wsconf_match(".env"));
	assert_false(wsconf_match(".agent.md"));
	assert_false(wsconf_match(".mcp-config.json.swp"));
	assert_false(wsconf_match("AGENTS.md"));
	assert_false(wsconf_match("hooks.json"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dotenv),
		cmocka_unit_test_setup_teardown(test_dotenv_load, setup,
		    teardown),
		cmocka_unit_test(test_mcp_parse),
		cmocka_unit_test(test_mcp_expand),
		cmocka_unit_test_setup_teardown(test_mcp_load, setup, teardown),
		cmocka_unit_test(test_front_matter),
		cmocka_unit_test_setup_teardown(test_agents_load, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_skills, setup, teardown),
		cmocka_unit_test_setup_teardown(test_instr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wsconf_reload, setup,
		    teardown),
		cmocka_unit_test(test_wsconf_match),
	};

	return (cmocka_run_group_tests_name("wsconf", tests, NULL, NULL));
}
