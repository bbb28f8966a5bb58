/*
 * Unit tests for the pure parts of the Mattermost worker: WebSocket frame
 * parsing, mention detection and stripping, access control, the INBOUND a
 * post becomes, OUTBOUND ops as REST calls, URLs, the dedup ring, and the
 * small parsers of net.c and ws.c.  Table-driven, bad input included.
 *
 * Frames are written with single quotes for readability; dq() turns them
 * into JSON (no test text needs an apostrophe).
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
#include "worker/access.h"
#include "worker/adapter.h"
#include "worker/adapters/mattermost.h"
#include "worker/call.h"
#include "worker/platform.h"
#include "worker/ws.h"

#define BOT	"bbbbbbbbbbbbbbbbbbbbbbbbbb"	/* the bot's user id */
/* U+1F469 ZWJ U+1F4BB: one cluster of 3 characters, 11 bytes. */
#define WOMAN_DEV "\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x92\xbb"
#define ALICE	"aaaaaaaaaaaaaaaaaaaaaaaaaa"
#define CHAN	"cccccccccccccccccccccccccc"
#define POST	"pppppppppppppppppppppppppp"
#define ROOT	"rrrrrrrrrrrrrrrrrrrrrrrrrr"

static const struct mm_self me = { BOT, "bot-a", "mattermost:a" };

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
	char	*d;
	json_t	*j;

	if (s == NULL)
		return (NULL);
	d = dq(s);
	j = json_loads(d, JSON_DECODE_ANY, NULL);
	free(d);
	assert_non_null(j);
	return (j);
}

/* ------------------------------------------------------------ frames */

static void
test_parse_event_table(void **state)
{
	static const struct {
		const char	*frame;
		int		 rc;
		enum mm_ev_kind	 kind;
		long long	 seq;
		const char	*err;	/* substring of the error */
	} t[] = {
		{ "{'event':'hello','data':{'connection_id':"
		  "'nsmwhdyyog5ajxjj4jkaxxjhiq','server_version':'10'},"
		  "'broadcast':{},'seq':0}", 0, MM_EV_HELLO, 0, NULL },
		{ "{'status':'OK','seq_reply':3,'data':{'text':'pong',"
		  "'server_time':1717000000123}}", 0, MM_EV_REPLY, -1, NULL },
		{ "{'status':'FAIL','seq_reply':2,'error':{'id':"
		  "'api.web_socket_router.not_authenticated.app_error'}}", 0,
		  MM_EV_REPLY, -1, NULL },
		{ "{'status':'FAIL','error':{'id':'bad_seq'}}", 0,
		  MM_EV_REPLY, -1, NULL },
		{ "{'event':'typing','data':{},'seq':7}", 0, MM_EV_OTHER, 7,
		  NULL },
		{ "{'event':'posted','data':{'post':'{\\'id\\':\\'" POST
		  "\\',\\'channel_id\\':\\'" CHAN "\\',\\'user_id\\':\\'"
		  ALICE "\\',\\'message\\':\\'hi\\'}','channel_type':'O',"
		  "'sender_name':'@alice'},'seq':4}", 0, MM_EV_POSTED, 4, NULL },
		/* bad input */
		{ "", -1, 0, 0, "not JSON" },
		{ "not json", -1, 0, 0, "not JSON" },
		{ "[1,2]", -1, 0, 0, "not a JSON object" },
		{ "'a string'", -1, 0, 0, "not JSON" },
		{ "{'status':'OK'} trailing", -1, 0, 0, "not JSON" },
		{ "{}", -1, 0, 0, "a reply without a status" },
		{ "{'status':'OK','seq_reply':'1'}", -1, 0, 0,
		  "seq_reply is not an integer" },
		{ "{'event':'posted','data':{}}", -1, 0, 0, "without a valid seq" },
		{ "{'event':'posted','data':{},'seq':-1}", -1, 0, 0,
		  "without a valid seq" },
		{ "{'event':'posted','data':{},'seq':1.5}", -1, 0, 0,
		  "without a valid seq" },
		/* seq + 1 must not overflow. */
		{ "{'event':'posted','data':{},'seq':9223372036854775807}", -1,
		  0, 0, "without a valid seq" },
		{ "{'status':'OK','seq_reply':9223372036854775807}", -1, 0, 0,
		  "seq_reply is out of range" },
		{ "{'event':'hello','data':{},'seq':0}", -1, 0, 0,
		  "valid connection_id" },
		{ "{'event':'hello','data':{'connection_id':'short'},'seq':0}",
		  -1, 0, 0, "valid connection_id" },
		{ "{'event':'posted','data':{},'seq':1}", -1, 0, 0,
		  "without a data.post string" },
		{ "{'event':'posted','data':{'post':42},'seq':1}", -1, 0, 0,
		  "without a data.post string" },
		{ "{'event':'posted','data':{'post':'{oops'},'seq':1}", -1, 0, 0,
		  "data.post is not JSON" },
		{ "{'event':'posted','data':{'post':'[]'},'seq':1}", -1, 0, 0,
		  "is not a post" },
		{ "{'event':'posted','data':{'post':'{\\'id\\':1}'},'seq':1}",
		  -1, 0, 0, "is not a post" },
		{ "{'event':'posted','data':'x','seq':1}", -1, 0, 0,
		  "without a data.post string" },
	};
	struct mm_event	 ev;
	char		 err[256], *f;
	size_t		 i;
	int		 rc;

	for (i = 0; i < nitems(t); i++) {
		f = dq(t[i].frame);
		err[0] = '\0';
		rc = mm_parse_event(f, strlen(f), &ev, err, sizeof(err));
		free(f);
		if (rc != t[i].rc)
			fail_msg("case %zu: rc %d (%s)", i, rc, err);
		if (rc == -1) {
			assert_null(ev.frame);
			if (strstr(err, t[i].err) == NULL)
				fail_msg("case %zu: error \"%s\"", i, err);
			continue;
		}
		assert_int_equal(ev.kind, t[i].kind);
		assert_int_equal(ev.seq, t[i].seq);
		mm_event_clear(&ev);
	}
}

static void
test_parse_event_fields(void **state)
{
	struct mm_event	 ev;
	char		 err[256], *f;

	f = dq("{'status':'FAIL','seq_reply':2,'error':{'id':'nope'},"
	    "'data':{'server_time':99}}");
	assert_int_equal(mm_parse_event(f, strlen(f), &ev, err, sizeof(err)),
	    0);
	free(f);
	assert_int_equal(ev.seq_reply, 2);
	assert_false(ev.ok);
	assert_string_equal(ev.error_id, "nope");
	assert_int_equal(ev.server_time, 99);
	mm_event_clear(&ev);

	/* Go's escapes and a mentions list; a bad mentions is only a hint. */
	f = dq("{'event': 'posted', 'data': {'post': '{\\'id\\':\\'" POST
	    "\\',\\'channel_id\\':\\'" CHAN "\\',\\'user_id\\':\\'" ALICE
	    "\\',\\'message\\':\\'a \\\\u003cb\\\\u003e \\\\ud83d\\\\ude00\\'}',"
	    " 'channel_type': 'D', 'sender_name': '@alice', 'mentions': "
	    "'[\\'" BOT "\\']'}, 'broadcast': {}, 'seq': 9}");
	assert_int_equal(mm_parse_event(f, strlen(f), &ev, err, sizeof(err)),
	    0);
	free(f);
	assert_string_equal(json_string_value(json_object_get(ev.post,
	    "message")), "a <b> \xf0\x9f\x98\x80");
	assert_string_equal(ev.channel_type, "D");
	assert_string_equal(ev.sender_name, "@alice");
	assert_int_equal(json_array_size(ev.mentions), 1);
	mm_event_clear(&ev);

	f = dq("{'event':'posted','data':{'post':'{\\'id\\':\\'" POST
	    "\\',\\'channel_id\\':\\'" CHAN "\\',\\'user_id\\':\\'" ALICE
	    "\\'}','mentions':'[1,2]'},'seq':1}");
	assert_int_equal(mm_parse_event(f, strlen(f), &ev, err, sizeof(err)),
	    0);
	free(f);
	assert_null(ev.mentions);
	assert_string_equal(ev.channel_type, "");
	mm_event_clear(&ev);
}

/* ------------------------------------------------------------ mentions */

static void
test_mentions_table(void **state)
{
	static const struct {
		const char	*text;
		int		 yes;
		const char	*stripped;
	} t[] = {
		{ "@bot-a hello", 1, "hello" },
		{ "hello @bot-a", 1, "hello" },
		{ "hey @bot-a, do x", 1, "hey do x" },
		{ "@bot-a: do x", 1, "do x" },
		{ "@BOT-A shout", 1, "shout" },
		{ "what about @bot-a?", 1, "what about ?" },
		{ "end with @bot-a.", 1, "end with ." },
		{ "(@bot-a)", 1, "()" },
		{ "@bot-a\n@bot-a twice", 1, "twice" },
		{ "@bot-a", 1, "" },
		{ "  @bot-a  ", 1, "" },
		{ "@bot-abc is someone else", 0, "@bot-abc is someone else" },
		{ "@bot-a_x also", 0, "@bot-a_x also" },
		{ "@bot-a.b also", 0, "@bot-a.b also" },
		{ "mail me@bot-a now", 0, "mail me@bot-a now" },
		{ "@@bot-a", 0, "@@bot-a" },
		{ "bot-a without at", 0, "bot-a without at" },
		{ "", 0, "" },
		{ "@", 0, "@" },
		{ "@bot-", 0, "@bot-" },
		{ "caf\xc3\xa9@bot-a", 0, "caf\xc3\xa9@bot-a" },
		{ "\xc3\xa9 @bot-a \xc3\xa9", 1, "\xc3\xa9 \xc3\xa9" },
	};
	size_t	 i;
	char	*s;

	for (i = 0; i < nitems(t); i++) {
		if (mm_mentions(t[i].text, "bot-a") != t[i].yes)
			fail_msg("case %zu \"%s\": mention %d", i, t[i].text,
			    !t[i].yes);
		s = mm_strip_mention(t[i].text, "bot-a");
		assert_non_null(s);
		if (strcmp(s, t[i].stripped) != 0)
			fail_msg("case %zu: \"%s\" stripped to \"%s\"", i,
			    t[i].text, s);
		free(s);
	}
	assert_false(mm_mentions(NULL, "bot-a"));
	assert_false(mm_mentions("@bot-a", NULL));
	assert_false(mm_mentions("@x", ""));
}

/* ------------------------------------------------------------ access */

static void
test_access_table(void **state)
{
	static const struct {
		const char	*platform, *bot;
		const char	*uid, *name;
		int		 allowed;
	} t[] = {
		/* nothing configured: secure by default */
		{ NULL, NULL, ALICE, "alice", 0 },
		{ "{'mode':'open'}", NULL, ALICE, "alice", 1 },
		{ NULL, "{'mode':'open'}", ALICE, "alice", 1 },
		{ "{'mode':'allowlist','users':['alice']}", NULL, ALICE, "alice",
		  1 },
		{ "{'mode':'allowlist','users':['ALICE']}", NULL, ALICE, "alice",
		  1 },
		{ "{'mode':'allowlist','users':['" ALICE "']}", NULL, ALICE,
		  "someone", 1 },
		{ "{'mode':'allowlist','users':['@alice']}", NULL, ALICE,
		  "alice", 1 },
		{ "{'mode':'allowlist','users':['bob']}", NULL, ALICE, "alice",
		  0 },
		{ "{'mode':'allowlist','users':[]}", NULL, ALICE, "alice", 0 },
		{ "{'mode':'allowlist'}", NULL, ALICE, "alice", 0 },
		{ "{'mode':'blocklist','users':['alice']}", NULL, ALICE, "alice",
		  0 },
		{ "{'mode':'blocklist','users':['bob']}", NULL, ALICE, "alice",
		  1 },
		{ "{'mode':'blocklist','users':[]}", NULL, ALICE, "alice", 1 },
		/* additive across levels ... */
		{ "{'mode':'allowlist','users':['bob']}",
		  "{'mode':'allowlist','users':['alice']}", ALICE, "alice", 1 },
		{ "{'mode':'allowlist','users':['alice']}",
		  "{'mode':'allowlist','users':['bob']}", ALICE, "alice", 1 },
		/* ... but a blocklist at either level wins */
		{ "{'mode':'open'}", "{'mode':'blocklist','users':['alice']}",
		  ALICE, "alice", 0 },
		{ "{'mode':'blocklist','users':['alice']}", "{'mode':'open'}",
		  ALICE, "alice", 0 },
		/* no username (a webhook): only the id counts */
		{ "{'mode':'allowlist','users':['alice']}", NULL, ALICE, NULL,
		  0 },
		{ "{'mode':'blocklist','users':['alice']}", NULL, ALICE, NULL,
		  1 },
		/* unreadable objects count as not configured */
		{ "{'mode':'sometimes'}", NULL, ALICE, "alice", 0 },
		{ "[1]", NULL, ALICE, "alice", 0 },
		{ "{'mode':'allowlist','users':[1,null,'alice']}", NULL, ALICE,
		  "alice", 1 },
		{ "{'mode':'allowlist','users':['']}", NULL, "", "", 0 },
	};
	json_t	*p, *b;
	size_t	 i;

	for (i = 0; i < nitems(t); i++) {
		p = J(t[i].platform);
		b = J(t[i].bot);
		if (access_allowed(p, b, t[i].uid, t[i].name) != t[i].allowed)
			fail_msg("case %zu: not %s", i, t[i].allowed ?
			    "allowed" : "denied");
		json_decref(p);
		json_decref(b);
	}
}

/* ------------------------------------------------------------ inbound */

static void
test_inbound_table(void **state)
{
	static const struct {
		const char	*post, *ctype, *sender, *mentions;
		int		 rc;
		const char	*expect;	/* INBOUND, or the drop reason */
	} t[] = {
		{ "{'id':'" POST "','channel_id':'" CHAN "','user_id':'" ALICE
		  "','message':'@bot-a hi','root_id':'','create_at':5}", "O",
		  "@alice", NULL, 1,
		  "{'id':'" POST "','channel':'" CHAN "','bot':'mattermost:a',"
		  "'user':'alice','userId':'" ALICE "','text':'hi','root':'',"
		  "'isDM':false,'mentionsBot':true,'createAt':5}" },
		{ "{'id':'" POST "','channel_id':'" CHAN "','user_id':'" ALICE
		  "','message':'in a thread','root_id':'" ROOT "'}", "P",
		  "alice", NULL, 1,
		  "{'id':'" POST "','channel':'" CHAN "','bot':'mattermost:a',"
		  "'user':'alice','userId':'" ALICE "','text':'in a thread',"
		  "'root':'" ROOT "','isDM':false,'mentionsBot':false,"
		  "'createAt':0}" },
		/* DMs and group messages; mentions from data.mentions */
		{ "{'id':'" POST "','channel_id':'" CHAN "','user_id':'" ALICE
		  "','message':'psst'}", "D", "@alice", "['" BOT "']", 1,
		  "{'id':'" POST "','channel':'" CHAN "','bot':'mattermost:a',"
		  "'user':'alice','userId':'" ALICE "','text':'psst','root':'',"
		  "'isDM':true,'mentionsBot':true,'createAt':0}" },
		{ "{'id':'" POST "','channel_id':'" CHAN "','user_id':'" ALICE
		  "','message':'all of us'}", "G", "", "['" ALICE "']", 1,
		  "{'id':'" POST "','channel':'" CHAN "','bot':'mattermost:a',"
		  "'user':'','userId':'" ALICE "','text':'all of us','root':'',"
		  "'isDM':true,'mentionsBot':false,'createAt':0}" },
		/* dropped */
		{ "{'id':'" POST "','channel_id':'" CHAN "','user_id':'" BOT
		  "','message':'mine'}", "O", "@bot-a", NULL, 0, "own post" },
		{ "{'id':'" POST "','channel_id':'" CHAN "','user_id':'" ALICE
		  "','message':'x','type':'system_join_channel'}", "O", "", NULL,
		  0, "system post" },
		{ "{'id':'" POST "','channel_id':'" CHAN "','user_id':'" ALICE
		  "','message':'x','delete_at':7}", "O", "", NULL, 0,
		  "deleted post" },
		/* not posts */
		{ "{'channel_id':'" CHAN "','user_id':'" ALICE "'}", "O", "",
		  NULL, -1, "not a post" },
		{ "{'id':'','channel_id':'" CHAN "','user_id':'" ALICE "'}", "O",
		  "", NULL, -1, "not a post" },
		{ "[]", "O", "", NULL, -1, "not a post" },
	};
	json_t		*post, *mentions, *out, *want;
	const char	*why;
	size_t		 i;
	int		 rc;

	for (i = 0; i < nitems(t); i++) {
		post = J(t[i].post);
		mentions = J(t[i].mentions);
		rc = mm_inbound(&me, post, t[i].ctype, t[i].sender, mentions,
		    &out, &why);
		if (rc != t[i].rc)
			fail_msg("case %zu: rc %d (%s)", i, rc, why);
		if (rc == 1) {
			want = J(t[i].expect);
			if (!json_equal(out, want))
				fail_msg("case %zu: %s", i, json_dumps(out,
				    JSON_SORT_KEYS));
			json_decref(want);
		} else if (strstr(why, t[i].expect) == NULL)
			fail_msg("case %zu: why \"%s\"", i, why);
		json_decref(out);
		json_decref(post);
		json_decref(mentions);
	}
}

static void
test_inbound_truncates_to_the_post_limit(void **state)
{
	json_t		*post, *out;
	const char	*why;
	char		*msg;
	size_t		 i, n = (MM_POST_MAX + 10) * 2;

	/* 16393 two-byte runes: cut at a rune boundary to 16383. */
	msg = malloc(n + 1);
	assert_non_null(msg);
	for (i = 0; i < n; i += 2)
		memcpy(msg + i, "\xc3\xa9", 2);
	msg[n] = '\0';
	post = json_pack("{s:s,s:s,s:s,s:s}", "id", POST, "channel_id", CHAN,
	    "user_id", ALICE, "message", msg);
	assert_int_equal(mm_inbound(&me, post, "O", "alice", NULL, &out, &why),
	    1);
	assert_int_equal(strlen(json_string_value(json_object_get(out,
	    "text"))), MM_POST_MAX * 2);
	json_decref(out);
	json_decref(post);
	free(msg);
}

/* ------------------------------------------------------------ outbound */

/* A post's files for INBOUND: ids checked, metadata matched by id. */
static void
test_files(void **state)
{
	json_t		*post, *f, *in;
	const char	*why, *s;
	char		 big[600], id[27];
	size_t		 i;

	post = J("{'file_ids':['f1111111111111111111111111','BAD','f2222222222222222222222222',"
	    "'f3333333333333333333333333'],'metadata':{'files':["
	    "{'id':'f2222222222222222222222222','name':'photo','extension':'png',"
	    "'size':70,'mime_type':'image/png'},"
	    "{'id':'f1111111111111111111111111','name':'a.txt','extension':'txt',"
	    "'size':5,'mime_type':'text/plain'},"
	    "{'id':'f3333333333333333333333333','name':7,'size':'x'}, 'junk']}}");
	f = mm_files(post);
	assert_int_equal(json_array_size(f), 3);
	in = json_array_get(f, 0);
	assert_string_equal(json_string_value(json_object_get(in, "name")), "a.txt");
	assert_int_equal(json_integer_value(json_object_get(in, "size")), 5);
	/* The extension the name lacks is added, as upstream. */
	in = json_array_get(f, 1);
	assert_string_equal(json_string_value(json_object_get(in, "name")),
	    "photo.png");
	assert_string_equal(json_string_value(json_object_get(in, "mime")),
	    "image/png");
	/* Unusable metadata: a name from the id, size unknown. */
	in = json_array_get(f, 2);
	assert_string_equal(json_string_value(json_object_get(in, "name")),
	    "file-f3333333333333333333333333");
	assert_int_equal(json_integer_value(json_object_get(in, "size")), -1);
	json_decref(f);
	json_decref(post);

	/* None, or not an array: no files. */
	post = J("{'file_ids':[]}");
	assert_null(mm_files(post));
	json_decref(post);
	post = J("{'file_ids':'f1111111111111111111111111'}");
	assert_null(mm_files(post));
	json_decref(post);
	post = J("{'file_ids':['nope']}");
	assert_null(mm_files(post));
	json_decref(post);

	/* At most MM_FILES_MAX; a long multibyte name cut whole. */
	for (i = 0; i < 199; i++)
		memcpy(big + 3 * i, "x\xc3\xa9", 3);	/* "xé" */
	big[3 * 199] = '\0';
	post = json_pack("{s:[],s:{s:[]}}", "file_ids", "metadata", "files");
	for (i = 0; i < 12; i++) {
		snprintf(id, sizeof(id), "%026zu", i);
		json_array_append_new(json_object_get(post, "file_ids"),
		    json_string(id));
		json_array_append_new(json_object_get(json_object_get(post,
		    "metadata"), "files"), json_pack("{s:s,s:s}", "id", id,
		    "name", big));
	}
	f = mm_files(post);
	assert_int_equal(json_array_size(f), MM_FILES_MAX);
	s = json_string_value(json_object_get(json_array_get(f, 0), "name"));
	assert_true(strlen(s) <= MM_FILE_NAME_MAX);
	assert_true(utf8_valid(s, strlen(s)));
	json_decref(f);
	json_decref(post);

	/* The INBOUND of a post with a file, and with only a file. */
	post = J("{'id':'" POST "','channel_id':'" CHAN "','user_id':'" ALICE "',"
	    "'message':'','file_ids':['f1111111111111111111111111']}");
	assert_int_equal(mm_inbound(&me, post, "O", "@alice", NULL, &in,
	    &why), 1);
	assert_string_equal(json_string_value(json_object_get(in, "text")), "");
	assert_int_equal(json_array_size(json_object_get(in, "files")), 1);
	json_decref(in);
	json_decref(post);
}

/* File ops as REST: ids checked before a URL, bounds, names. */
static void
test_file_request(void **state)
{
	static const struct {
		const char	*op;
		int		 ok;
		const char	*path_or_err;
	} t[] = {
		{ "{'op':'download','file':{'id':'f1111111111111111111111111'},"
		    "'max':10}", 1, "/files/f1111111111111111111111111" },
		{ "{'op':'download','file':{'id':'../x'},'max':10}", 0,
		    "download: bad file id" },
		{ "{'op':'download','file':{'id':'f1111111111111111111111111'}}",
		    0, "download: no size bound" },
		{ "{'op':'download','file':{'id':'f1111111111111111111111111'},"
		    "'max':0}", 0, "download: no size bound" },
		{ "{'op':'download'}", 0, "download: bad file id" },
		{ "{'op':'upload','channel':'" CHAN "','root':'','name':'a.txt',"
		    "'size':3,'text':'hi'}", 1, "/files" },
		{ "{'op':'upload','channel':'" CHAN "','root':'" ROOT "',"
		    "'name':'a.txt','size':0}", 1, "/files" },
		{ "{'op':'upload','channel':'c/../x','name':'a','size':3}", 0,
		    "upload: bad channel id" },
		{ "{'op':'upload','channel':'" CHAN "','root':'x','name':'a',"
		    "'size':3}", 0, "upload: bad root id" },
		{ "{'op':'upload','channel':'" CHAN "','name':'','size':3}", 0,
		    "upload: no file name" },
		{ "{'op':'upload','channel':'" CHAN "','size':3}", 0,
		    "upload: no file name" },
		{ "{'op':'upload','channel':'" CHAN "','name':'a','size':-1}", 0,
		    "upload: no size" },
		{ "{'op':'upload','channel':'" CHAN "','name':'a'}", 0,
		    "upload: no size" },
		{ "{'op':'fetch'}", 0, "unknown op \"fetch\"" },
	};
	struct mm_file_req	 r;
	json_t			*op;
	char			 err[128], *txt;
	size_t			 i;

	for (i = 0; i < nitems(t); i++) {
		op = J(t[i].op);
		assert_non_null(op);
		err[0] = '\0';
		if (t[i].ok) {
			assert_int_equal(mm_file_request(op, &r, err,
			    sizeof(err)), 0);
			assert_string_equal(r.path, t[i].path_or_err);
		} else {
			assert_int_equal(mm_file_request(op, &r, err,
			    sizeof(err)), -1);
			assert_string_equal(err, t[i].path_or_err);
		}
		json_decref(op);
	}
	/* A text one character over a post's bound. */
	assert_non_null(txt = malloc(MM_POST_MAX + 2));
	memset(txt, 'x', MM_POST_MAX + 1);
	txt[MM_POST_MAX + 1] = '\0';
	op = json_pack("{s:s,s:s,s:s,s:i,s:s}", "op", "upload", "channel", CHAN,
	    "name", "a", "size", 1, "text", txt);
	free(txt);
	assert_int_equal(mm_file_request(op, &r, err, sizeof(err)), -1);
	assert_string_equal(err, "upload: a text of more than 16383 characters");
	json_decref(op);
}

static void
test_op_request_table(void **state)
{
	static const struct {
		const char	*op;
		const char	*method, *path, *body;	/* NULL method: error */
	} t[] = {
		{ "{'op':'post','channel':'" CHAN "','text':'hi'}", "POST",
		  "/posts", "{'channel_id':'" CHAN "','message':'hi',"
		  "'root_id':''}" },
		{ "{'op':'post','channel':'" CHAN "','root':'" ROOT "',"
		  "'text':''}", "POST", "/posts", "{'channel_id':'" CHAN "',"
		  "'message':'','root_id':'" ROOT "'}" },
		{ "{'op':'patch','post':'" POST "','text':'new'}", "PUT",
		  "/posts/" POST "/patch", "{'message':'new'}" },
		{ "{'op':'delete','post':'" POST "'}", "DELETE", "/posts/" POST,
		  NULL },
		{ "{'op':'typing','channel':'" CHAN "'}", "POST",
		  "/users/" BOT "/typing", "{'channel_id':'" CHAN "',"
		  "'parent_id':''}" },
		{ "{'op':'typing','channel':'" CHAN "','root':'" ROOT "'}",
		  "POST", "/users/" BOT "/typing", "{'channel_id':'" CHAN "',"
		  "'parent_id':'" ROOT "'}" },
		{ "{'op':'react','post':'" POST "','emoji':':+1:'}", "POST",
		  "/reactions", "{'user_id':'" BOT "','post_id':'" POST "',"
		  "'emoji_name':'+1'}" },
		{ "{'op':'react','post':'" POST "','emoji':'white_check_mark'}",
		  "POST", "/reactions", "{'user_id':'" BOT "','post_id':'" POST
		  "','emoji_name':'white_check_mark'}" },
		/* refused before any request */
		{ "{'op':'post','channel':'../../x','text':'hi'}", NULL, NULL,
		  NULL },
		{ "{'op':'post','channel':'" CHAN "'}", NULL, NULL, NULL },
		{ "{'op':'post','channel':'" CHAN "','root':'x','text':'t'}",
		  NULL, NULL, NULL },
		{ "{'op':'patch','post':'" POST "/../x','text':'t'}", NULL,
		  NULL, NULL },
		{ "{'op':'patch','post':'" POST "'}", NULL, NULL, NULL },
		{ "{'op':'delete'}", NULL, NULL, NULL },
		{ "{'op':'react','post':'" POST "','emoji':''}", NULL, NULL,
		  NULL },
		{ "{'op':'react','post':'" POST "','emoji':'a:b'}", NULL, NULL,
		  NULL },
		{ "{'op':'react','post':'" POST "','emoji':'Caps'}", NULL, NULL,
		  NULL },
		{ "{'op':'typing','channel':5}", NULL, NULL, NULL },
		{ "{'op':'launch'}", NULL, NULL, NULL },
		{ "{}", NULL, NULL, NULL },
	};
	char		 method[8], path[160], err[160];
	json_t		*op, *body, *want;
	size_t		 i;
	int		 rc;

	for (i = 0; i < nitems(t); i++) {
		op = J(t[i].op);
		rc = mm_op_request(op, BOT, method, sizeof(method), path,
		    sizeof(path), &body, err, sizeof(err));
		json_decref(op);
		if ((rc == 0) != (t[i].method != NULL))
			fail_msg("case %zu: rc %d (%s)", i, rc, err);
		if (rc == -1) {
			assert_null(body);
			assert_true(err[0] != '\0');
			continue;
		}
		assert_string_equal(method, t[i].method);
		assert_string_equal(path, t[i].path);
		want = J(t[i].body);
		if (!(want == NULL ? body == NULL : json_equal(body, want)))
			fail_msg("case %zu: body %s", i, body != NULL ?
			    json_dumps(body, JSON_SORT_KEYS) : "none");
		json_decref(want);
		json_decref(body);
	}
}

static void
test_truncate(void **state)
{
	static const struct {
		const char	*in;
		size_t		 max;
		const char	*out;
	} t[] = {
		{ "hello", 10, "hello" },
		{ "hello", 5, "hello" },
		{ "hello", 4, "hell" },
		{ "hello", 0, "" },
		{ "\xc3\xa9\xc3\xa9\xc3\xa9", 2, "\xc3\xa9\xc3\xa9" },
		{ "a\xf0\x9f\x98\x80" "b", 2, "a\xf0\x9f\x98\x80" },
		{ "", 3, "" },
		/* Never inside a cluster: a ZWJ sequence (woman, ZWJ,
		 * laptop), a base and its combining mark. */
		{ WOMAN_DEV WOMAN_DEV, 4, WOMAN_DEV },
		{ WOMAN_DEV WOMAN_DEV, 6, WOMAN_DEV WOMAN_DEV },
		/* A cluster longer than the limit: the last boundary. */
		{ WOMAN_DEV, 2, "\xf0\x9f\x91\xa9\xe2\x80\x8d" },
		{ "e\xcc\x81" "e\xcc\x81", 3, "e\xcc\x81" },
		{ "\xe6\xbc\xa2\xe5\xad\x97", 1, "\xe6\xbc\xa2" },
	};
	size_t	 i;
	char	*s;

	for (i = 0; i < nitems(t); i++) {
		s = mm_truncate(t[i].in, t[i].max);
		assert_non_null(s);
		if (strcmp(s, t[i].out) != 0)
			fail_msg("case %zu: \"%s\"", i, s);
		free(s);
	}
}

/* A text of n characters: 4-byte emoji, a ZWJ sequence, CJK, a combining
 * mark, in turn; the caller frees it. */
static char *
mixed(size_t n)
{
	static const char *const parts[] = { "\xf0\x9f\x98\x80",
	    WOMAN_DEV, "\xe6\xbc\xa2", "e\xcc\x81", "a" };
	static const size_t	 chars[] = { 1, 3, 1, 2, 1 };
	char			*s = malloc(n * 4 + 1), *p = s;
	size_t			 i = 0, k, len;

	assert_non_null(s);
	while (n > 0) {
		k = i++ % nitems(parts);
		if (chars[k] > n)
			k = nitems(parts) - 1;
		len = strlen(parts[k]);
		memcpy(p, parts[k], len);
		p += len;
		n -= chars[k];
	}
	*p = '\0';
	return (s);
}

/*
 * A post or an edit carries up to MM_POST_MAX characters whole, whatever
 * their bytes, and fails (never cuts) one character more.
 */
static void
test_op_request_at_the_limit(void **state)
{
	static const char *const ops[] = { "post", "patch" };
	char		 method[8], path[160], err[160], *text;
	json_t		*op, *body;
	size_t		 i, n;
	int		 rc;

	for (i = 0; i < nitems(ops); i++)
		for (n = MM_POST_MAX - 1; n <= MM_POST_MAX + 1; n++) {
			text = mixed(n);
			assert_int_equal(utf8_count(text, strlen(text)), n);
			op = json_pack("{s:s,s:s,s:s,s:s}", "op", ops[i],
			    "channel", CHAN, "post", POST, "text", text);
			assert_non_null(op);
			rc = mm_op_request(op, BOT, method, sizeof(method),
			    path, sizeof(path), &body, err, sizeof(err));
			if (n <= MM_POST_MAX) {
				assert_int_equal(rc, 0);
				assert_string_equal(json_string_value(
				    json_object_get(body, "message")), text);
			} else {
				assert_int_equal(rc, -1);
				assert_null(body);
				assert_non_null(strstr(err, "over the 16383"));
			}
			json_decref(body);
			json_decref(op);
			free(text);
		}
}

/* What an answer means: retries, failures, a refused token. */
static void
test_classify(void **state)
{
	static const struct {
		long		 status;
		const char	*ctype, *body;
		enum call_verdict v;
		int		 refused;
		const char	*error;
	} t[] = {
		{ 201, "application/json", "{\"id\":\"x\"}", CALL_OK, 0, "" },
		{ 200, "text/plain", "", CALL_OK, 0, "" },
		{ 401, "application/json", "{\"message\":\"Invalid or "
		  "expired session, please login again.\"}", CALL_FAIL, 1,
		  "401 from /posts: Invalid or expired session, please login "
		  "again." },
		{ 404, "application/json", "{\"message\":\"Unable to get "
		  "the post.\"}", CALL_FAIL, 0, "404 from /posts: Unable to get "
		  "the post." },
		{ 403, "text/html", "<h1>no</h1>\nmore", CALL_FAIL, 0,
		  "403 from /posts: <h1>no</h1>" },
		{ 429, "text/plain; charset=utf-8", "limit exceeded\n",
		  CALL_RETRY_AFTER, 0, "429 from /posts: limit exceeded" },
		{ 503, "", "", CALL_RETRY, 0, "503 from /posts: no message" },
		{ 0, "", "", CALL_RETRY, 0, "POST /posts: Failed to connect" },
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
		snprintf(r.ctype, sizeof(r.ctype), "%s", t[i].ctype);
		cr.resp = &r;
		cr.label = "POST /posts";
		cr.what = "/posts";
		if (mm_classify(&cr) != t[i].v || cr.token_refused !=
		    t[i].refused || strcmp(cr.error, t[i].error) != 0)
			fail_msg("case %zu: \"%s\" refused %d", i, cr.error,
			    cr.token_refused);
		json_decref(cr.json);
	}
}

/*
 * A server message too long for an error is cut by snprintf(), maybe
 * inside a character; what goes into OUTBOUND_DONE keeps what is whole.
 */
static void
test_error_cut_stays_utf8(void **state)
{
	struct net_resp		 r;
	struct call_result	 cr;
	char			 body[2048], *p = body;
	size_t			 i, n;

	p += snprintf(p, sizeof(body), "{\"message\":\"");
	for (i = 0; i < 300; i++)
		p += snprintf(p, sizeof(body) - (size_t)(p - body), "\xe6\xbc\xa2");
	snprintf(p, sizeof(body) - (size_t)(p - body), "\"}");
	memset(&r, 0, sizeof(r));
	memset(&cr, 0, sizeof(cr));
	r.status = 400;
	r.body = body;
	r.bodylen = strlen(body);
	snprintf(r.ctype, sizeof(r.ctype), "application/json");
	cr.resp = &r;
	cr.label = "POST /posts";
	cr.what = "/posts";
	assert_int_equal(mm_classify(&cr), CALL_FAIL);
	n = platform_valid_prefix(cr.error, strlen(cr.error));
	assert_true(n > 0 && n <= strlen(cr.error));
	assert_true(utf8_valid(cr.error, n));
	assert_true(strlen(cr.error) - n < 3);
	assert_int_equal(platform_valid_prefix("ok", 2), 2);
	assert_int_equal(platform_valid_prefix("\xe6\xbc", 2), 0);
	json_decref(cr.json);
}

/* ------------------------------------------------------------ URLs, ids */

static void
test_urls(void **state)
{
	static const struct {
		const char	*url;
		const char	*base;	/* NULL: refused */
		const char	*ws, *resume;
	} t[] = {
		{ "http://127.0.0.1:8065", "http://127.0.0.1:8065",
		  "ws://127.0.0.1:8065/api/v4/websocket",
		  "ws://127.0.0.1:8065/api/v4/websocket?connection_id="
		  ALICE "&sequence_number=42" },
		{ "https://chat.example.com/", "https://chat.example.com",
		  "wss://chat.example.com/api/v4/websocket",
		  "wss://chat.example.com/api/v4/websocket?connection_id="
		  ALICE "&sequence_number=42" },
		{ "HTTPS://chat.example.com/mm//", "HTTPS://chat.example.com/mm",
		  "wss://chat.example.com/mm/api/v4/websocket", NULL },
		{ "ftp://chat.example.com", NULL, NULL, NULL },
		{ "chat.example.com", NULL, NULL, NULL },
		{ "http://", NULL, NULL, NULL },
		{ "https:///", NULL, NULL, NULL },
		{ "http://a b", NULL, NULL, NULL },
		{ "http://host/?q=1", NULL, NULL, NULL },
		{ "http://host/\r\nX: y", NULL, NULL, NULL },
	};
	char	base[128], ws[256];
	size_t	i;

	for (i = 0; i < nitems(t); i++) {
		if (t[i].base == NULL) {
			if (mm_base_url(t[i].url, base, sizeof(base)) != -1)
				fail_msg("case %zu: accepted", i);
			continue;
		}
		assert_int_equal(mm_base_url(t[i].url, base, sizeof(base)), 0);
		assert_string_equal(base, t[i].base);
		assert_int_equal(mm_ws_url(base, NULL, 0, ws, sizeof(ws)), 0);
		assert_string_equal(ws, t[i].ws);
		if (t[i].resume != NULL) {
			assert_int_equal(mm_ws_url(base, ALICE, 42, ws,
			    sizeof(ws)), 0);
			assert_string_equal(ws, t[i].resume);
		}
	}
	assert_int_equal(mm_base_url(NULL, base, sizeof(base)), -1);
	assert_int_equal(mm_base_url("http://a-long-host-name", base, 10), -1);
	assert_int_equal(mm_ws_url("http://h", "bad&id=x", 1, ws, sizeof(ws)),
	    -1);
	assert_int_equal(mm_ws_url("http://h", ALICE, -1, ws, sizeof(ws)), -1);
	assert_int_equal(mm_ws_url("http://h", NULL, 0, ws, 10), -1);
}

static void
test_valid_id(void **state)
{
	assert_true(mm_valid_id(ALICE));
	assert_true(mm_valid_id("nsmwhdyyog5ajxjj4jkaxxjhiq"));
	assert_false(mm_valid_id(NULL));
	assert_false(mm_valid_id(""));
	assert_false(mm_valid_id("ch1"));
	assert_false(mm_valid_id(ALICE "a"));
	assert_false(mm_valid_id("AAAAAAAAAAAAAAAAAAAAAAAAAA"));
	assert_false(mm_valid_id("aaaaaaaaaaaa/aaaaaaaaaaaaa"));
}

static void
test_seen_ring(void **state)
{
	struct mm_seen	*s = calloc(1, sizeof(*s));
	char		 id[MM_ID_LEN + 1];
	size_t		 i;

	assert_non_null(s);
	assert_false(mm_seen_has(s, POST));
	mm_seen_add(s, POST);
	mm_seen_add(s, POST);
	assert_true(mm_seen_has(s, POST));
	assert_int_equal(s->n, 1);
	for (i = 0; i < MM_SEEN_MAX; i++) {
		snprintf(id, sizeof(id), "%026zu", i);
		mm_seen_add(s, id);
	}
	assert_int_equal(s->n, MM_SEEN_MAX);
	assert_false(mm_seen_has(s, POST));	/* the oldest went */
	assert_true(mm_seen_has(s, "00000000000000000000000001"));
	/* Round after round of evictions: exactly the last MM_SEEN_MAX. */
	for (i = 0; i < 3 * MM_SEEN_MAX + 7; i++) {
		snprintf(id, sizeof(id), "x%025zu", i);
		mm_seen_add(s, id);
	}
	assert_int_equal(s->n, MM_SEEN_MAX);
	for (i = 0; i < 3 * MM_SEEN_MAX + 7; i++) {
		snprintf(id, sizeof(id), "x%025zu", i);
		assert_int_equal(mm_seen_has(s, id), i >= 2 * MM_SEEN_MAX + 7);
	}
	assert_false(mm_seen_has(s, "00000000000000000000000001"));
	free(s);
}

/* ------------------------------------------------------------ net, ws */

static void
test_retry_after(void **state)
{
	assert_int_equal(net_parse_retry_after("0"), 0);
	assert_int_equal(net_parse_retry_after("1"), 1);
	assert_int_equal(net_parse_retry_after("120"), 120);
	assert_int_equal(net_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
	    0);	/* in the past */
	assert_true(net_parse_retry_after("Fri, 31 Dec 2999 23:59:59 GMT") >
	    1000);
	assert_int_equal(net_parse_retry_after(NULL), -1);
	assert_int_equal(net_parse_retry_after(""), -1);
	assert_int_equal(net_parse_retry_after("1.5"), -1);
	assert_int_equal(net_parse_retry_after("-1"), -1);
	assert_int_equal(net_parse_retry_after("soon"), -1);
	assert_int_equal(net_parse_retry_after("99999999999999999999"), -1);
	/* The wait: 1 s without one, capped, never overflowing. */
	{
		struct net_resp	 r = { .retry_after = -1 };

		assert_int_equal(net_retry_after_ms(&r, 30000), 1000);
		r.retry_after = 0;
		assert_int_equal(net_retry_after_ms(&r, 30000), 0);
		r.retry_after = 7;
		assert_int_equal(net_retry_after_ms(&r, 30000), 7000);
		r.retry_after = 30;
		assert_int_equal(net_retry_after_ms(&r, 30000), 30000);
		r.retry_after = 4294968;	/* * 1000 wraps 32 bits */
		assert_int_equal(net_retry_after_ms(&r, 30000), 30000);
		r.retry_after = 9223372036854775807L;
		assert_int_equal(net_retry_after_ms(&r, 30000), 30000);
	}
}

static void
test_ws_parse_url(void **state)
{
	static const struct {
		const char	*url;
		int		 ok, tls, port;
		const char	*host, *path;
	} t[] = {
		{ "ws://127.0.0.1:8065/api/v4/websocket", 1, 0, 8065,
		  "127.0.0.1", "/api/v4/websocket" },
		{ "wss://chat.example.com/api/v4/websocket?connection_id=x&"
		  "sequence_number=3", 1, 1, 443, "chat.example.com",
		  "/api/v4/websocket?connection_id=x&sequence_number=3" },
		{ "WS://h", 1, 0, 80, "h", "/" },
		{ "ws://h?x=1", 1, 0, 80, "h", "/?x=1" },
		{ "ws://[::1]:9/p", 1, 0, 9, "::1", "/p" },
		{ "http://h/", 0, 0, 0, NULL, NULL },
		{ "ws://", 0, 0, 0, NULL, NULL },
		{ "ws://:80/", 0, 0, 0, NULL, NULL },
		{ "ws://h:0/", 0, 0, 0, NULL, NULL },
		{ "ws://h:65536/", 0, 0, 0, NULL, NULL },
		{ "ws://h:x/", 0, 0, 0, NULL, NULL },
		{ "ws://h:/", 0, 0, 0, NULL, NULL },
		{ "ws://user@h/", 0, 0, 0, NULL, NULL },
		{ "ws://h/a b", 0, 0, 0, NULL, NULL },
		{ "ws://h/#frag", 0, 0, 0, NULL, NULL },
		{ "ws://[::1/", 0, 0, 0, NULL, NULL },
	};
	char	host[64], path[128];
	size_t	i;
	int	tls, port, rc;

	for (i = 0; i < nitems(t); i++) {
		rc = ws_parse_url(t[i].url, &tls, host, sizeof(host), &port,
		    path, sizeof(path));
		if ((rc == 0) != t[i].ok)
			fail_msg("case %zu (%s): rc %d", i, t[i].url, rc);
		if (rc == -1)
			continue;
		assert_int_equal(tls, t[i].tls);
		assert_int_equal(port, t[i].port);
		assert_string_equal(host, t[i].host);
		assert_string_equal(path, t[i].path);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_event_table),
		cmocka_unit_test(test_parse_event_fields),
		cmocka_unit_test(test_mentions_table),
		cmocka_unit_test(test_access_table),
		cmocka_unit_test(test_inbound_table),
		cmocka_unit_test(test_inbound_truncates_to_the_post_limit),
		cmocka_unit_test(test_files),
		cmocka_unit_test(test_file_request),
		cmocka_unit_test(test_op_request_table),
		cmocka_unit_test(test_truncate),
		cmocka_unit_test(test_op_request_at_the_limit),
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_error_cut_stays_utf8),
		cmocka_unit_test(test_urls),
		cmocka_unit_test(test_valid_id),
		cmocka_unit_test(test_seen_ring),
		cmocka_unit_test(test_retry_after),
		cmocka_unit_test(test_ws_parse_url),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
