// Conformance: the official @slack/web-api (WebClient) and @slack/socket-mode
// (SocketModeClient) against tests/fakes/slack.py.  If the fake deviates from
// what the clients expect (platforms.md §B, §C), these tests fail.
//
//   cd tests && node --test conformance/
//
// SLACK_DEBUG=1 shows the clients' own logging.

import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { WebClient, ErrorCode } from '@slack/web-api';
import { SocketModeClient, LogLevel } from '@slack/socket-mode';
import { startFake, waitFor, sleep } from './lib.mjs';

const TS_RE = /^\d{10}\.\d{6}$/;
let fake;
let state;
let botA;           // the seeded bridge-a bot: {user_id, bot_id, app_id, bot_tokens, app_tokens}
const clients = [];

// The clients log through this; keep the TAP output clean unless SLACK_DEBUG.
const logged = [];
const logger = {
    level: LogLevel.DEBUG,
    setLevel(l) { this.level = l; },
    getLevel() { return this.level; },
    setName() {},
    debug: (...a) => log('debug', a),
    info: (...a) => log('info', a),
    warn: (...a) => log('warn', a),
    error: (...a) => log('error', a),
};
function log(level, args) {
    const line = `${level}: ${args.map(String).join(' ')}`;
    if (process.env.SLACK_DEBUG) process.stderr.write(`${line}\n`);
    logged.push(line);
    if (logged.length > 500) logged.shift();
}

before(async () => {
    fake = await startFake('slack.py');
    state = await fake.control('GET', '/state');
    botA = state.bots.find((b) => b.name === 'bridge-a');
});

async function shutdownClients() {
    while (clients.length) {
        const c = clients.pop();
        await Promise.race([c.disconnect().catch(() => {}), sleep(3000)]);
    }
}

after(async () => {
    await shutdownClients();
    if (fake) {
        const res = await fake.stop();
        assert.equal(res.code, 0, `fake exit: ${JSON.stringify(res)}\n${fake.stderr()}`);
        assert.doesNotMatch(fake.stderr(), /Traceback|tick failed/);
    }
});

afterEach(async () => {
    await shutdownClients();
    await fake.control('POST', '/reset');
    state = await fake.control('GET', '/state');
    botA = state.bots.find((b) => b.name === 'bridge-a');
});

const T = { timeout: 30000 };

const api = (token, opts = {}) => new WebClient(token, {
    slackApiUrl: `${fake.url}/api/`, logger, retryConfig: { retries: 0 }, ...opts,
});

// A SocketModeClient that records everything it is handed.  `ackIf(ev)`
// decides whether to ack (default: always).
function socket({ token = botA.app_tokens[0], ackIf = () => true, clientPingTimeout = 1000 } = {}) {
    const c = new SocketModeClient({
        appToken: token, logger, clientPingTimeout,
        clientOptions: { slackApiUrl: `${fake.url}/api/`, retryConfig: { retries: 2, factor: 1 } },
    });
    c.seen = [];
    c.on('slack_event', async (ev) => {
        c.seen.push(ev);
        if (ackIf(ev)) await ev.ack();
    });
    clients.push(c);
    return c;
}

async function platformError(promise, code) {
    await assert.rejects(promise, (err) => {
        assert.equal(err.code, ErrorCode.PlatformError, `${err.code}: ${err.message}`);
        assert.equal(err.data.ok, false);
        assert.equal(err.data.error, code);
        return true;
    });
}

const say = (user, channel, text, extra = {}) =>
    fake.control('POST', '/post', { user, channel, text, ...extra });

// ---------------------------------------------------------------- Web API

test('auth.test, chat.postMessage/update/delete, reactions.add and errors', T, async () => {
    const web = api(botA.bot_tokens[0]);
    const me = await web.auth.test();
    assert.equal(me.ok, true);
    assert.equal(me.user_id, botA.user_id);
    assert.equal(me.bot_id, botA.bot_id);
    assert.equal(me.team_id, state.team.id);
    assert.equal(me.user, 'bridge-a');
    assert.match(me.url, /^https:\/\/.*\.slack\.com\/$/);

    const text = 'hello &amp; <b> \u00e9 \ud83d\ude00';
    const root = await web.chat.postMessage({ channel: 'C01GENERAL', text });
    assert.equal(root.channel, 'C01GENERAL');
    assert.equal(typeof root.ts, 'string');
    assert.match(root.ts, TS_RE);
    assert.equal(root.message.text, text);
    assert.equal(root.message.bot_id, botA.bot_id);
    assert.equal(root.message.user, botA.user_id);
    assert.equal(root.message.ts, root.ts);
    assert.equal(root.message.subtype, undefined, 'the app\'s own post has no subtype');

    const reply = await web.chat.postMessage({ channel: 'C01GENERAL', text: 'in thread', thread_ts: root.ts });
    assert.equal(reply.message.thread_ts, root.ts);
    assert.ok(reply.ts > root.ts, 'ts is increasing');
    const tss = [];
    for (let i = 0; i < 5; i++) tss.push((await web.chat.postMessage({ channel: 'C01GENERAL', text: `n${i}` })).ts);
    assert.equal(new Set(tss).size, 5, 'ts is unique');
    assert.deepEqual([...tss].sort(), tss, 'ts sorts in posting order');

    const upd = await web.chat.update({ channel: 'C01GENERAL', ts: reply.ts, text: 'edited' });
    assert.equal(upd.ts, reply.ts);
    assert.equal(upd.text, 'edited');
    assert.equal(upd.message.edited.user, botA.user_id);

    assert.equal((await web.reactions.add({ channel: 'C01GENERAL', timestamp: root.ts, name: 'eyes' })).ok, true);
    await platformError(web.reactions.add({ channel: 'C01GENERAL', timestamp: root.ts, name: 'eyes' }), 'already_reacted');
    await platformError(web.reactions.add({ channel: 'C01GENERAL', timestamp: root.ts, name: ':eyes:' }), 'invalid_name');

    const del = await web.chat.delete({ channel: 'C01GENERAL', ts: reply.ts });
    assert.deepEqual([del.channel, del.ts], ['C01GENERAL', reply.ts]);
    await platformError(web.chat.delete({ channel: 'C01GENERAL', ts: reply.ts }), 'message_not_found');
    await platformError(web.chat.update({ channel: 'C01GENERAL', ts: '1.000001', text: 'x' }), 'message_not_found');
    await platformError(web.chat.postMessage({ channel: 'C0NOPE', text: 'x' }), 'channel_not_found');
    await platformError(web.chat.postMessage({ channel: 'C01RANDOM', text: 'x' }), 'not_in_channel');
    await platformError(web.chat.postMessage({ channel: 'C01GENERAL' }), 'no_text');
    await platformError(api('xoxb-nope').auth.test(), 'invalid_auth');
    await platformError(api(undefined).auth.test(), 'not_authed');
    await platformError(api(botA.app_tokens[0]).chat.postMessage({ channel: 'C01GENERAL', text: 'x' }),
        'not_allowed_token_type');

    // A message another bot did not write cannot be changed by this one.
    const other = await say('alice', 'general', 'from alice');
    await platformError(web.chat.update({ channel: 'C01GENERAL', ts: other.ts, text: 'x' }), 'cant_update_message');

    const { messages } = await fake.control('GET', '/channels/general/messages');
    const r = messages.find((m) => m.ts === reply.ts);
    assert.equal(r.deleted, true);
    assert.deepEqual(r.history.map((h) => h.text), ['in thread']);
    assert.equal(r.text, 'edited');
    assert.deepEqual(messages.find((m) => m.ts === root.ts).reactions,
        [{ name: 'eyes', users: [botA.user_id], count: 1 }]);
});

test('files.uploadV2 into a thread, files.info, url_private with the token only', T, async () => {
    const token = botA.bot_tokens[0];
    const web = api(token);
    const root = await web.chat.postMessage({ channel: 'C01GENERAL', text: 'root' });
    const data = Buffer.from(Array.from({ length: 50000 }, (_, i) => (i * 13) & 0xff));
    // getUploadURLExternal, the bytes to upload_url, completeUploadExternal.
    const res = await web.files.uploadV2({
        channel_id: 'C01GENERAL', file: data, filename: 'r.bin',
        initial_comment: 'here it is', thread_ts: root.ts });
    assert.equal(res.ok, true);
    const f = res.files[0].files[0];
    assert.match(f.id, /^F[A-Z0-9]+$/);
    const kept = (await fake.control('GET', '/files')).files.find((x) => x.id === f.id);
    assert.equal(kept.size, data.length);
    assert.equal(kept.declared_length, data.length);
    assert.equal(kept.thread_ts, root.ts);
    assert.equal(kept.initial_comment, 'here it is');
    assert.deepEqual(kept.channels, ['C01GENERAL']);
    const { messages } = await fake.control('GET', '/channels/general/messages');
    const shared = messages.find((m) => m.files && m.files[0].id === f.id);
    assert.equal(shared.thread_ts, root.ts);
    assert.equal(shared.text, 'here it is');
    assert.equal(shared.user, botA.user_id);

    const info = await web.files.info({ file: f.id });
    assert.equal(info.file.size, data.length);
    assert.equal(info.file.name, 'r.bin');
    assert.equal(info.file.shares.public.C01GENERAL[0].ts, shared.ts);
    const got = await fetch(info.file.url_private_download, {
        headers: { Authorization: `Bearer ${token}` }, redirect: 'manual' });
    assert.equal(got.status, 200);
    assert.deepEqual(Buffer.from(await got.arrayBuffer()), data);
    // Without the token: the login page, never the file.
    const anon = await fetch(info.file.url_private, { redirect: 'manual' });
    assert.equal(anon.status, 302);

    await platformError(web.files.getUploadURLExternal({ filename: 'x.txt' }), 'invalid_arguments');
    await platformError(web.files.completeUploadExternal({ files: JSON.stringify([{ id: 'FNOPE' }]) }),
        'file_not_found');
    await platformError(web.files.info({ file: 'FNOPE' }), 'file_not_found');
});

test('users.list and conversations.list with cursor pagination (WebClient.paginate)', T, async () => {
    const web = api(botA.bot_tokens[0]);
    const users = [];
    let pages = 0;
    for await (const page of web.paginate('users.list', { limit: 2 })) {
        pages += 1;
        users.push(...page.members);
    }
    assert.ok(pages >= 2, `paginated over ${pages} pages`);
    assert.deepEqual(users.map((u) => u.name).sort(), ['alice', 'bob', 'bridge-a', 'bridge-b']);
    assert.equal(users.find((u) => u.id === botA.user_id).is_bot, true);

    const convs = [];
    for await (const page of web.paginate('conversations.list',
        { types: 'public_channel,private_channel,im', limit: 1 })) {
        convs.push(...page.channels);
    }
    const ids = convs.map((c) => c.id).sort();
    // Public channels (member or not), the private one bridge-a is in, its DM; not bridge-b's DM.
    assert.deepEqual(ids, ['C01GENERAL', 'C01RANDOM', 'D01ALICEA', 'G01OPS']);
    const dm = convs.find((c) => c.id === 'D01ALICEA');
    assert.equal(dm.is_im, true);
    assert.equal(dm.user, 'U01ALICE');
    assert.equal(convs.find((c) => c.id === 'C01RANDOM').is_member, false);
    await platformError(web.conversations.list({ cursor: 'bm9wZQ==' }), 'invalid_cursor');
});

test('429 with Retry-After: the client waits and retries, or rejects when told to', T, async () => {
    await fake.control('POST', '/ratelimit', { count: 1, retry_after: 1 });
    const web = api(botA.bot_tokens[0], { retryConfig: { retries: 2, factor: 1, minTimeout: 10 } });
    const limited = [];
    web.on('rate_limited', (secs) => limited.push(secs));
    const t0 = Date.now();
    const res = await web.chat.postMessage({ channel: 'C01GENERAL', text: 'after 429' });
    assert.equal(res.ok, true);
    assert.deepEqual(limited, [1]);
    assert.ok(Date.now() - t0 >= 900, 'waited Retry-After');

    await fake.control('POST', '/ratelimit', { count: 1, retry_after: 1, method: 'auth.test' });
    const strict = api(botA.bot_tokens[0], { rejectRateLimitedCalls: true });
    await assert.rejects(strict.auth.test(), (err) => {
        assert.equal(err.code, ErrorCode.RateLimitedError);
        assert.equal(err.retryAfter, 1);
        return true;
    });
    assert.equal((await strict.auth.test()).ok, true, 'only the next call was limited');
});

// ------------------------------------------------------------ Socket Mode

test('socket mode: hello, message + app_mention for a mention, acks', T, async () => {
    const sm = socket();
    const conn = await sm.start();
    assert.match(conn.url, /^ws:\/\/127\.0\.0\.1:\d+\/link\/\?ticket=/);

    const posted = await say('alice', 'general', `hi <@${botA.user_id}> please`);
    await waitFor(() => sm.seen.length >= 2, { what: 'message + app_mention' });
    await sleep(100);
    const byType = Object.fromEntries(sm.seen.map((e) => [e.body.event.type, e]));
    assert.deepEqual(Object.keys(byType).sort(), ['app_mention', 'message']);
    const msg = byType.message;
    assert.equal(msg.type, 'events_api');
    assert.equal(msg.retry_num, 0);
    assert.equal(msg.retry_reason, '');
    assert.equal(msg.accepts_response_payload, false);
    assert.equal(msg.body.type, 'event_callback');
    assert.equal(msg.body.api_app_id, botA.app_id);
    assert.match(msg.body.event_id, /^Ev[A-Z0-9]+$/);
    assert.equal(msg.event ?? msg.body.event, msg.body.event);
    const ev = msg.body.event;
    assert.equal(ev.channel, 'C01GENERAL');
    assert.equal(ev.user, 'U01ALICE');
    assert.equal(ev.ts, posted.ts);
    assert.equal(ev.channel_type, 'channel');
    assert.equal(ev.subtype, undefined);
    assert.equal(ev.bot_id, undefined);
    const mention = byType.app_mention.body.event;
    assert.equal(mention.ts, posted.ts);
    assert.equal(mention.channel, 'C01GENERAL');
    assert.notEqual(byType.app_mention.body.event_id, msg.body.event_id, 'separate event_ids');

    // A DM: message with channel_type im, no app_mention.
    await say('alice', 'D01ALICEA', 'direct');
    await waitFor(() => sm.seen.length >= 3, { what: 'dm' });
    const dm = sm.seen[2].body.event;
    assert.equal(dm.channel_type, 'im');
    assert.equal(dm.text, 'direct');

    // The app's own post comes back with bot_id and no subtype.
    const web = api(botA.bot_tokens[0]);
    const own = await web.chat.postMessage({ channel: 'C01GENERAL', text: 'mine' });
    await waitFor(() => sm.seen.some((e) => e.body.event.ts === own.ts), { what: 'echo' });
    const echo = sm.seen.find((e) => e.body.event.ts === own.ts).body.event;
    assert.equal(echo.bot_id, botA.bot_id);
    assert.equal(echo.subtype, undefined);

    // Edits and deletes arrive as message_changed / message_deleted.
    await web.chat.update({ channel: 'C01GENERAL', ts: own.ts, text: 'mine2' });
    await web.chat.delete({ channel: 'C01GENERAL', ts: own.ts });
    await waitFor(() => sm.seen.some((e) => e.body.event.subtype === 'message_deleted'), { what: 'deleted' });
    const changed = sm.seen.find((e) => e.body.event.subtype === 'message_changed').body.event;
    assert.equal(changed.message.ts, own.ts);
    assert.equal(changed.message.text, 'mine2');
    assert.equal(changed.previous_message.text, 'mine');
    const deleted = sm.seen.find((e) => e.body.event.subtype === 'message_deleted').body.event;
    assert.equal(deleted.deleted_ts, own.ts);

    // Every envelope was acked (the SDK sends {"envelope_id","payload":{}}).
    await waitFor(async () => {
        const { deliveries } = await fake.control('GET', '/deliveries');
        return deliveries.length === sm.seen.length && deliveries.every((d) => d.acked);
    }, { what: 'all acked' });
    const { acks } = await fake.control('GET', '/deliveries');
    assert.ok(acks.every((a) => a.result === 'acked' && a.has_payload));
    const env = await fake.control('GET', '/envelopes?bot=bridge-a');
    assert.deepEqual(env['bridge-a'].unacked, []);
});

test('socket mode: a skipped ack is redelivered with retry_attempt 1, reason timeout', T, async () => {
    let skipped = 0;
    const sm = socket({ ackIf: (e) => !(e.body.event.text === 'skip me' && e.retry_num === 0 && ++skipped) });
    await sm.start();
    const t0 = Date.now();
    await say('bob', 'general', 'skip me');
    await waitFor(() => sm.seen.length >= 2, { timeoutMs: 6000, what: 'redelivery' });
    const [first, second] = sm.seen;
    assert.equal(skipped, 1);
    assert.equal(first.retry_num, 0);
    assert.equal(second.retry_num, 1);
    assert.equal(second.retry_reason, 'timeout');
    assert.equal(second.body.event_id, first.body.event_id, 'same event_id');
    assert.equal(second.body.event.ts, first.body.event.ts);
    const waited = Date.now() - t0;
    assert.ok(waited >= 2800 && waited < 5000, `redelivered after ${waited} ms (ack timeout 3 s)`);
    await sleep(3500);
    assert.equal(sm.seen.length, 2, 'acked redelivery is not sent again');
});

test('socket mode: each event goes to exactly one of several connections', T, async () => {
    await fake.control('POST', '/config', { balance: 'round_robin' });
    const a = socket();
    const b = socket();
    await a.start();
    await b.start();
    const { connections } = await fake.control('GET', '/connections');
    assert.equal(connections.length, 2);
    const n = 6;
    for (let i = 0; i < n; i++) await say('alice', 'general', `m${i}`);
    await waitFor(() => a.seen.length + b.seen.length >= n, { what: 'all events' });
    await sleep(300);
    const ids = [...a.seen, ...b.seen].map((e) => e.body.event_id);
    assert.equal(ids.length, n, 'no duplicates');
    assert.equal(new Set(ids).size, n);
    assert.ok(a.seen.length > 0 && b.seen.length > 0, 'both connections used');
});

test('socket mode: refresh_requested makes the SDK reconnect with a new ticket', T, async () => {
    const sm = socket();
    const first = await sm.start();
    const reconnected = new Promise((resolve) => sm.once('connected', resolve));
    const r = await fake.control('POST', '/connections/disconnect', { reason: 'refresh_requested' });
    assert.equal(r.count, 1);
    await Promise.race([reconnected, sleep(10000).then(() => { throw new Error('no reconnect'); })]);
    const { connections } = await fake.control('GET', '/connections');
    assert.equal(connections.length, 1);
    assert.notEqual(connections[0].id, r.connections[0]);
    const { requests } = await fake.control('GET', '/log');
    assert.equal(requests.filter((q) => q.method === 'apps.connections.open').length, 2);

    await say('alice', 'general', 'after refresh');
    await waitFor(() => sm.seen.some((e) => e.body.event.text === 'after refresh'), { what: 'event after reconnect' });

    // A ticket is single-use: the first URL no longer connects.
    const status = await new Promise((resolve) => {
        const ws = new WebSocket(first.url);
        ws.on('unexpected-response', (_req, res) => { resolve(res.statusCode); ws.terminate(); });
        ws.on('open', () => { resolve('open'); ws.terminate(); });
        ws.on('error', () => {});
    });
    assert.equal(status, 401);
});

test('socket mode: a bad app token is refused by apps.connections.open', T, async () => {
    const sm = new SocketModeClient({
        appToken: 'xapp-1-nope', logger,
        clientOptions: { slackApiUrl: `${fake.url}/api/`, retryConfig: { retries: 0 } },
    });
    await assert.rejects(sm.start(), (err) => {
        assert.equal(err.data?.error, 'invalid_auth');
        return true;
    });
    // (not_allowed_token_type for an xoxb token is retried forever by the
    // SDK; tests/integration/test_fake_slack.py covers it.)
});
