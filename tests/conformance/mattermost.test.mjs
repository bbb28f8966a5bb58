// Conformance: the official @mattermost/client (Client4 + WebSocketClient)
// against tests/fakes/mattermost.py.  If the fake deviates from what the
// client expects (platforms.md §A, §C), these tests fail.
//
//   cd tests && node --test conformance/
//
// MM_DEBUG=1 shows the client's own console logging.

import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import mm from '@mattermost/client';
import { startFake, waitFor } from './lib.mjs';

const { Client4, WebSocketClient } = mm;

// Node 20 has neither a global WebSocket (the client reads WebSocket.OPEN)
// nor CloseEvent (the client builds one on a seq gap or a ping timeout).
globalThis.WebSocket = WebSocket;
globalThis.CloseEvent ??= class CloseEvent extends Event {
    constructor(type, init = {}) {
        super(type);
        this.code = init.code ?? 0;
        this.reason = init.reason ?? '';
        this.wasClean = Boolean(init.wasClean);
    }
};

// The client logs every (re)connect with console.log; keep the TAP output clean.
const clientLog = [];
if (!process.env.MM_DEBUG) {
    console.log = (...args) => {
        clientLog.push(args.map(String).join(' '));
        if (clientLog.length > 200) clientLog.shift();
    };
}

const BOT_TOKEN = 'fakebotatoken0000000000000';
let fake;
let team;
let users;          // username -> user (from the fake's state)
let townSquare;
const openSockets = [];

before(async () => {
    fake = await startFake('mattermost.py');
    const state = await fake.control('GET', '/state');
    team = state.team;
    users = Object.fromEntries(state.users.map((u) => [u.username, u]));
    townSquare = state.channels.find((c) => c.name === 'town-square');
});

// Stop a WebSocketClient for good, even mid-connect or mid-backoff (close()
// alone leaves a CONNECTING socket that would reconnect forever).
function shutdown(rec) {
    rec.client.close();
    for (const s of rec.sockets) {
        s.onopen = s.onclose = s.onmessage = s.onerror = null;
        s.on('error', () => {});
        s.terminate();
    }
    rec.client.close();
}

after(async () => {
    while (openSockets.length) shutdown(openSockets.pop());
    if (fake) await fake.stop();
});

afterEach(async () => {
    while (openSockets.length) shutdown(openSockets.pop());
    await fake.control('POST', '/reset');
});

const T = { timeout: 30000 };

function client(token) {
    const c = new Client4();
    c.setUrl(fake.url);
    if (token) c.setToken(token);
    return c;
}

async function loggedIn(username) {
    const c = client();
    await c.login(username, `${username}-password`);
    return c;
}

async function rejects(promise, { status, id }) {
    await assert.rejects(promise, (err) => {
        assert.equal(err.status_code, status, `status_code of ${err.message}`);
        if (id) assert.equal(err.server_error_id, id);
        return true;
    });
}

// Opens a WebSocketClient and records everything it sees:
//   urls   - every URL it connected to (with the resume query)
//   raw    - per TCP connection, every frame as parsed JSON (events and replies)
//   events - what reached the message listener (after the client's seq check)
function openSocket({ token, header = false, retryMs = 300 } = {}) {
    const rec = { urls: [], raw: [], sockets: [], events: [], missed: 0, reconnects: 0, closes: 0 };
    const ws = new WebSocketClient({
        minWebSocketRetryTime: retryMs,
        reconnectJitterRange: 0,
        clientPingInterval: 30000,
        newWebSocketFn: (url) => {
            rec.urls.push(url);
            const sock = header
                ? new WebSocket(url, { headers: { Authorization: `Bearer ${token}` } })
                : new WebSocket(url);
            const frames = [];
            rec.raw.push(frames);
            rec.sockets.push(sock);
            sock.on('message', (data) => frames.push(JSON.parse(data.toString())));
            return sock;
        },
    });
    ws.addMessageListener((msg) => rec.events.push(msg));
    ws.addMissedMessageListener(() => { rec.missed += 1; });
    ws.addReconnectListener(() => { rec.reconnects += 1; });
    ws.addCloseListener(() => { rec.closes += 1; });
    ws.initialize(`${fake.url.replace('http', 'ws')}/api/v4/websocket`, header ? null : token);
    rec.client = ws;
    openSockets.push(rec);
    return rec;
}

const hellos = (rec) => rec.events.filter((e) => e.event === 'hello');
const eventsOf = (rec, name) => rec.events.filter((e) => e.event === name);
const postedIds = (rec) => eventsOf(rec, 'posted').map((e) => JSON.parse(e.data.post).id);

function assertContinuous(frames, first) {
    const seqs = frames.filter((f) => 'event' in f).map((f) => f.seq);
    assert.ok(seqs.length > 0, 'no events on this connection');
    assert.equal(seqs[0], first, `first seq ${seqs[0]}, expected ${first}`);
    seqs.forEach((s, i) => assert.equal(s, first + i, `seq gap in ${JSON.stringify(seqs)}`));
    for (const f of frames) {
        if ('seq_reply' in f) {
            assert.ok(f.seq_reply > 0, 'a reply must carry a non-zero seq_reply');
            assert.ok(!('seq' in f) && !('event' in f), 'replies carry neither seq nor event');
        }
    }
    return seqs;
}

async function ready(rec) {
    await waitFor(() => hellos(rec).length > 0, { what: 'hello' });
    return hellos(rec)[0];
}

// ---------------------------------------------------------------- REST

test('login with username/password, token auth, getMe and error bodies', T, async () => {
    const c = client();
    const profile = await c.login('alice', 'alice-password');
    assert.equal(profile.username, 'alice');
    assert.match(c.getToken(), /^[a-z0-9]{26}$/, 'login sets the Token header value');
    const me = await c.getMe();
    assert.equal(me.id, profile.id);
    assert.match(me.id, /^[a-z0-9]{26}$/);
    assert.ok(me.roles.includes('system_admin'));

    await rejects(client().login('alice', 'wrong'),
        { status: 401, id: 'api.user.login.invalid_credentials_email_username' });

    const bot = client(BOT_TOKEN);
    const botMe = await bot.getMe();
    assert.equal(botMe.username, 'bot-a');
    assert.equal(botMe.is_bot, true);
    assert.equal((await bot.getUserByUsername('bob')).id, users.bob.id);
    assert.equal((await bot.getUser(users.alice.id)).username, 'alice');

    await rejects(client('nosuchtokennosuchtoken0000').getMe(),
        { status: 401, id: 'api.context.session_expired.app_error' });
    await rejects(client().getMe(), { status: 401, id: 'api.context.session_expired.app_error' });
    await rejects(bot.getUserByUsername('nobody'), { status: 404 });

    const old = c.getToken();
    await c.logout();
    await rejects(client(old).getMe(), { status: 401 });
});

test('teams, channels and direct channels', T, async () => {
    const bot = client(BOT_TOKEN);
    const teams = await bot.getMyTeams();
    assert.deepEqual(teams.map((t) => t.name), ['test-team']);
    const ts = await bot.getChannelByName(team.id, 'town-square');
    assert.equal(ts.id, townSquare.id);
    assert.equal(ts.type, 'O');
    assert.equal(ts.team_id, team.id);
    assert.equal((await bot.getChannelByNameAndTeamName('test-team', 'town-square')).id, ts.id);
    assert.equal((await bot.getChannel(ts.id)).display_name, 'Town Square');
    await rejects(bot.getChannelByName(team.id, 'no-such-channel'), { status: 404 });

    const dm = await bot.createDirectChannel([users['bot-a'].id, users.alice.id]);
    assert.equal(dm.type, 'D');
    assert.equal(dm.team_id, '');
    assert.equal(dm.name, [users['bot-a'].id, users.alice.id].sort().join('__'));
    const mine = await bot.getAllTeamsChannels();
    assert.ok(mine.some((ch) => ch.id === dm.id) && mine.some((ch) => ch.id === ts.id));
    const viaUser = await bot.doFetch(`${bot.getUserRoute(users['bot-a'].id)}/channels`, { method: 'get' });
    assert.ok(viaUser.some((ch) => ch.type === 'D' && ch.id === dm.id));

    const room = await bot.createChannel({ team_id: team.id, name: 'bridge-room', display_name: 'Bridge Room', type: 'O' });
    assert.equal(room.name, 'bridge-room');
    const member = await bot.addToChannel(users.bob.id, room.id);
    assert.equal(member.user_id, users.bob.id);
    await rejects(bot.createChannel({ team_id: team.id, name: 'bridge-room', display_name: 'x', type: 'O' }),
        { status: 400 });
});

test('create, reply, patch and delete posts; posts since', T, async () => {
    const bot = client(BOT_TOKEN);
    const text = 'hello <b> & "quotes" \u00e9 \ud83d\ude00';
    const root = await bot.createPost({ channel_id: townSquare.id, message: text });
    assert.match(root.id, /^[a-z0-9]{26}$/);
    assert.equal(root.message, text);
    assert.equal(root.user_id, users['bot-a'].id);
    assert.equal(root.root_id, '');
    assert.equal(root.props.from_bot, 'true');
    assert.equal(root.edit_at, 0);

    const reply = await bot.createPost({ channel_id: townSquare.id, message: 'reply', root_id: root.id });
    assert.equal(reply.root_id, root.id);
    await rejects(bot.createPost({ channel_id: townSquare.id, message: 'x', root_id: reply.id }),
        { status: 400, id: 'api.post.create_post.root_id.app_error' });

    const patched = await bot.patchPost({ id: reply.id, message: 'edited' });
    assert.equal(patched.message, 'edited');
    assert.ok(patched.edit_at > 0);
    assert.equal((await bot.getPost(reply.id)).message, 'edited');

    const since = await bot.getPostsSince(townSquare.id, root.create_at - 1);
    assert.ok(Array.isArray(since.order));
    assert.equal(typeof since.posts, 'object');
    assert.deepEqual([...since.order].sort(), [root.id, reply.id].sort());
    assert.equal(since.posts[reply.id].message, 'edited');
    assert.equal(since.order[0], reply.id, 'order is newest first');
    // A channel's last post time, which the worker's catch-up reads.
    const listed = (await bot.getAllTeamsChannels()).find((ch) => ch.id === townSquare.id);
    assert.equal(listed.last_post_at, reply.create_at);

    const bob = await loggedIn('bob');
    await rejects(bob.patchPost({ id: root.id, message: 'not yours' }),
        { status: 403, id: 'api.context.permissions.app_error' });

    assert.deepEqual(await bot.deletePost(reply.id), { status: 'OK' });
    await rejects(bot.getPost(reply.id), { status: 404 });

    const history = await fake.control('GET', '/channels/town-square/posts');
    const h = history.posts.find((p) => p.id === reply.id);
    assert.deepEqual(h.history.map((v) => v.message), ['reply', 'edited']);
    assert.ok(h.delete_at > 0);
});

test('files: uploadFile, a post with file_ids, getFileUrl, the file info', T, async () => {
    const bot = client(BOT_TOKEN);
    const bytes = Buffer.from(Array.from({ length: 70000 }, (_, i) => (i * 7) & 0xff));
    const form = new FormData();
    form.append('channel_id', townSquare.id);
    form.append('files', new Blob([bytes], { type: 'application/octet-stream' }), 'data.bin');
    const up = await bot.uploadFile(form);
    assert.equal(up.file_infos.length, 1);
    const info = up.file_infos[0];
    assert.match(info.id, /^[a-z0-9]{26}$/);
    assert.equal(info.name, 'data.bin');
    assert.equal(info.extension, 'bin');
    assert.equal(info.size, bytes.length);

    const post = await bot.createPost({ channel_id: townSquare.id, message: '', file_ids: [info.id] });
    assert.deepEqual(post.file_ids, [info.id]);
    assert.equal(post.metadata.files[0].id, info.id);
    assert.equal(post.metadata.files[0].name, 'data.bin');
    // A file goes in one post only.
    await rejects(bot.createPost({ channel_id: townSquare.id, message: 'x', file_ids: [info.id] }),
        { status: 400 });

    // The bytes, at the client's file URL, with the token in the header.
    const url = bot.getFileUrl(info.id);
    assert.equal(url, `${fake.url}/api/v4/files/${info.id}`);
    const got = await fetch(url, { headers: { Authorization: `Bearer ${BOT_TOKEN}` } });
    assert.equal(got.status, 200);
    assert.deepEqual(Buffer.from(await got.arrayBuffer()), bytes);
    assert.equal((await fetch(url)).status, 401);
    const meta = await fetch(`${url}/info`, { headers: { Authorization: `Bearer ${BOT_TOKEN}` } });
    assert.equal(meta.headers.get('content-type'), 'application/json');
    assert.equal((await meta.json()).post_id, post.id);

    // A user who can read the channel reads the file; a missing one is 404.
    const alice = await loggedIn('alice');
    const viaAlice = await fetch(alice.getFileUrl(info.id), {
        headers: { Authorization: `Bearer ${alice.getToken()}` } });
    assert.equal(viaAlice.status, 200);
    const nope = await fetch(bot.getFileUrl('x'.repeat(26)),
        { headers: { Authorization: `Bearer ${BOT_TOKEN}` } });
    assert.equal(nope.status, 404);
    // No file part: the server's error.
    const empty = new FormData();
    empty.append('channel_id', townSquare.id);
    await rejects(bot.uploadFile(empty),
        { status: 400, id: 'api.file.upload_file.incorrect_number_of_files.app_error' });
});

test('personal access tokens: create, use, revoke', T, async () => {
    const alice = await loggedIn('alice');
    const pat = await alice.createUserAccessToken(users['bot-a'].id, 'ci token');
    assert.match(pat.token, /^[a-z0-9]{26}$/);
    assert.equal(pat.user_id, users['bot-a'].id);
    const viaPat = client(pat.token);
    assert.equal((await viaPat.getMe()).username, 'bot-a');
    await alice.revokeUserAccessToken(pat.id);
    await rejects(viaPat.getMe(), { status: 401, id: 'api.context.session_expired.app_error' });
});

// ----------------------------------------------------------- WebSocket

test('websocket (challenge auth): hello, replies, posted, typing, reactions, edits', T, async () => {
    const bot = openSocket({ token: BOT_TOKEN });
    const hello = await ready(bot);
    assert.equal(hello.seq, 0);
    assert.match(hello.data.connection_id, /^[a-z0-9]{26}$/);
    assert.match(hello.data.server_version, /^\d+\.\d+\.\d+\./);
    assert.equal(hello.broadcast.user_id, users['bot-a'].id);
    // On the wire: hello first, then the challenge reply (seq 1), then the ping reply (seq 2).
    await waitFor(() => bot.raw[0].some((f) => f.seq_reply === 2), { what: 'ping reply' });
    const [first, challenge] = bot.raw[0];
    assert.equal(first.event, 'hello');
    assert.deepEqual(challenge, { status: 'OK', seq_reply: 1 });
    const pong = bot.raw[0].find((f) => f.seq_reply === 2);
    assert.equal(pong.status, 'OK');
    assert.equal(pong.data.text, 'pong');

    const aliceWs = openSocket({ token: users.alice.tokens[0] });
    await ready(aliceWs);

    // A post mentioning the bot, from another user.
    const alice = await loggedIn('alice');
    const p1 = await alice.createPost({ channel_id: townSquare.id, message: 'hi @bot-a <tag> & more' });
    await waitFor(() => postedIds(bot).includes(p1.id), { what: 'posted p1' });
    const ev = eventsOf(bot, 'posted').find((e) => JSON.parse(e.data.post).id === p1.id);
    assert.equal(typeof ev.data.post, 'string', 'data.post is a JSON string');
    const post = JSON.parse(ev.data.post);
    assert.equal(post.message, 'hi @bot-a <tag> & more');
    assert.equal(post.user_id, users.alice.id);
    assert.equal(post.channel_id, townSquare.id);
    assert.equal(ev.data.channel_type, 'O');
    assert.equal(ev.data.channel_name, 'town-square');
    assert.equal(ev.data.sender_name, '@alice');
    assert.equal(ev.data.team_id, team.id);
    assert.deepEqual(JSON.parse(ev.data.mentions), [users['bot-a'].id]);
    assert.equal(ev.broadcast.channel_id, townSquare.id);

    // A DM.
    const dm = await alice.createDirectChannel([users.alice.id, users['bot-a'].id]);
    const p2 = await alice.createPost({ channel_id: dm.id, message: 'direct' });
    await waitFor(() => postedIds(bot).includes(p2.id), { what: 'posted dm' });
    const dmEv = eventsOf(bot, 'posted').find((e) => JSON.parse(e.data.post).id === p2.id);
    assert.equal(dmEv.data.channel_type, 'D');
    assert.equal(dmEv.data.channel_display_name, '@alice');
    assert.equal(dmEv.data.team_id, '');
    assert.deepEqual(JSON.parse(dmEv.data.mentions), [users['bot-a'].id]);

    // The bot receives its own posts.
    const botRest = client(BOT_TOKEN);
    const own = await botRest.createPost({ channel_id: townSquare.id, message: 'mine' });
    await waitFor(() => postedIds(bot).includes(own.id), { what: 'own post echoed' });
    assert.ok(!('mentions' in eventsOf(bot, 'posted').find((e) => JSON.parse(e.data.post).id === own.id).data));

    // user_typing: OK reply to the bot, a typing event for the others (not the bot).
    const typingReply = await new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('no user_typing reply')), 5000);
        bot.client.userTyping(townSquare.id, '', (msg) => { clearTimeout(t); resolve(msg); });
    });
    assert.equal(typingReply.status, 'OK');
    await waitFor(() => eventsOf(aliceWs, 'typing').length > 0, { what: 'typing event' });
    const typing = eventsOf(aliceWs, 'typing')[0];
    assert.equal(typing.data.user_id, users['bot-a'].id);
    assert.equal(typing.broadcast.channel_id, townSquare.id);
    assert.equal(typing.broadcast.omit_users[users['bot-a'].id], true);
    // REST typing as the bridge sends it.
    await botRest.doFetch(`${botRest.getUserRoute('me')}/typing`,
        { method: 'post', body: JSON.stringify({ channel_id: townSquare.id }) });
    await waitFor(() => eventsOf(aliceWs, 'typing').length > 1, { what: 'REST typing event' });
    assert.equal(eventsOf(bot, 'typing').length, 0, 'the typing user is omitted');

    // Reactions, edits and deletes.
    await alice.addReaction(users.alice.id, own.id, 'thumbsup');
    await waitFor(() => eventsOf(bot, 'reaction_added').length > 0, { what: 'reaction_added' });
    const reaction = JSON.parse(eventsOf(bot, 'reaction_added')[0].data.reaction);
    assert.equal(reaction.emoji_name, 'thumbsup');
    assert.equal(reaction.post_id, own.id);
    assert.equal(reaction.user_id, users.alice.id);
    assert.equal(eventsOf(bot, 'reaction_added')[0].broadcast.channel_id, townSquare.id);

    await botRest.patchPost({ id: own.id, message: 'mine, edited' });
    await waitFor(() => eventsOf(bot, 'post_edited').length > 0, { what: 'post_edited' });
    assert.equal(JSON.parse(eventsOf(bot, 'post_edited')[0].data.post).message, 'mine, edited');
    await botRest.deletePost(own.id);
    await waitFor(() => eventsOf(bot, 'post_deleted').length > 0, { what: 'post_deleted' });
    assert.equal(JSON.parse(eventsOf(bot, 'post_deleted')[0].data.post).id, own.id);

    assertContinuous(bot.raw[0], 0);
    assertContinuous(aliceWs.raw[0], 0);
    assert.equal(bot.raw.length, 1, 'no reconnects');
});

test('websocket (header auth): several sockets per user each get every event', T, async () => {
    const a = openSocket({ token: BOT_TOKEN, header: true });
    const b = openSocket({ token: BOT_TOKEN, header: true });
    const [ha, hb] = [await ready(a), await ready(b)];
    assert.notEqual(ha.data.connection_id, hb.data.connection_id);
    // Header-authenticated: no challenge sent, so the only reply is the ping's (seq 1).
    await waitFor(() => a.raw[0].some((f) => f.seq_reply === 1), { what: 'ping reply' });

    const posted = [];
    for (let i = 0; i < 3; i++) {
        posted.push((await fake.control('POST', '/post', { user: 'alice', channel: 'town-square', message: `m${i}` })).id);
    }
    await waitFor(() => postedIds(a).length === 3 && postedIds(b).length === 3, { what: 'posts on both sockets' });
    assert.deepEqual(postedIds(a), posted);
    assert.deepEqual(postedIds(b), posted);
    assert.deepEqual(assertContinuous(a.raw[0], 0), [0, 1, 2, 3]);
    assert.deepEqual(assertContinuous(b.raw[0], 0), [0, 1, 2, 3]);
});

test('websocket: resume after a forced drop replays missed events without duplicates', T, async () => {
    // Header auth is what makes a connection resumable (§A.6).
    const rec = openSocket({ token: BOT_TOKEN, header: true, retryMs: 2000 });
    const hello = await ready(rec);
    const connId = hello.data.connection_id;
    const say = async (message) =>
        (await fake.control('POST', '/post', { user: 'alice', channel: 'town-square', message })).id;

    const p1 = await say('p1');
    await waitFor(() => postedIds(rec).includes(p1), { what: 'p1' });

    // p2, p3: written while the path is dead (silenced), so they sit in the
    // dead queue with seq 2 and 3 but never reach the client.
    await fake.control('POST', '/sockets/silence', { user: 'bot-a' });
    const p2 = await say('p2');
    const p3 = await say('p3');
    await waitFor(async () => {
        const { sockets } = await fake.control('GET', '/sockets');
        return sockets.find((s) => s.connection_id === connId)?.next_seq === 4;
    }, { what: 'p2, p3 sequenced' });

    // Drop the TCP connection; p4 arrives while the client is away.
    const closed = rec.closes;
    const dropped = await fake.control('POST', '/sockets/drop', { user: 'bot-a' });
    assert.equal(dropped.count, 1);
    await waitFor(() => rec.closes > closed, { what: 'client noticed the drop' });
    const p4 = await say('p4');
    assert.equal(rec.urls.length, 1, 'p4 was posted before the client reconnected');

    await waitFor(() => rec.urls.length === 2, { timeoutMs: 8000, what: 'reconnect' });
    const url = new URL(rec.urls[1]);
    assert.equal(url.searchParams.get('connection_id'), connId);
    assert.equal(url.searchParams.get('sequence_number'), '2');

    await waitFor(() => postedIds(rec).includes(p4), { what: 'replayed and queued posts' });
    assert.deepEqual(postedIds(rec), [p1, p2, p3, p4], 'each post exactly once, in order');
    const second = rec.raw[1];
    assert.ok(!second.some((f) => f.event === 'hello'), 'a resumed connection gets no hello');
    assert.deepEqual(assertContinuous(second, 2), [2, 3, 4]);
    assert.equal(rec.missed, 0, 'no missed-message callback on a resume');
    assert.equal(rec.reconnects, 1);
    const { sockets } = await fake.control('GET', '/sockets');
    assert.equal(sockets.find((s) => s.user_id === users['bot-a'].id).resume, 'replayed');
});

test('websocket: a connection that cannot be resumed gets a new connection_id hello', T, async () => {
    // (a) header auth, but the server forgot the connection (timeout/restart).
    const h = openSocket({ token: BOT_TOKEN, header: true });
    const oldH = (await ready(h)).data.connection_id;
    // (b) challenge auth: never resumable.
    const c = openSocket({ token: users.alice.tokens[0] });
    const oldC = (await ready(c)).data.connection_id;

    await fake.control('POST', '/sockets/drop', { user: 'bot-a', forget: true });
    await fake.control('POST', '/sockets/drop', { user: 'alice' });

    await waitFor(() => hellos(h).length === 2 && hellos(c).length === 2, { timeoutMs: 8000, what: 'second hellos' });
    for (const [rec, old] of [[h, oldH], [c, oldC]]) {
        const fresh = hellos(rec)[1];
        assert.notEqual(fresh.data.connection_id, old);
        assert.equal(fresh.seq, 0);
        assert.equal(rec.missed, 1, 'missed-message listener fires once');
        assert.equal(new URL(rec.urls[1]).searchParams.get('connection_id'), old);
        assertContinuous(rec.raw[1], 0);
    }
    // And the new connections deliver.
    const id = (await fake.control('POST', '/post', { user: 'bob', channel: 'town-square', message: 'after' })).id;
    await waitFor(() => postedIds(h).includes(id) && postedIds(c).includes(id), { what: 'post after reconnect' });
});
