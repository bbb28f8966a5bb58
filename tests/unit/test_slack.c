/*
 * Unit tests for the pure parts of the Slack worker: Markdown to mrkdwn,
 * upstream's 3900-character chunking, the limits (an update is never cut,
 * the conversion's growth is bounded), multibyte text at the cuts, Socket
 * Mode frame parsing (bad input included), event filtering, mention
 * stripping, entity decoding, the INBOUND an event becomes, and OUTBOUND
 * ops as Web API calls.  Table-driven.
 *
 * Frames are written with single quotes for readability; dq() turns them
 * into JSON.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/net.h"
#include "common/utf8.h"
#include "common/util.h"
#include "worker/adapter.h"
#include "worker/adapters/slack.h"
#include "worker/call.h"
#include "worker/mrkdwn.h"

/* U+1F469 ZWJ U+1F4BB: one cluster of 3 characters. */
#define WOMAN_DEV "\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x92\xbb"

static size_t
runes(const char *s)
{
	return (utf8_count(s, strlen(s)));
}

static const struct slack_self me = { "UBOT", "slack:b",
    "https://slack.com/api/" };

static char *
dq(const char *s)
{
	char	*d = strdup(s), *p;

	assert_non_null(d);
	for (p = d; *p != '\0'; p++)
		if (*p == '\'')
			*p = '"';
	return (d);
}

static json_t *
J(const char *s)
{
	char	*d = dq(s);
	json_t	*j = json_loads(d, 0, NULL);

	free(d);
	assert_non_null(j);
	return (j);
}

static void
test_mrkdwn_table(void **state)
{
	static const struct { const char *in, *out; } t[] = {
		{ "", "" },
		{ "plain text", "plain text" },
		{ "**bold** and **more**", "*bold* and *more*" },
		{ "a ** b", "a ** b" },			/* unclosed */
		{ "~~gone~~", "~gone~" },
		{ "see [the docs](https://x.io/a?b=1)",
		    "see <https://x.io/a?b=1|the docs>" },
		{ "[a](b c)", "[a](b c)" },		/* not a link */
		{ "[](u)", "[](u)" },
		{ "**[x](http://y)**", "*<http://y|x>*" },
		{ "# Title", "*Title*" },
		{ "### Sub ###", "*Sub*" },
		{ "## **Bold** head", "*Bold head*" },
		{ "#nospace", "#nospace" },
		{ "####### seven", "####### seven" },
		{ "`**not**` **yes**", "`**not**` *yes*" },
		{ "``a ` b`` **c**", "``a ` b`` *c*" },
		{ "```\n**keep** [a](b)\n# no\n```\n**x**",
		    "```\n**keep** [a](b)\n# no\n```\n*x*" },
		{ "  ```c\n# x\n  ```", "  ```c\n# x\n  ```" },
		{ "| a | b |\n|---|:-:|\n| 1 | 2 |\nafter",
		    "```\n| a | b |\n|---|:-:|\n| 1 | 2 |\n```\nafter" },
		{ "| a |\n|---|\n| **1** |",
		    "```\n| a |\n|---|\n| **1** |\n```" },
		{ "| not a table |\nline", "| not a table |\nline" },
		{ "line1\n\nline3\n", "line1\n\nline3\n" },
		{ "héllo **wörld**", "héllo *wörld*" },
	};
	char	*out;
	size_t	 i;

	for (i = 0; i < nitems(t); i++) {
		out = mrkdwn_from_markdown(t[i].in);
		assert_non_null(out);
		if (strcmp(out, t[i].out) != 0)
			fail_msg("case %zu: \"%s\" -> \"%s\", want \"%s\"", i,
			    t[i].in, out, t[i].out);
		free(out);
	}
	assert_null(mrkdwn_from_markdown(NULL));
}

static char *
repeat(const char *unit, size_t n)
{
	size_t	 u = strlen(unit), i;
	char	*s = malloc(u * n + 1);

	assert_non_null(s);
	for (i = 0; i < n; i++)
		memcpy(s + i * u, unit, u);
	s[u * n] = '\0';
	return (s);
}

static void
test_chunk_rules(void **state)
{
	char	**c, *s, *t;
	size_t	  n;

	/* Short: one piece, as it is. */
	n = mrkdwn_chunk("hello", 10, &c);
	assert_int_equal(n, 1);
	assert_string_equal(c[0], "hello");
	mrkdwn_chunks_free(c, n);
	/* Exactly max: one piece. */
	n = mrkdwn_chunk("0123456789", 10, &c);
	assert_int_equal(n, 1);
	mrkdwn_chunks_free(c, n);
	/* A newline past 30%: cut there, and the newline is dropped. */
	n = mrkdwn_chunk("abcdef\nghijklmn", 10, &c);
	assert_int_equal(n, 2);
	assert_string_equal(c[0], "abcdef");
	assert_string_equal(c[1], "ghijklmn");
	mrkdwn_chunks_free(c, n);
	/* A newline too early (before 30%): the last space instead. */
	n = mrkdwn_chunk("a\nbcd efghijk", 10, &c);
	assert_int_equal(n, 2);
	assert_string_equal(c[0], "a\nbcd");
	assert_string_equal(c[1], " efghijk");
	mrkdwn_chunks_free(c, n);
	/* Neither: a hard cut at max. */
	n = mrkdwn_chunk("abcdefghijklmnopqrstuvwxy", 10, &c);
	assert_int_equal(n, 3);
	assert_string_equal(c[0], "abcdefghij");
	assert_string_equal(c[1], "klmnopqrst");
	assert_string_equal(c[2], "uvwxy");
	mrkdwn_chunks_free(c, n);
	/* Characters, not bytes: 3900 "é" fit, 3901 do not. */
	s = repeat("é", SLACK_TEXT_MAX);
	n = mrkdwn_chunk(s, SLACK_TEXT_MAX, &c);
	assert_int_equal(n, 1);
	mrkdwn_chunks_free(c, n);
	free(s);
	s = repeat("é", SLACK_TEXT_MAX + 1);
	n = mrkdwn_chunk(s, SLACK_TEXT_MAX, &c);
	assert_int_equal(n, 2);
	assert_int_equal(runes(c[0]), SLACK_TEXT_MAX);
	assert_string_equal(c[1], "é");
	mrkdwn_chunks_free(c, n);
	free(s);
	/* Long lines: each piece ends at a line end, within the limit. */
	t = repeat("0123456789 123456789 123456789 123456789\n", 300);
	n = mrkdwn_chunk(t, SLACK_TEXT_MAX, &c);
	assert_true(n >= 3);
	for (size_t i = 0; i < n; i++) {
		assert_true(runes(c[i]) <= SLACK_TEXT_MAX);
		assert_true(c[i][0] != '\n');
	}
	mrkdwn_chunks_free(c, n);
	free(t);
}

/*
 * An update is never cut: up to SLACK_MSG_MAX characters of mrkdwn go
 * whole, one more fails with the reason; and the longest text sessiond
 * sends (SLACK_POST_MAX of Markdown) cannot grow past that, even made of
 * nothing but tables, the one construct the conversion lengthens.
 */
static void
test_update_is_never_cut(void **state)
{
	struct slack_req	 r;
	json_t			*op;
	char			*s, *md, err[160];
	size_t			 n;

	s = repeat("\xc3\xbc", SLACK_MSG_MAX);
	op = json_pack("{s:s,s:s,s:s,s:s}", "op", "patch", "channel", "C1",
	    "post", "1.2", "text", s);
	assert_int_equal(slack_op_request(op, &r, err, sizeof(err)), 0);
	assert_string_equal(json_string_value(json_object_get(r.body, "text")),
	    s);
	slack_req_clear(&r);
	json_decref(op);
	free(s);
	s = repeat("\xc3\xbc", SLACK_MSG_MAX + 1);
	op = json_pack("{s:s,s:s,s:s,s:s}", "op", "patch", "channel", "C1",
	    "post", "1.2", "text", s);
	assert_int_equal(slack_op_request(op, &r, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "over the 40000"));
	slack_req_clear(&r);
	json_decref(op);
	free(s);
	/* The worst case: a table every MRKDWN_TABLE_MIN characters. */
	s = repeat("|\n|-\n\n", SLACK_POST_MAX / MRKDWN_TABLE_MIN);
	assert_int_equal(runes(s), SLACK_POST_MAX);
	md = mrkdwn_from_markdown(s);
	assert_non_null(md);
	n = runes(md);
	assert_true(n > SLACK_POST_MAX);
	assert_true(n <= mrkdwn_max_len(SLACK_POST_MAX));
	assert_true(mrkdwn_max_len(SLACK_POST_MAX) <= SLACK_MSG_MAX);
	free(md);
	free(s);
}

/*
 * Multibyte text at the chunk limit: every chunk is within it, valid
 * UTF-8, starts on a cluster, and the chunks joined are the text.
 */
static void
test_chunk_multibyte(void **state)
{
	static const char *const units[] = { "\xf0\x9f\x98\x80",
	    WOMAN_DEV, "\xe6\xbc\xa2\xe5\xad\x97", "e\xcc\x81" };
	char		**c, *s, *joined;
	size_t		  n, i, u, len;
	uint32_t	  cp;

	for (u = 0; u < nitems(units); u++) {
		s = repeat(units[u], SLACK_TEXT_MAX + 1);	/* over it */
		len = strlen(s);
		n = mrkdwn_chunk(s, SLACK_TEXT_MAX, &c);
		assert_true(n >= 2);
		joined = calloc(1, len + 1);
		assert_non_null(joined);
		for (i = 0; i < n; i++) {
			assert_true(runes(c[i]) <= SLACK_TEXT_MAX);
			assert_true(utf8_valid(c[i], strlen(c[i])));
			(void)utf8_char(c[i], strlen(c[i]), &cp);
			assert_true(cp != 0x200D && cp != 0x0301);
			strcat(joined, c[i]);
		}
		assert_string_equal(joined, s);
		free(joined);
		mrkdwn_chunks_free(c, n);
		free(s);
	}
}

/* What a Web API answer means: retries, failures, a refused token. */
static void
test_classify(void **state)
{
	static const struct {
		long		 status;
		const char	*body;
		enum call_verdict v;
		int		 refused;
		const char	*error;
	} t[] = {
		{ 200, "{\"ok\":true,\"ts\":\"1.2\"}", CALL_OK, 0, "" },
		{ 200, "{\"ok\":false,\"error\":\"invalid_auth\"}", CALL_FAIL,
		  1, "chat.update: invalid_auth" },
		{ 200, "{\"ok\":false,\"error\":\"token_revoked\"}",
		  CALL_FAIL, 1, "chat.update: token_revoked" },
		{ 200, "{\"ok\":false,\"error\":\"not_authed\"}", CALL_FAIL,
		  1, "chat.update: not_authed" },
		{ 200, "{\"ok\":false,\"error\":\"account_inactive\"}",
		  CALL_FAIL, 1, "chat.update: account_inactive" },
		{ 200, "{\"ok\":false,\"error\":\"token_expired\"}",
		  CALL_FAIL, 1, "chat.update: token_expired" },
		{ 200, "{\"ok\":false,\"error\":\"message_not_found\"}",
		  CALL_FAIL, 0, "chat.update: message_not_found" },
		{ 200, "{\"ok\":false}", CALL_FAIL, 0, "chat.update: not ok" },
		{ 200, "<html>", CALL_FAIL, 0,
		  "chat.update: the answer is not JSON" },
		{ 429, "{\"ok\":false,\"error\":\"ratelimited\"}",
		  CALL_RETRY_AFTER, 0, "chat.update: HTTP 429 ratelimited" },
		{ 502, "", CALL_RETRY, 0, "chat.update: HTTP 502" },
		{ 404, "", CALL_FAIL, 0, "chat.update: HTTP 404" },
		{ 0, "", CALL_RETRY, 0, "chat.update: Failed to connect" },
	};
	struct net_resp		 r;
	struct call_result	 cr;
	size_t			 i;

	for (i = 0; i < nitems(t); i++) {
		memset(&r, 0, sizeof(r));
		memset(&cr, 0, sizeof(cr));
		r.status = t[i].status;
		r.body = (char *)t[i].body;
		r.bodylen = strlen(t[i].body);
		r.retry_after = -1;
		r.error = t[i].status == 0 ? "Failed to connect" : NULL;
		cr.resp = &r;
		cr.label = cr.what = "chat.update";
		if (slack_classify(&cr) != t[i].v || cr.token_refused !=
		    t[i].refused || strcmp(cr.error, t[i].error) != 0)
			fail_msg("case %zu: \"%s\" refused %d", i, cr.error,
			    cr.token_refused);
		json_decref(cr.json);
	}
	assert_false(slack_token_refused(NULL));
	assert_false(slack_token_refused("invalid_auth_x"));
}

static void
test_parse_frame_table(void **state)
{
	static const struct {
		const char	*frame;
		int		 ok;
		int		 kind;
		const char	*env;
	} t[] = {
		{ "{'type':'hello','num_connections':2}", 1, SLACK_F_HELLO, "" },
		{ "{'type':'disconnect','reason':'warning'}", 1,
		    SLACK_F_DISCONNECT, "" },
		{ "{'type':'events_api','envelope_id':'e1','payload':"
		    "{'event_id':'Ev1','event':{'type':'message'}}}", 1,
		    SLACK_F_EVENT, "e1" },
		{ "{'type':'events_api','envelope_id':'e2'}", 1, SLACK_F_EVENT,
		    "e2" },
		{ "{'type':'events_api','envelope_id':'e3','payload':"
		    "{'event':'x'}}", 1, SLACK_F_EVENT, "e3" },
		{ "{'type':'slash_commands','envelope_id':'e4'}", 1,
		    SLACK_F_OTHER, "e4" },
		{ "{'type':'interactive'}", 1, SLACK_F_OTHER, "" },
		{ "{'envelope_id':'e5'}", 0, 0, "e5" },	/* no type */
		{ "{'type':7,'envelope_id':'e6'}", 0, 0, "e6" },
		{ "{'type':'events_api','envelope_id':7}", 1, SLACK_F_EVENT,
		    "" },
		{ "[1,2]", 0, 0, "" },
		{ "'str'", 0, 0, "" },
		{ "not json", 0, 0, "" },
		{ "", 0, 0, "" },
		{ "{'type':'hello'", 0, 0, "" },
	};
	struct slack_frame	 f;
	char			*d, err[256];
	size_t			 i;
	int			 rc;

	for (i = 0; i < nitems(t); i++) {
		d = dq(t[i].frame);
		rc = slack_parse_frame(d, strlen(d), &f, err, sizeof(err));
		free(d);
		if ((rc == 0) != t[i].ok)
			fail_msg("case %zu (%s): rc %d (%s)", i, t[i].frame, rc,
			    rc == -1 ? err : "");
		assert_string_equal(f.env_id, t[i].env);
		if (rc == -1) {
			assert_null(f.frame);
			continue;
		}
		assert_int_equal(f.kind, t[i].kind);
		slack_frame_clear(&f);
	}
}

static void
test_parse_frame_fields(void **state)
{
	struct slack_frame	 f;
	char			*d, err[256];

	d = dq("{'envelope_id':'env-1','type':'events_api','retry_attempt':2,"
	    "'payload':{'event_id':'Ev9','event':{'type':'app_mention',"
	    "'text':'x'}}}");
	assert_int_equal(slack_parse_frame(d, strlen(d), &f, err,
	    sizeof(err)), 0);
	free(d);
	assert_string_equal(f.env_id, "env-1");
	assert_string_equal(f.event_id, "Ev9");
	assert_int_equal(f.retry_attempt, 2);
	assert_string_equal(json_string_value(json_object_get(f.event,
	    "type")), "app_mention");
	slack_frame_clear(&f);
	d = dq("{'type':'disconnect','reason':'refresh_requested'}");
	assert_int_equal(slack_parse_frame(d, strlen(d), &f, err,
	    sizeof(err)), 0);
	free(d);
	assert_string_equal(f.reason, "refresh_requested");
	slack_frame_clear(&f);
	/* An over-long envelope id is not kept (it could not be acked). */
	d = dq("{'type':'x','envelope_id':'"
	    "0123456789012345678901234567890123456789012345678901234567890123"
	    "0123456789012345678901234567890123456789012345678901234567890123"
	    "'}");
	assert_int_equal(slack_parse_frame(d, strlen(d), &f, err,
	    sizeof(err)), 0);
	free(d);
	assert_string_equal(f.env_id, "");
	slack_frame_clear(&f);
}

static void
test_strip_and_decode(void **state)
{
	static const struct { const char *in, *out; int m; } t[] = {
		{ "<@UBOT> hello", "hello", 1 },
		{ "<@UBOT>: hello", "hello", 1 },
		{ "hey <@UBOT>, how", "hey how", 1 },
		{ "hi <@UBOT|bot> there", "hi there", 1 },
		{ "<@UBOTX> no", "<@UBOTX> no", 0 },
		{ "<@UOTHER> hi", "<@UOTHER> hi", 0 },
		{ "<@UBOT", "<@UBOT", 0 },
		{ "  spaced  ", "spaced", 0 },
		{ "<@UBOT>", "", 1 },
		{ "", "", 0 },
	};
	static const struct { const char *in, *out; } e[] = {
		{ "a &amp; b", "a & b" },
		{ "&lt;tag&gt;", "<tag>" },
		{ "&amp;lt;", "&lt;" },
		{ "&quot; &nbsp; &", "&quot; &nbsp; &" },
		{ "&am", "&am" },
	};
	char	*out;
	size_t	 i;
	int	 m;

	for (i = 0; i < nitems(t); i++) {
		out = slack_strip_mention(t[i].in, "UBOT", &m);
		assert_non_null(out);
		if (strcmp(out, t[i].out) != 0 || m != t[i].m)
			fail_msg("case %zu: \"%s\" -> \"%s\" (%d)", i, t[i].in,
			    out, m);
		free(out);
	}
	for (i = 0; i < nitems(e); i++) {
		out = slack_decode_entities(e[i].in);
		assert_string_equal(out, e[i].out);
		free(out);
	}
}

static void
test_inbound_table(void **state)
{
	static const struct {
		const char	*ev;
		int		 rc;
		const char	*text, *root;
		int		 dm, mention;
	} t[] = {
		{ "{'type':'message','channel':'C1','user':'UHUM','ts':"
		    "'1717000000.000100','text':'hi <@UBOT> &amp; co'}", 1,
		    "hi & co", "", 0, 1 },
		{ "{'type':'app_mention','channel':'C1','user':'UHUM','ts':"
		    "'1717000000.000100','text':'<@UBOT> do x'}", 1, "do x", "",
		    0, 1 },
		{ "{'type':'message','channel':'D1','user':'UHUM','ts':'1.2',"
		    "'text':'dm'}", 1, "dm", "", 1, 0 },
		{ "{'type':'message','channel':'C1','user':'UHUM','ts':'5.6',"
		    "'thread_ts':'1.2','text':'in thread'}", 1, "in thread",
		    "1.2", 0, 0 },
		{ "{'type':'message','channel':'C1','user':'UHUM','ts':'1.2',"
		    "'thread_ts':'1.2','text':'root'}", 1, "root", "", 0, 0 },
		{ "{'type':'message','subtype':'thread_broadcast','channel':"
		    "'C1','user':'UHUM','ts':'1.2','text':'b'}", 1, "b", "", 0,
		    0 },
		{ "{'type':'message','subtype':'file_share','channel':'C1',"
		    "'user':'UHUM','ts':'1.2'}", 1, "", "", 0, 0 },
		/* dropped */
		{ "{'type':'message','channel':'C1','user':'UBOT','bot_id':"
		    "'B1','ts':'1.2','text':'own echo'}", 0, NULL, NULL, 0, 0 },
		{ "{'type':'message','channel':'C1','user':'UBOT','ts':'1.2',"
		    "'text':'own'}", 0, NULL, NULL, 0, 0 },
		{ "{'type':'message','subtype':'bot_message','bot_id':'B2',"
		    "'channel':'C1','ts':'1.2'}", 0, NULL, NULL, 0, 0 },
		{ "{'type':'message','subtype':'channel_join','channel':'C1',"
		    "'user':'UHUM','ts':'1.2'}", 0, NULL, NULL, 0, 0 },
		{ "{'type':'message','subtype':'message_changed','hidden':true,"
		    "'channel':'C1','ts':'1.2','message':{'user':'UHUM'}}", 0,
		    NULL, NULL, 0, 0 },
		{ "{'type':'message','hidden':true,'channel':'C1','user':"
		    "'UHUM','ts':'1.2'}", 0, NULL, NULL, 0, 0 },
		{ "{'type':'reaction_added','user':'UHUM'}", 0, NULL, NULL, 0,
		    0 },
		{ "{'type':'message','channel':'C1','ts':'1.2'}", 0, NULL, NULL,
		    0, 0 },
		/* unreadable */
		{ "{'type':'message','user':'UHUM','ts':'1.2'}", -1, NULL,
		    NULL, 0, 0 },
		{ "{'type':'message','channel':'C1','user':'UHUM','ts':1.2}",
		    -1, NULL, NULL, 0, 0 },
		{ "{'type':'message','channel':'C 1','user':'UHUM','ts':'1.2'}",
		    -1, NULL, NULL, 0, 0 },
		{ "{'type':'message','channel':'C1','user':'UHUM','ts':'12'}",
		    -1, NULL, NULL, 0, 0 },
		{ "{'text':'no type'}", -1, NULL, NULL, 0, 0 },
		{ "[]", -1, NULL, NULL, 0, 0 },
	};
	const char	*why;
	json_t		*ev, *out;
	size_t		 i;
	int		 rc;

	for (i = 0; i < nitems(t); i++) {
		ev = J(t[i].ev);
		rc = slack_inbound(&me, ev, &out, &why);
		if (rc != t[i].rc)
			fail_msg("case %zu: rc %d (%s)", i, rc, why);
		json_decref(ev);
		if (rc != 1) {
			assert_null(out);
			assert_non_null(why);
			continue;
		}
		assert_string_equal(json_string_value(json_object_get(out,
		    "text")), t[i].text);
		assert_string_equal(json_string_value(json_object_get(out,
		    "root")), t[i].root);
		assert_int_equal(json_is_true(json_object_get(out, "isDM")),
		    t[i].dm);
		assert_int_equal(json_is_true(json_object_get(out,
		    "mentionsBot")), t[i].mention);
		assert_string_equal(json_string_value(json_object_get(out,
		    "bot")), "slack:b");
		assert_string_equal(json_string_value(json_object_get(out,
		    "userId")), json_string_value(json_object_get(out, "user")));
		json_decref(out);
	}
}

/* The message and the app_mention of one post: one id, and its fields. */
static void
test_inbound_ids(void **state)
{
	json_t		*a = J("{'type':'message','channel':'C9','user':'UH',"
			    "'ts':'1717000000.123456','text':'<@UBOT> x'}");
	json_t		*b = J("{'type':'app_mention','channel':'C9','user':"
			    "'UH','ts':'1717000000.123456','text':'<@UBOT> x'}");
	json_t		*oa, *ob;
	const char	*why;

	assert_int_equal(slack_inbound(&me, a, &oa, &why), 1);
	assert_int_equal(slack_inbound(&me, b, &ob, &why), 1);
	assert_string_equal(json_string_value(json_object_get(oa, "id")),
	    "C9:1717000000.123456");
	assert_string_equal(json_string_value(json_object_get(ob, "id")),
	    "C9:1717000000.123456");
	assert_int_equal(json_integer_value(json_object_get(oa, "createAt")),
	    1717000000123LL);
	assert_string_equal(json_string_value(json_object_get(oa, "user")),
	    "UH");
	json_decref(a);
	json_decref(b);
	json_decref(oa);
	json_decref(ob);
}

static void
test_ts(void **state)
{
	assert_true(slack_valid_ts("1717000000.000100"));
	assert_true(slack_valid_ts("1.2"));
	assert_false(slack_valid_ts("1717000000"));
	assert_false(slack_valid_ts(".5"));
	assert_false(slack_valid_ts("1."));
	assert_false(slack_valid_ts("1.2.3"));
	assert_false(slack_valid_ts("1.2x"));
	assert_false(slack_valid_ts(""));
	assert_false(slack_valid_ts(NULL));
	assert_false(slack_valid_ts("123456789012345678901234567.12345"));
	assert_string_equal(slack_bare_ts("C1:1.2"), "1.2");
	assert_string_equal(slack_bare_ts("1.2"), "1.2");
	assert_null(slack_bare_ts("C1:"));
	assert_null(slack_bare_ts("C1"));
	assert_null(slack_bare_ts(NULL));
	assert_int_equal(slack_ts_ms("1717000000.000100"), 1717000000000LL);
	assert_int_equal(slack_ts_ms("1.5"), 1500);
	assert_int_equal(slack_ts_ms("2.0459"), 2045);
	assert_int_equal(slack_ts_ms("x"), 0);
	/* Seconds whose milliseconds would not fit (found by fuzzing). */
	assert_int_equal(slack_ts_ms("10177000171700000.000100"), 0);
	assert_int_equal(slack_ts_ms("1234567890123.5"), 0);
	assert_int_equal(slack_ts_ms("999999999999.999"), 999999999999999LL);
}

static void
test_op_request_table(void **state)
{
	static const struct {
		const char	*op;
		int		 rc;
		const char	*method;
		const char	*body;	/* expected, or NULL */
	} t[] = {
		{ "{'ref':1,'op':'post','channel':'C1','text':'**hi**'}", 0,
		    "chat.postMessage", "{'channel':'C1','text':'*hi*'}" },
		{ "{'ref':1,'op':'post','channel':'C1','root':'1.2','text':"
		    "'x'}", 0, "chat.postMessage",
		    "{'channel':'C1','text':'x','thread_ts':'1.2'}" },
		{ "{'ref':1,'op':'post','channel':'C1','root':'C1:1.2','text':"
		    "'x'}", 0, "chat.postMessage",
		    "{'channel':'C1','text':'x','thread_ts':'1.2'}" },
		{ "{'ref':1,'op':'post','channel':'C1','root':'','text':'x'}",
		    0, "chat.postMessage", "{'channel':'C1','text':'x'}" },
		{ "{'ref':1,'op':'post','channel':'C1','root':'bad','text':"
		    "'x'}", -1, NULL, NULL },
		{ "{'ref':1,'op':'post','channel':'C1'}", -1, NULL, NULL },
		{ "{'ref':1,'op':'post','text':'x'}", -1, NULL, NULL },
		{ "{'ref':1,'op':'post','channel':'C 1','text':'x'}", -1,
		    NULL, NULL },
		{ "{'ref':2,'op':'patch','channel':'C1','post':'1.2','text':"
		    "'[a](http://b)'}", 0, "chat.update",
		    "{'channel':'C1','ts':'1.2','text':'<http://b|a>'}" },
		{ "{'ref':2,'op':'patch','channel':'C1','post':'x','text':'y'}",
		    -1, NULL, NULL },
		{ "{'ref':3,'op':'delete','channel':'C1','post':'1.2'}", 0,
		    "chat.delete", "{'channel':'C1','ts':'1.2'}" },
		{ "{'ref':3,'op':'delete','channel':'C1'}", -1, NULL, NULL },
		{ "{'ref':4,'op':'react','channel':'C1','post':'C1:1.2',"
		    "'emoji':':thumbsup:'}", 0, "reactions.add",
		    "{'channel':'C1','timestamp':'1.2','name':'thumbsup'}" },
		{ "{'ref':4,'op':'react','channel':'C1','post':'1.2','emoji':"
		    "'+1'}", 0, "reactions.add",
		    "{'channel':'C1','timestamp':'1.2','name':'+1'}" },
		{ "{'ref':4,'op':'react','channel':'C1','post':'1.2','emoji':"
		    "'a:b'}", -1, NULL, NULL },
		{ "{'ref':4,'op':'react','channel':'C1','post':'1.2','emoji':"
		    "''}", -1, NULL, NULL },
		{ "{'ref':5,'op':'typing','channel':'C1'}", 0, NULL, NULL },
		{ "{'ref':6,'op':'dance','channel':'C1'}", -1, NULL, NULL },
		{ "{'ref':6}", -1, NULL, NULL },
	};
	struct slack_req	 r;
	json_t			*op, *want;
	char			 err[160];
	size_t			 i;
	int			 rc;

	for (i = 0; i < nitems(t); i++) {
		op = J(t[i].op);
		rc = slack_op_request(op, &r, err, sizeof(err));
		json_decref(op);
		if (rc != t[i].rc)
			fail_msg("case %zu: rc %d (%s)", i, rc, err);
		if (rc == 0 && t[i].method == NULL)
			assert_null(r.method);
		if (rc == 0 && t[i].method != NULL)
			assert_string_equal(r.method, t[i].method);
		if (rc == 0 && t[i].body != NULL) {
			want = J(t[i].body);
			if (!json_equal(want, r.body))
				fail_msg("case %zu: body %s", i,
				    json_dumps(r.body, JSON_COMPACT));
			json_decref(want);
		}
		slack_req_clear(&r);
	}
}

/* A long post is chunked; a long patch goes whole. */
static void
test_op_request_long(void **state)
{
	struct slack_req	 r;
	json_t			*op;
	char			*text, err[160];

	text = repeat("word ", 2000);	/* 10000 characters */
	op = json_pack("{s:i,s:s,s:s,s:s}", "ref", 1, "op", "post", "channel",
	    "C1", "text", text);
	assert_int_equal(slack_op_request(op, &r, err, sizeof(err)), 0);
	assert_int_equal(r.nchunks, 3);
	assert_true(runes(r.chunks[0]) <= SLACK_TEXT_MAX);
	assert_string_equal(json_string_value(json_object_get(r.body, "text")),
	    r.chunks[0]);
	slack_req_clear(&r);
	json_decref(op);
	op = json_pack("{s:i,s:s,s:s,s:s,s:s}", "ref", 2, "op", "patch",
	    "channel", "C1", "post", "1.2", "text", text);
	assert_int_equal(slack_op_request(op, &r, err, sizeof(err)), 0);
	assert_null(r.chunks);
	assert_string_equal(json_string_value(json_object_get(r.body, "text")),
	    text);
	slack_req_clear(&r);
	json_decref(op);
	free(text);
}

/* Where the bot token (or a user's file) may go: the API's host family. */
static void
test_trusted_url(void **state)
{
	static const struct {
		const char	*api, *url;
		int		 ok;
	} t[] = {
		{ "https://slack.com/api/", "https://files.slack.com/files-pri/T-F/a.txt", 1 },
		{ "https://slack.com/api/", "https://slack.com/x", 1 },
		{ "https://slack.com/api/", "https://FILES.Slack.COM/x", 1 },
		{ "https://slack.com/api/", "http://files.slack.com/x", 0 },
		{ "https://slack.com/api/", "https://evil.com/x", 0 },
		{ "https://slack.com/api/", "https://evilslack.com/x", 0 },
		{ "https://slack.com/api/", "https://slack.com.evil.com/x", 0 },
		{ "https://slack.com/api/", "https://u:p@files.slack.com/x", 0 },
		{ "https://slack.com/api/", "https://evil.com@slack.com/x", 0 },
		{ "https://slack.com/api/", "https://slack.com:8443/x", 0 },
		{ "https://slack.com/api/", "https://slack.com x", 0 },
		{ "https://slack.com/api/", "https://slack.com\\@evil.com/", 0 },
		{ "https://slack.com/api/", "ftp://slack.com/x", 0 },
		{ "https://slack.com/api/", "//slack.com/x", 0 },
		{ "https://slack.com/api/", "", 0 },
		{ "https://slack.com/api/", "https:///x", 0 },
		{ "http://127.0.0.1:4000/api/", "http://127.0.0.1:4000/files-pri/x", 1 },
		{ "http://127.0.0.1:4000/api/", "http://127.0.0.1:4001/files-pri/x", 0 },
		{ "http://127.0.0.1:4000/api/", "http://1.127.0.0.1:4000/x", 0 },
		{ "http://[::1]:4000/api/", "http://[::1]:4000/x", 1 },
		{ "http://[::1]:4000/api/", "http://a.[::1]:4000/x", 0 },
		{ "not a url", "https://slack.com/x", 0 },
	};
	size_t	i;

	for (i = 0; i < nitems(t); i++)
		if (slack_trusted_url(t[i].api, t[i].url) != t[i].ok)
			fail_msg("%s with %s: %d", t[i].url, t[i].api, !t[i].ok);
	assert_int_equal(slack_trusted_url(NULL, "https://slack.com/"), 0);
	assert_int_equal(slack_trusted_url("https://slack.com/api/", NULL), 0);
}

/* An event's files for INBOUND, and the INBOUND they go in. */
static void
test_files(void **state)
{
	json_t		*ev, *f, *in;
	const char	*why;

	ev = J("{'type':'message','subtype':'file_share','channel':'C1',"
	    "'user':'U1','ts':'1717000000.000100','text':'',"
	    "'files':[{'id':'F1','name':'a.txt','mimetype':'text/plain',"
	    "'size':5,'url_private':'https://files.slack.com/p/a.txt',"
	    "'url_private_download':'https://files.slack.com/d/a.txt'},"
	    "{'id':'F2','mode':'file_access','file_access':'check_file_info'},"
	    "{'id':'F3','name':'x','url_private':'https://evil.com/x'},"
	    "{'id':'../F4','name':'bad id'}, 7, {'name':'no id'}]}");
	f = slack_files(ev, me.api_url);
	assert_int_equal(json_array_size(f), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(f,
	    0), "url")), "https://files.slack.com/d/a.txt");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(f,
	    0), "size")), 5);
	/* Without a name or URL: files.info will tell. */
	assert_string_equal(json_string_value(json_object_get(json_array_get(f,
	    1), "name")), "file-F2");
	assert_string_equal(json_string_value(json_object_get(json_array_get(f,
	    1), "url")), "");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(f,
	    1), "size")), -1);
	/* A URL the token would not go to is dropped, not followed. */
	assert_string_equal(json_string_value(json_object_get(json_array_get(f,
	    2), "url")), "");
	json_decref(f);
	assert_int_equal(slack_inbound(&me, ev, &in, &why), 1);
	assert_int_equal(json_array_size(json_object_get(in, "files")), 3);
	json_decref(in);
	json_decref(ev);

	ev = J("{'files':'F1'}");
	assert_null(slack_files(ev, me.api_url));
	json_decref(ev);
	ev = J("{'files':[]}");
	assert_null(slack_files(ev, me.api_url));
	json_decref(ev);
}

/* File ops checked; Slack's answers read strictly. */
static void
test_file_request(void **state)
{
	static const struct {
		const char	*op;
		const char	*err;		/* NULL: ok */
	} t[] = {
		{ "{'op':'download','file':{'id':'F1','url':'https://files.slack.com/x'},'max':9}", NULL },
		{ "{'op':'download','file':{'id':'F1','url':''},'max':9}", NULL },
		{ "{'op':'download','file':{'id':'F1'},'max':9}", NULL },
		{ "{'op':'download','file':{'id':'F1','url':'https://evil.com/x'},'max':9}",
		    "download: the file's URL is not Slack's" },
		{ "{'op':'download','file':{'id':'F/1'},'max':9}", "download: bad file id" },
		{ "{'op':'download','file':{'id':'F1'}}", "download: no size bound" },
		{ "{'op':'upload','channel':'C1','root':'C1:1717000000.000100','name':'a','size':1}", NULL },
		{ "{'op':'upload','channel':'C1','name':'a','size':0}", NULL },
		{ "{'op':'upload','channel':'C 1','name':'a','size':1}", "upload: bad channel id" },
		{ "{'op':'upload','channel':'C1','root':'x','name':'a','size':1}",
		    "upload: bad root \"x\"" },
		{ "{'op':'upload','channel':'C1','size':1}", "upload: no file name" },
		{ "{'op':'upload','channel':'C1','name':'a'}", "upload: no size" },
		{ "{'op':'send'}", "unknown op \"send\"" },
	};
	struct slack_file_req	 r;
	json_t			*op;
	char			 err[128];
	size_t			 i;

	for (i = 0; i < nitems(t); i++) {
		op = J(t[i].op);
		assert_non_null(op);
		err[0] = '\0';
		if (t[i].err == NULL)
			assert_int_equal(slack_file_request(op, me.api_url, &r,
			    err, sizeof(err)), 0);
		else {
			assert_int_equal(slack_file_request(op, me.api_url, &r,
			    err, sizeof(err)), -1);
			assert_string_equal(err, t[i].err);
		}
		json_decref(op);
	}
	op = J("{'op':'upload','channel':'C1','root':'C1:1717000000.000100','name':'a','size':1}");
	assert_int_equal(slack_file_request(op, me.api_url, &r, err,
	    sizeof(err)), 0);
	assert_string_equal(r.thread_ts, "1717000000.000100");
	json_decref(op);
}

static void
test_file_answers(void **state)
{
	const char	*url, *id;
	json_t		*a;

	a = J("{'ok':true,'upload_url':'https://files.slack.com/upload/v1/abc',"
	    "'file_id':'F1'}");
	assert_int_equal(slack_upload_target(a, me.api_url, &url, &id), 0);
	assert_string_equal(url, "https://files.slack.com/upload/v1/abc");
	assert_string_equal(id, "F1");
	json_decref(a);
	a = J("{'ok':true,'upload_url':'https://evil.com/u','file_id':'F1'}");
	assert_int_equal(slack_upload_target(a, me.api_url, &url, &id), -1);
	json_decref(a);
	a = J("{'ok':true,'upload_url':'https://files.slack.com/u','file_id':'F/../1'}");
	assert_int_equal(slack_upload_target(a, me.api_url, &url, &id), -1);
	json_decref(a);
	a = J("{'ok':true}");
	assert_int_equal(slack_upload_target(a, me.api_url, &url, &id), -1);
	json_decref(a);
	assert_int_equal(slack_upload_target(NULL, me.api_url, &url, &id), -1);

	a = J("{'ok':true,'file':{'url_private':'https://files.slack.com/p',"
	    "'url_private_download':'https://files.slack.com/d'}}");
	assert_string_equal(slack_info_url(a, me.api_url),
	    "https://files.slack.com/d");
	json_decref(a);
	a = J("{'ok':true,'file':{'url_private':'https://evil.com/p'}}");
	assert_null(slack_info_url(a, me.api_url));
	json_decref(a);
	a = J("{'ok':true,'file':{}}");
	assert_null(slack_info_url(a, me.api_url));
	json_decref(a);

	a = J("{'ok':true,'files':[{'id':'F1','shares':{'private':{'G1':"
	    "[{'ts':'1717000000.000200'}]}}}]}");
	assert_string_equal(slack_upload_post(a, "G1"), "1717000000.000200");
	assert_string_equal(slack_upload_post(a, "C1"), "F1");
	json_decref(a);
	a = J("{'ok':true,'files':[{'id':'F1','shares':{'public':{'C1':"
	    "[{'ts':'nope'}]}}}]}");
	assert_string_equal(slack_upload_post(a, "C1"), "F1");
	json_decref(a);
	a = J("{'ok':true,'files':[]}");
	assert_null(slack_upload_post(a, "C1"));
	json_decref(a);
}

static void
test_classify_file(void **state)
{
	struct net_resp		resp;
	struct call_result	r;
	static const struct {
		long			status;
		enum call_verdict	v;
	} t[] = {
		{ 200, CALL_OK }, { 204, CALL_OK }, { 302, CALL_FAIL },
		{ 403, CALL_FAIL }, { 429, CALL_RETRY_AFTER }, { 502, CALL_RETRY },
		{ 0, CALL_RETRY },
	};
	size_t	i;

	for (i = 0; i < nitems(t); i++) {
		memset(&resp, 0, sizeof(resp));
		memset(&r, 0, sizeof(r));
		resp.status = t[i].status;
		resp.body = "";
		resp.error = t[i].status == 0 ? "timeout" : NULL;
		r.resp = &resp;
		r.what = "download";
		assert_int_equal(slack_classify_file(&r), t[i].v);
		if (t[i].v != CALL_OK)
			assert_true(strncmp(r.error, "download: ", 10) == 0);
	}
}

static void
test_access_handles(void **state)
{
	json_t	*alice, *members, *a, *copy, *unres;
	char	*before;

	alice = json_pack("{s:s,s:s,s:s,s:{s:s}}", "id", "U01ALICE", "name",
	    "alice", "real_name", "Alice Example", "profile", "display_name",
	    "Ali");
	assert_int_equal(slack_member_match(alice, "alice"), 2);
	assert_int_equal(slack_member_match(alice, "@ALICE"), 2);
	assert_int_equal(slack_member_match(alice, "ali"), 1);
	assert_int_equal(slack_member_match(alice, "alice example"), 1);
	assert_int_equal(slack_member_match(alice, "bob"), 0);
	assert_int_equal(slack_member_match(alice, ""), 0);
	assert_int_equal(slack_member_match(alice, "@"), 0);
	assert_int_equal(slack_member_match(NULL, "alice"), 0);
	assert_int_equal(slack_member_match(json_object_get(alice, "name"),
	    "alice"), 0);
	assert_true(slack_is_uid("U01ALICE") && slack_is_uid("W0X"));
	assert_false(slack_is_uid("u01alice") || slack_is_uid("U") ||
	    slack_is_uid("C01X") || slack_is_uid("U01-X") || slack_is_uid(""));
	/* A name match beats an earlier display-name match. */
	members = json_pack("[{s:s,s:s,s:{s:s}},O,{s:s,s:s,s:b}]", "id",
	    "U02EVE", "name", "eve", "profile", "display_name", "alice",
	    alice, "id", "U03GONE", "name", "gone", "deleted", 1);
	a = json_pack("{s:s,s:[s,s,s,s,i,s]}", "mode", "allowlist", "users",
	    "U09X", "alice", "Ali", "gone", 7, "nobody");
	before = json_dumps(a, JSON_SORT_KEYS);
	assert_true(slack_access_has_handles(a));
	unres = json_array();
	copy = slack_access_resolve(a, members, unres);
	assert_non_null(copy);
	assert_string_equal(json_string_value(json_object_get(copy, "mode")),
	    "allowlist");
	assert_int_equal(json_array_size(json_object_get(copy, "users")), 3);
	assert_string_equal(json_string_value(json_array_get(json_object_get(
	    copy, "users"), 0)), "U09X");
	assert_string_equal(json_string_value(json_array_get(json_object_get(
	    copy, "users"), 1)), "U01ALICE");
	assert_string_equal(json_string_value(json_array_get(json_object_get(
	    copy, "users"), 2)), "U01ALICE");
	assert_false(slack_access_has_handles(copy));
	assert_int_equal(json_array_size(unres), 2);
	assert_string_equal(json_string_value(json_array_get(unres, 0)),
	    "gone");
	/* The config object is never written. */
	{
		char	*after = json_dumps(a, JSON_SORT_KEYS);

		assert_string_equal(before, after);
		free(after);
	}
	json_decref(copy);
	/* No users known yet: handles drop, ids stay. */
	copy = slack_access_resolve(a, NULL, NULL);
	assert_int_equal(json_array_size(json_object_get(copy, "users")), 1);
	json_decref(copy);
	assert_null(slack_access_resolve(json_null(), members, NULL));
	assert_null(slack_access_resolve(NULL, members, NULL));
	copy = json_pack("{s:s}", "mode", "open");
	assert_false(slack_access_has_handles(copy));
	json_decref(copy);
	free(before);
	json_decref(unres);
	json_decref(a);
	json_decref(members);
	json_decref(alice);
}

static void
test_adapter_registered(void **state)
{
	assert_ptr_equal(adapter_find("slack"), &slack_adapter);
	assert_null(slack_adapter.cursors);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mrkdwn_table),
		cmocka_unit_test(test_chunk_rules),
		cmocka_unit_test(test_update_is_never_cut),
		cmocka_unit_test(test_chunk_multibyte),
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_parse_frame_table),
		cmocka_unit_test(test_parse_frame_fields),
		cmocka_unit_test(test_strip_and_decode),
		cmocka_unit_test(test_inbound_table),
		cmocka_unit_test(test_inbound_ids),
		cmocka_unit_test(test_ts),
		cmocka_unit_test(test_op_request_table),
		cmocka_unit_test(test_op_request_long),
		cmocka_unit_test(test_trusted_url),
		cmocka_unit_test(test_files),
		cmocka_unit_test(test_file_request),
		cmocka_unit_test(test_file_answers),
		cmocka_unit_test(test_classify_file),
		cmocka_unit_test(test_access_handles),
		cmocka_unit_test(test_adapter_registered),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
