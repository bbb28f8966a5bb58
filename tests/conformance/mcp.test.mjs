// Conformance: the official MCP TypeScript SDK's client over stdio against
// tests/fakes/mcp_server.py.  The handshake, tools/list, tools/call, ping,
// errors and the environment and directory the server runs in are what a
// real client sees; if the fake answered anything a real client refuses,
// these tests fail, so they prove it fit to stand for an MCP server in the
// integration tests (tests/integration/test_mcp.py).
//
//   cd tests && node --test conformance/mcp.test.mjs

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { McpError, ErrorCode, LATEST_PROTOCOL_VERSION } from '@modelcontextprotocol/sdk/types.js';
import { FAKES_DIR } from './lib.mjs';

const PYTHON = process.env.PYTHON || '/usr/bin/python3';
const SERVER = path.join(FAKES_DIR, 'mcp_server.py');
const T = { timeout: 30000 };

async function connect(args = [], opts = {}) {
    const transport = new StdioClientTransport({
        command: PYTHON,
        args: [SERVER, ...args],
        stderr: 'pipe',
        ...opts,
    });
    const client = new Client({ name: 'conformance', version: '1.0.0' });
    await client.connect(transport, { timeout: 10000 });
    return { client, transport };
}

test('handshake: version, capabilities, server info, instructions', T, async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mcp-conf-'));
    const log = path.join(dir, 'log.jsonl');
    // connect() refuses a protocol version the SDK does not support.
    const { client } = await connect(['--name', 'conf', '--log', log]);
    try {
        assert.deepEqual(client.getServerVersion(), { name: 'conf', version: '1.0.0' });
        assert.ok(client.getServerCapabilities().tools, 'tools capability');
        assert.equal(client.getInstructions(), 'Test server conf.');
        assert.deepEqual(await client.ping(), {});
        const init = JSON.parse(readFileSync(log, 'utf8').split('\n')[0]);
        assert.equal(init.params.protocolVersion, LATEST_PROTOCOL_VERSION);
    } finally {
        await client.close();
        rmSync(dir, { recursive: true, force: true });
    }
});

test('tools/list gives every tool with a JSON Schema the SDK accepts', T, async () => {
    const { client } = await connect(['--tool', 'report', '--tool', 'probe']);
    try {
        const { tools, nextCursor } = await client.listTools();
        assert.equal(nextCursor, undefined);
        assert.deepEqual(tools.map((t) => t.name), ['report', 'probe']);
        for (const t of tools) {
            assert.equal(t.inputSchema.type, 'object');
            assert.equal(t.inputSchema.properties.message.type, 'string');
            assert.equal(typeof t.description, 'string');
        }
        await assert.rejects(client.listTools({ cursor: 'never-given' }),
            (e) => e instanceof McpError && e.code === ErrorCode.InvalidParams);
    } finally {
        await client.close();
    }
});

test('tools/call reports the message, the environment and the directory', T, async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mcp-conf-'));
    const { client } = await connect(['--name', 'envy'], {
        env: { PATH: process.env.PATH, GIVEN: 'given-value' },
        cwd: dir,
    });
    try {
        const r = await client.callTool({ name: 'report', arguments: {
            message: 'hello', env: ['GIVEN', 'ABSENT'] } });
        assert.equal(r.isError, false);
        assert.deepEqual(r.content, [{ type: 'text', text:
            `envy/report says: hello; env GIVEN=given-value; env ABSENT=<unset>; cwd ${dir}` }]);
        const d = await client.callTool({ name: 'report', arguments: {
            env: ['GIVEN'], digest: true } });
        const sha = createHash('sha256').update('given-value').digest('hex');
        assert.match(d.content[0].text, new RegExp(`env GIVEN=sha256:${sha};`));
        assert.doesNotMatch(d.content[0].text, /given-value/);
        await assert.rejects(client.callTool({ name: 'no-such-tool', arguments: {} }),
            (e) => e instanceof McpError && e.code === ErrorCode.InvalidParams);
    } finally {
        await client.close();
        rmSync(dir, { recursive: true, force: true });
    }
});

test('a server that exits at once fails the connect', T, async () => {
    const transport = new StdioClientTransport({
        command: PYTHON, args: [SERVER, '--exit-at-once'], stderr: 'pipe' });
    const client = new Client({ name: 'conformance', version: '1.0.0' });
    await assert.rejects(client.connect(transport, { timeout: 10000 }));
});

test('the log records what the client sent, in order', T, async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mcp-conf-'));
    const log = path.join(dir, 'log.jsonl');
    const { client } = await connect(['--log', log]);
    try {
        await client.listTools();
        await client.close();
        const methods = readFileSync(log, 'utf8').trim().split('\n')
            .map((l) => JSON.parse(l).method);
        assert.deepEqual(methods, ['initialize', 'notifications/initialized', 'tools/list']);
    } finally {
        rmSync(dir, { recursive: true, force: true });
    }
});

test('before initialize only ping is answered; bad lines get JSON-RPC errors', T, async () => {
    const p = spawn(PYTHON, [SERVER], { stdio: ['pipe', 'pipe', 'ignore'] });
    const lines = [];
    let buf = '';
    p.stdout.setEncoding('utf8');
    p.stdout.on('data', (d) => {
        buf += d;
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
            lines.push(JSON.parse(buf.slice(0, i)));
            buf = buf.slice(i + 1);
        }
    });
    p.stdin.write('{"jsonrpc":"2.0","id":1,"method":"tools/list"}\n');
    p.stdin.write('{"jsonrpc":"2.0","id":2,"method":"ping"}\n');
    p.stdin.write('not json\n');
    p.stdin.write('{"jsonrpc":"2.0","id":3,"method":"initialize","params":' +
        '{"protocolVersion":"2024-11-05","capabilities":{},' +
        '"clientInfo":{"name":"raw","version":"0"}}}\n');
    p.stdin.write('{"jsonrpc":"2.0","id":4,"method":"no/such"}\n');
    p.stdin.end();
    await new Promise((resolve) => p.on('exit', resolve));
    assert.equal(lines[0].error.code, -32002);
    assert.deepEqual(lines[1], { jsonrpc: '2.0', id: 2, result: {} });
    assert.equal(lines[2].error.code, -32700);
    assert.equal(lines[3].result.protocolVersion, '2024-11-05');
    assert.equal(lines[4].error.code, -32601);
});
