/*
 * sessiond/store.c: reads answered from memory at once, callbacks on the
 * loop after the commit, cursor bursts coalesced, close flushes, and memory
 * only when the database cannot be used.
 */
#include <sys/stat.h>

#include <errno.h>
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
#include <sqlite3.h>

#include "common/db.h"
#include "common/util.h"
#include "sessiond/seen.h"
#include "sessiond/store.h"

struct fix {
	char			 dir[64];
	struct event_base	*base;
};

static int
setup(void **state)
{
	struct fix	*f = calloc(1, sizeof(*f));

	if (f == NULL)
		return (-1);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_store.XXXXXX");
	if (mkdtemp(f->dir) == NULL || (f->base = event_base_new()) == NULL) {
		free(f);
		return (-1);
	}
	*state = f;
	return (0);
}

static int
teardown(void **state)
{
	struct fix	*f = *state;
	char		 cmd[128];

	store_close();
	event_base_free(f->base);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return (-1);
	free(f);
	return (0);
}

/* Run the loop until *flag, at most ms. */
static void
loop_until(struct fix *f, const int *flag, int ms)
{
	uint64_t	deadline = util_now_ms() + (uint64_t)ms;
	struct timespec	ts = { 0, 1000000 };

	while (!*flag && util_now_ms() < deadline) {
		event_base_loop(f->base, EVLOOP_NONBLOCK);
		nanosleep(&ts, NULL);
	}
}

static void
loop_for(struct fix *f, int ms)
{
	int	never = 0;

	loop_until(f, &never, ms);
}

/* The first column of the first row, read by another connection. */
static char *
peek(struct fix *f, const char *sql)
{
	static char	 out[512];
	char		 path[128];
	sqlite3		*h = NULL;
	sqlite3_stmt	*st;

	out[0] = '\0';
	snprintf(path, sizeof(path), "%s/%s", f->dir, DB_FILE);
	assert_int_equal(sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		snprintf(out, sizeof(out), "%s", sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(h);
	return (out);
}

struct cb {
	struct fix	*f;
	int		 called, ok;
	char		 error[512];
	char		 seen[128];	/* what the database held then */
	const char	*check;		/* the query to run then */
};

static void
cb_done(void *arg, int ok, const char *error)
{
	struct cb	*c = arg;

	c->called++;
	c->ok = ok;
	snprintf(c->error, sizeof(c->error), "%s", error != NULL ? error : "");
	if (c->check != NULL)
		snprintf(c->seen, sizeof(c->seen), "%s", peek(c->f, c->check));
}

static void
test_reads_after_writes(void **state)
{
	struct fix			*f = *state;
	const struct store_rule		*r[8];
	const struct store_prefs	*p;
	long long			 id1, id2;

	assert_int_equal(store_open(f->base, f->dir), 0);
	assert_true(store_ok());
	assert_null(store_error());
	assert_null(store_session("c1", NULL));
	assert_int_equal(store_set_session("c1", NULL, "mattermost:a", "s1",
	    NULL, NULL), 0);
	assert_int_equal(store_set_session("c1", "root9", "mattermost:a", "t9",
	    NULL, NULL), 0);
	/* Answered from memory before anything reached the disk. */
	assert_string_equal(store_session("c1", NULL), "s1");
	assert_string_equal(store_session("c1", "root9"), "t9");
	assert_null(store_session("c1", "root8"));
	assert_null(store_session("c2", NULL));

	p = store_prefs("c1");
	assert_null(p->model);
	assert_int_equal(p->verbose, -1);
	assert_int_equal(store_set_pref("c1", "model", "gpt-5", NULL, NULL), 0);
	assert_int_equal(store_set_pref("c1", "verbose", "true", NULL, NULL), 0);
	assert_int_equal(store_set_pref("c1", "threaded_replies", "0", NULL,
	    NULL), 0);
	assert_int_equal(store_set_pref("c1", "permission_mode", "turbo", NULL,
	    NULL), -1);
	assert_int_equal(store_set_pref("c1", "updated_at", "x", NULL, NULL), -1);
	p = store_prefs("c1");
	assert_string_equal(p->model, "gpt-5");
	assert_int_equal(p->verbose, 1);
	assert_int_equal(p->threaded_replies, 0);
	assert_null(p->permission_mode);
	assert_int_equal(store_set_pref("c1", "model", NULL, NULL, NULL), 0);
	assert_null(store_prefs("c1")->model);
	assert_int_equal(store_prefs("nowhere")->threaded_replies, -1);

	id1 = store_add_rule("c1", "shell", "rm", 0, NULL, NULL);
	id2 = store_add_rule("global", "shell", "git", 1, NULL, NULL);
	assert_true(id1 > 0 && id2 > id1);
	assert_int_equal(store_rules("c1", r, 8), 1);
	assert_int_equal(r[0]->id, id1);
	assert_string_equal(r[0]->pattern, "rm");
	assert_false(r[0]->allow);
	assert_int_equal(strlen(r[0]->created_at), 19);
	/* Same scope, tool and pattern: replaced, a new id. */
	assert_true(store_add_rule("c1", "shell", "rm", 1, NULL, NULL) > id2);
	assert_int_equal(store_rules("c1", r, 8), 1);
	assert_true(r[0]->allow);
	assert_int_equal(store_rules(NULL, r, 8), 2);
	assert_int_equal(store_remove_rule(id2, NULL, NULL), 0);
	assert_int_equal(store_remove_rule(id2, NULL, NULL), -1);
	assert_int_equal(store_clear_rules("c1", NULL, NULL, NULL, NULL), 1);
	assert_int_equal(store_rules(NULL, r, 8), 0);

	assert_null(store_setting("streamer_mode"));
	assert_int_equal(store_set_setting("streamer_mode", "true", NULL, NULL),
	    0);
	assert_string_equal(store_setting("streamer_mode"), "true");
	assert_null(store_workspace("alice"));

	assert_int_equal(store_set_session("c1", "root9", NULL, NULL, NULL,
	    NULL), 0);
	assert_null(store_session("c1", "root9"));
	assert_string_equal(store_session("c1", NULL), "s1");
}

static void
test_callback_runs_on_the_loop_after_commit(void **state)
{
	struct fix	*f = *state;
	struct cb	 c = { .f = f, .check = "SELECT session_id FROM "
			    "channel_sessions WHERE channel_id = 'c1'" };
	struct cb	 p = { .f = f, .check = "SELECT model FROM "
			    "channel_prefs WHERE channel_id = 'c1'" };

	assert_int_equal(store_open(f->base, f->dir), 0);
	assert_int_equal(store_set_session("c1", NULL, "mattermost:a", "s1",
	    cb_done, &c), 0);
	assert_int_equal(store_set_pref("c1", "model", "m2", cb_done, &p), 0);
	assert_int_equal(c.called, 0);		/* never from inside the call */
	loop_until(f, &p.called, 5000);
	assert_int_equal(c.called, 1);
	assert_int_equal(p.called, 1);
	assert_true(c.ok && p.ok);
	/* Another connection saw the rows while the callbacks ran. */
	assert_string_equal(c.seen, "s1");
	assert_string_equal(p.seen, "m2");
}

static void
test_forgotten_callback_is_not_called(void **state)
{
	struct fix	*f = *state;
	struct cb	 a = { .f = f }, b = { .f = f };

	assert_int_equal(store_open(f->base, f->dir), 0);
	assert_int_equal(store_set_setting("k", "v1", cb_done, &a), 0);
	assert_int_equal(store_set_setting("k", "v2", cb_done, &b), 0);
	store_forget(&a);
	loop_until(f, &b.called, 5000);
	assert_int_equal(b.called, 1);
	assert_int_equal(a.called, 0);
	assert_string_equal(peek(f, "SELECT value FROM settings WHERE key = "
	    "'k'"), "v2");
}

static void
test_cursor_burst_is_a_few_transactions(void **state)
{
	struct fix		*f = *state;
	struct store_stats	 st;
	json_t			*c;
	char			 ch[16];
	int			 i;

	assert_int_equal(store_open(f->base, f->dir), 0);
	for (i = 1; i <= 500; i++) {
		snprintf(ch, sizeof(ch), "ch%d", i % 5);
		store_set_cursor(ch, "mattermost:a", NULL, 1700000000000LL + i);
		store_set_cursor(ch, "mattermost:a", NULL,
		    1700000000000LL + i - 1);
	}
	store_set_cursor("ch0", "slack:b", NULL, 5);
	/* Memory has them at once, and only forward. */
	c = store_cursors("mattermost:a", 0);
	assert_int_equal(json_object_size(c), 5);
	assert_int_equal(json_integer_value(json_object_get(c, "ch0")),
	    1700000000500LL);
	json_decref(c);
	c = store_cursors("mattermost:a", 1700000000498LL);
	assert_int_equal(json_object_size(c), 2);
	json_decref(c);
	store_stats(&st);
	assert_int_equal(st.transactions, 0);	/* coalesced, not yet due */
	loop_for(f, STORE_CURSOR_MS * 3);
	store_stats(&st);
	assert_true(st.transactions >= 1 && st.transactions <= 3);
	assert_string_equal(peek(f, "SELECT count(*) FROM bridge_cursors"), "6");
	assert_string_equal(peek(f, "SELECT cursor_ms FROM bridge_cursors "
	    "WHERE channel_id = 'ch0' AND bot = 'mattermost:a'"),
	    "1700000000500");
}

static void
test_close_flushes_and_open_loads(void **state)
{
	struct fix			*f = *state;
	const struct store_rule		*r[4];
	json_t				*c;
	long long			 id;

	assert_int_equal(store_open(f->base, f->dir), 0);
	assert_int_equal(store_set_session("c1", NULL, "mattermost:a", "s1",
	    NULL, NULL), 0);
	assert_int_equal(store_set_session("c1", "r1", "mattermost:a", "t1",
	    NULL, NULL), 0);
	store_set_cursor("c1", "mattermost:a", NULL, 1234);
	assert_int_equal(store_set_pref("c1", "trigger_mode", "all", NULL,
	    NULL), 0);
	id = store_add_rule("global", "url", "example.com", 1, NULL, NULL);
	assert_int_equal(store_set_setting("streamer_mode", "on", NULL, NULL), 0);
	/* No loop ran: close saves what is queued, the cursor included. */
	store_close();
	assert_string_equal(peek(f, "SELECT cursor_ms FROM bridge_cursors"),
	    "1234");

	assert_int_equal(store_open(f->base, f->dir), 0);
	assert_string_equal(store_session("c1", NULL), "s1");
	assert_string_equal(store_session("c1", "r1"), "t1");
	assert_string_equal(store_prefs("c1")->trigger_mode, "all");
	assert_string_equal(store_setting("streamer_mode"), "on");
	assert_int_equal(store_rules("global", r, 4), 1);
	assert_int_equal(r[0]->id, id);
	assert_true(store_add_rule("global", "url", "other.org", 1, NULL,
	    NULL) > id);
	c = store_cursors("mattermost:a", 0);
	assert_int_equal(json_integer_value(json_object_get(c, "c1")), 1234);
	json_decref(c);
}

static void
test_corrupt_database_means_memory_only(void **state)
{
	struct fix	*f = *state;
	struct cb	 c = { .f = f };
	char		 path[128];
	json_t		*cur;
	FILE		*fp;
	int		 i;

	snprintf(path, sizeof(path), "%s/%s", f->dir, DB_FILE);
	assert_non_null(fp = fopen(path, "w"));
	for (i = 0; i < 100; i++)
		fputs("this file is not a database at all\n", fp);
	fclose(fp);
	assert_int_equal(store_open(f->base, f->dir), 0);
	assert_false(store_ok());
	assert_non_null(store_error());
	assert_non_null(strstr(store_error(), path));
	assert_non_null(strstr(store_error(), "file is not a database"));
	/* Answers go on from memory... */
	assert_int_equal(store_set_session("c1", NULL, "mattermost:a", "s1",
	    cb_done, &c), 0);
	assert_string_equal(store_session("c1", NULL), "s1");
	store_set_cursor("c1", "mattermost:a", NULL, 99);
	cur = store_cursors("mattermost:a", 0);
	assert_int_equal(json_integer_value(json_object_get(cur, "c1")), 99);
	json_decref(cur);
	/* ...and every callback says that nothing is saved. */
	assert_int_equal(c.called, 0);
	loop_until(f, &c.called, 2000);
	assert_int_equal(c.called, 1);
	assert_false(c.ok);
	assert_non_null(strstr(c.error, "not saved"));
	assert_non_null(strstr(c.error, "file is not a database"));
}

static void
test_prefs_cover_every_column(void **state)
{
	struct fix			*f = *state;
	const struct store_prefs	*p;
	size_t				 i;

	assert_int_equal(store_open(f->base, f->dir), 0);
	for (i = 0; i < DB_NPREF; i++) {
		const struct db_column	*c = &db_pref_columns[i];
		const char		*v = c->kind == DB_BOOL ? "1" :
					    c->kind == DB_LIST ? "[\"x\"]" :
					    c->kind == DB_ENUM ? c->values[0] :
					    "text";

		if (store_set_pref("c1", c->name, v, NULL, NULL) != 0)
			fail_msg("%s=%s refused", c->name, v);
	}
	p = store_prefs("c1");
	assert_string_equal(p->model, "text");
	assert_string_equal(p->agent, "text");
	assert_int_equal(p->verbose, 1);
	assert_string_equal(p->trigger_mode, "mention");
	assert_int_equal(p->threaded_replies, 1);
	assert_string_equal(p->permission_mode, "interactive");
	assert_string_equal(p->reasoning_effort, "low");
	assert_string_equal(p->session_mode, "interactive");
	assert_string_equal(p->disabled_skills, "[\"x\"]");
	assert_string_equal(p->provider, "text");
}

/* ---- the ids a cursor covers -------------------------------------------- */

static size_t	 each_n;
static char	 each_text[1024];

static void
each_id(const char *bot, const char *id)
{
	size_t	l = strlen(each_text);

	each_n++;
	snprintf(each_text + l, sizeof(each_text) - l, "%s %s;", bot, id);
}

static size_t
seen_each(long long since)
{
	each_n = 0;
	each_text[0] = '\0';
	return (store_seen_each(since, each_id));
}

#define T0	1700000000000LL

static void
test_seen_ids_are_saved_with_the_cursor(void **state)
{
	struct fix	*f = *state;
	const char	*q = "SELECT seen_ids FROM bridge_cursors WHERE "
			    "channel_id = 'c1' AND bot = 'mattermost:a'";

	assert_int_equal(store_open(f->base, f->dir), 0);
	store_set_cursor("c1", "mattermost:a", "p1", T0);
	store_set_cursor("c1", "mattermost:a", "p2", T0 + 100);
	/* Late, but within the span a catch-up reads again: kept. */
	store_set_cursor("c1", "mattermost:a", "late", T0 + 50);
	/* Before the span: a catch-up never reads it, nothing to keep. */
	store_set_cursor("c1", "mattermost:a", "old", T0 - 6000);
	store_set_cursor("c1", "mattermost:a", "p1", T0);	/* known */
	store_set_cursor("c1", "slack:b", "C1:1.2", T0);
	loop_for(f, STORE_CURSOR_MS * 3);
	assert_string_equal(peek(f, q),
	    "[[\"p1\",1700000000000],[\"late\",1700000000050],"
	    "[\"p2\",1700000000100]]");
	/* The cursor moves on: what its span no longer covers goes. */
	store_set_cursor("c1", "mattermost:a", "p3", T0 + 5040);
	store_unsee("c1", "mattermost:a", "p2");
	store_unsee("c1", "mattermost:a", "nowhere");
	store_unsee("nowhere", "mattermost:a", "p3");
	store_close();
	assert_string_equal(peek(f, q),
	    "[[\"late\",1700000000050],[\"p3\",1700000005040]]");

	assert_int_equal(store_open(f->base, f->dir), 0);
	assert_int_equal(seen_each(0), 3);
	assert_string_equal(each_text, "mattermost:a late;mattermost:a p3;"
	    "slack:b C1:1.2;");
	/* Only the cursors newer than the window (those sent to workers). */
	assert_int_equal(seen_each(T0 + 1000), 2);
	assert_int_equal(seen_each(T0 + 6000), 0);
}

static void
test_seen_ids_are_bounded(void **state)
{
	struct fix	*f = *state;
	char		 id[32], want[64];
	int		 i;

	assert_int_equal(store_open(f->base, f->dir), 0);
	for (i = 0; i < 1000; i++) {
		snprintf(id, sizeof(id), "m%d", i);
		store_set_cursor("busy", "mattermost:a", id, T0 + i);
	}
	store_close();
	snprintf(want, sizeof(want), "%d", SEEN_MAX);
	assert_string_equal(peek(f, "SELECT json_array_length(seen_ids) FROM "
	    "bridge_cursors"), want);
	/* The newest are kept. */
	snprintf(want, sizeof(want), "m%d", 1000 - SEEN_MAX);
	assert_string_equal(peek(f, "SELECT json_extract(seen_ids, '$[0][0]') "
	    "FROM bridge_cursors"), want);
	assert_string_equal(peek(f, "SELECT json_extract(seen_ids, "
	    "'$[#-1][0]') FROM bridge_cursors"), "m999");
}

/* Rows another program wrote: bad ids are left out, nothing else is. */
static void
test_bad_seen_ids_are_ignored(void **state)
{
	struct fix	*f = *state;
	static const char *const bad[] = {
		"not json", "{\"a\":1}", "[[\"x\"]]", "[[1,2]]", "[[\"\",5]]",
		"[[\"x\",99999999999999]]", "[[\"x\",-1]]", "[[\"x\",1.5]]",
		"[[\"ok\",5],\"junk\"]", "[[\"a\\u0000b\",5]]", "[", "",
	};
	char		 path[128], err[DB_ERR_MAX], *big;
	sqlite3		*h;
	sqlite3_stmt	*st;
	json_t		*c;
	size_t		 i;

	db_close(db_open(f->dir, err, sizeof(err)));
	snprintf(path, sizeof(path), "%s/%s", f->dir, DB_FILE);
	assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h, "INSERT INTO bridge_cursors "
	    "VALUES (?1, 'mattermost:a', 10, ?2)", -1, &st, NULL), SQLITE_OK);
	for (i = 0; i < nitems(bad); i++) {
		snprintf(err, sizeof(err), "bad%zu", i);
		sqlite3_bind_text(st, 1, err, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, bad[i], -1, SQLITE_STATIC);
		assert_int_equal(sqlite3_step(st), SQLITE_DONE);
		sqlite3_reset(st);
	}
	/* Past any list a cursor keeps, and not text at all. */
	assert_non_null(big = malloc(SEEN_TEXT_MAX + 2));
	memset(big, '[', SEEN_TEXT_MAX + 1);
	big[SEEN_TEXT_MAX + 1] = '\0';
	sqlite3_bind_text(st, 1, "big", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, big, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, "blob", -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, "\0\1\2", 3, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, "good", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, "[[\"g1\",6],[\"g2\",10]]", -1,
	    SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	sqlite3_close(h);
	free(big);

	assert_int_equal(store_open(f->base, f->dir), 0);
	assert_true(store_ok());
	/* Every cursor is there; only the good row's ids. */
	c = store_cursors("mattermost:a", 0);
	assert_int_equal(json_object_size(c), nitems(bad) + 3);
	json_decref(c);
	assert_int_equal(seen_each(0), 2);
	assert_string_equal(each_text, "mattermost:a g1;mattermost:a g2;");
	/* A bad row is written over with a good list when its cursor moves. */
	store_set_cursor("bad0", "mattermost:a", "n1", 20);
	store_close();
	assert_string_equal(peek(f, "SELECT seen_ids FROM bridge_cursors WHERE "
	    "channel_id = 'bad0'"), "[[\"n1\",20]]");
}

#define T(fn)	cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_reads_after_writes),
		T(test_callback_runs_on_the_loop_after_commit),
		T(test_forgotten_callback_is_not_called),
		T(test_cursor_burst_is_a_few_transactions),
		T(test_close_flushes_and_open_loads),
		T(test_corrupt_database_means_memory_only),
		T(test_prefs_cover_every_column),
		T(test_seen_ids_are_saved_with_the_cursor),
		T(test_seen_ids_are_bounded),
		T(test_bad_seen_ids_are_ignored),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
