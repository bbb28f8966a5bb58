// Shared helpers for the conformance tests: start a fake (tests/fakes/*.py)
// as a subprocess on a free 127.0.0.1 port, talk to its /_fake control API,
// and wait for conditions with a bound.

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
export const FAKES_DIR = path.resolve(here, '..', 'fakes');
const PYTHON = process.env.PYTHON || '/usr/bin/python3';

const live = new Set();
process.on('exit', () => {
    for (const child of live) {
        try { child.kill('SIGKILL'); } catch { /* already gone */ }
    }
});

// startFake('mattermost.py', ['--seed', f]) -> {port, url, proc, stderr(), control(), stop()}
// The fake prints `LISTENING <port>` once bound; anything else is an error.
export function startFake(script, args = [], { timeoutMs = 10000 } = {}) {
    const scriptPath = path.isAbsolute(script) ? script : path.join(FAKES_DIR, script);
    const proc = spawn(PYTHON, [scriptPath, '--port', '0', ...args], {
        stdio: ['ignore', 'pipe', 'pipe'],
    });
    live.add(proc);
    let errText = '';
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (d) => { errText = (errText + d).slice(-16384); });

    let exited = false;
    const exitPromise = new Promise((resolve) => {
        proc.on('exit', (code, signal) => { exited = true; live.delete(proc); resolve({ code, signal }); });
    });

    return new Promise((resolve, reject) => {
        let out = '';
        const timer = setTimeout(() => {
            proc.kill('SIGKILL');
            reject(new Error(`${script} did not print LISTENING within ${timeoutMs} ms; stderr:\n${errText}`));
        }, timeoutMs);
        proc.stdout.setEncoding('utf8');
        proc.stdout.on('data', (d) => {
            out += d;
            const m = /^LISTENING (\d+)$/m.exec(out);
            if (!m) return;
            clearTimeout(timer);
            proc.stdout.removeAllListeners('data');
            proc.stdout.resume();
            const port = Number(m[1]);
            const url = `http://127.0.0.1:${port}`;
            resolve({
                port,
                url,
                proc,
                stderr: () => errText,
                control: (method, p, body) => control(url, method, p, body),
                async stop(graceMs = 5000) {
                    if (exited) return exitPromise;
                    proc.kill('SIGTERM');
                    const t = setTimeout(() => proc.kill('SIGKILL'), graceMs);
                    const res = await exitPromise;
                    clearTimeout(t);
                    return res;
                },
            });
        });
        proc.on('exit', (code, signal) => {
            clearTimeout(timer);
            reject(new Error(`${script} exited early (code ${code}, signal ${signal}); stderr:\n${errText}`));
        });
    });
}

// control(url, 'POST', '/sockets/drop', {user: 'bot-a'}) -> parsed JSON; throws on non-2xx.
export async function control(url, method, p, body) {
    const res = await fetch(`${url}/_fake${p}`, {
        method,
        headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(5000),
    });
    const text = await res.text();
    const data = text ? JSON.parse(text) : null;
    if (!res.ok) {
        throw new Error(`control ${method} ${p} -> ${res.status}: ${text}`);
    }
    return data;
}

// Poll `pred` until it returns a truthy value; reject after timeoutMs.
export async function waitFor(pred, { timeoutMs = 5000, intervalMs = 20, what = 'condition' } = {}) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const v = await pred();
        if (v) return v;
        if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
        await new Promise((r) => setTimeout(r, intervalMs));
    }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
