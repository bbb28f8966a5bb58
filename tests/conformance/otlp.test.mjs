// Conformance: the official OpenTelemetry JS OTLP/HTTP trace exporter
// (JSON encoding, its default) against tests/fakes/otlp.py.  If the fake's
// strict validation refused what a real SDK sends, or recorded it wrongly,
// these tests fail; so they prove the fake fit to judge common/otel.c.
//
//   cd tests && node --test conformance/otlp.test.mjs

import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { context, trace, SpanKind, SpanStatusCode, TraceFlags } from '@opentelemetry/api';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { startFake } from './lib.mjs';

const PARENT_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_SPAN = '00f067aa0ba902b7';
const T = { timeout: 30000 };

let fake;

before(async () => {
    fake = await startFake('otlp.py');
});

after(async () => {
    if (fake) await fake.stop();
});

afterEach(async () => {
    await fake.control('POST', '/clear');
});

function provider(headers) {
    const exporter = new OTLPTraceExporter({
        url: `${fake.url}/v1/traces`,
        headers,
        timeoutMillis: 5000,
    });
    return new BasicTracerProvider({
        resource: resourceFromAttributes({
            'service.name': 'conformance',
            'copilot_bridge.process': 'worker',
            'copilot_bridge.generation': 3,
        }),
        spanProcessors: [new SimpleSpanProcessor(exporter)],
    });
}

async function spans(name) {
    const q = name ? `?name=${encodeURIComponent(name)}` : '';
    return (await fake.control('GET', `/spans${q}`)).spans;
}

test('official exporter: parent, attributes, event, error status', T, async () => {
    const tp = provider();
    const tracer = tp.getTracer('copilot-bridge', '1.2.3');
    const parentCtx = trace.setSpanContext(context.active(), {
        traceId: PARENT_TRACE, spanId: PARENT_SPAN,
        traceFlags: TraceFlags.SAMPLED, isRemote: true,
    });
    const span = tracer.startSpan('session.turn', {
        kind: SpanKind.INTERNAL,
        attributes: { 'bot': 'mattermost:copilot', 'turn.n': 7, 'ok': true, 'ratio': 0.5 },
    }, parentCtx);
    span.setAttribute('tags', ['a', 'b']);
    span.addEvent('tool.start', { 'tool': 'bash' });
    span.setStatus({ code: SpanStatusCode.ERROR, message: 'model timed out' });
    span.end();
    const root = tracer.startSpan('message.inbound');
    root.end();
    await tp.forceFlush();
    await tp.shutdown();

    const state = await fake.control('GET', '/state');
    assert.deepEqual(state.rejected, [], 'the fake refused the official exporter');
    assert.ok(state.accepted >= 1);

    const [s] = await spans('session.turn');
    assert.ok(s, 'session.turn recorded');
    assert.equal(s.traceId, PARENT_TRACE);
    assert.equal(s.parentSpanId, PARENT_SPAN);
    assert.match(s.spanId, /^[0-9a-f]{16}$/);
    assert.notEqual(s.spanId, PARENT_SPAN);
    assert.equal(s.kind, 1);
    assert.ok(s.endTimeUnixNano >= s.startTimeUnixNano);
    assert.ok(s.startTimeUnixNano > 1.6e18, 'unix nanoseconds');
    assert.deepEqual(s.attributes, {
        'bot': 'mattermost:copilot', 'turn.n': 7, 'ok': true, 'ratio': 0.5, 'tags': ['a', 'b'],
    });
    assert.equal(s.events.length, 1);
    assert.equal(s.events[0].name, 'tool.start');
    assert.deepEqual(s.events[0].attributes, { tool: 'bash' });
    assert.deepEqual(s.status, { code: 2, message: 'model timed out' });
    assert.equal(s.resource['service.name'], 'conformance');
    assert.equal(s.resource['copilot_bridge.process'], 'worker');
    assert.equal(s.resource['copilot_bridge.generation'], 3);
    assert.equal(s.scope.name, 'copilot-bridge');
    assert.equal(s.scope.version, '1.2.3');

    const [r] = await spans('message.inbound');
    assert.ok(r, 'root span recorded');
    assert.equal(r.parentSpanId, '');
    assert.match(r.traceId, /^[0-9a-f]{32}$/);
    assert.notEqual(r.traceId, PARENT_TRACE);
});

test('official exporter: required Authorization header', T, async () => {
    await fake.control('POST', '/auth', { authorization: 'Bearer conf-token' });
    try {
        const good = provider({ Authorization: 'Bearer conf-token' });
        good.getTracer('t').startSpan('with.auth').end();
        await good.forceFlush();
        await good.shutdown();
        assert.equal((await spans('with.auth')).length, 1);

        const bad = provider();
        bad.getTracer('t').startSpan('without.auth').end();
        await bad.forceFlush().catch(() => {});
        await bad.shutdown().catch(() => {});
        assert.equal((await spans('without.auth')).length, 0);
        const state = await fake.control('GET', '/state');
        assert.ok(state.rejected.some((r) => r.status === 401));
    } finally {
        await fake.control('POST', '/auth', { authorization: null });
    }
});

test('official exporter retries a 503 and delivers', T, async () => {
    await fake.control('POST', '/fail', { status: 503, count: 1 });
    const tp = provider();
    tp.getTracer('t').startSpan('after.retry').end();
    await tp.forceFlush();
    await tp.shutdown();
    const state = await fake.control('GET', '/state');
    assert.equal(state.failed, 1);
    assert.equal((await spans('after.retry')).length, 1);
});

async function post(body, contentType = 'application/json') {
    const res = await fetch(`${fake.url}/v1/traces`, {
        method: 'POST',
        headers: { 'Content-Type': contentType },
        body: typeof body === 'string' ? body : JSON.stringify(body),
        signal: AbortSignal.timeout(5000),
    });
    return { status: res.status, body: await res.json().catch(() => null) };
}

function oneSpan(over) {
    return {
        resourceSpans: [{
            resource: { attributes: [{ key: 'service.name', value: { stringValue: 'x' } }] },
            scopeSpans: [{
                scope: { name: 's' },
                spans: [{
                    traceId: PARENT_TRACE, spanId: PARENT_SPAN, name: 'n', kind: 1,
                    startTimeUnixNano: '1700000000000000000',
                    endTimeUnixNano: '1700000000000000001',
                    ...over,
                }],
            }],
        }],
    };
}

test('malformed bodies are refused with 400 and recorded', T, async () => {
    const ok = await post(oneSpan({}));
    assert.equal(ok.status, 200);
    const cases = [
        ['{"resourceSpans": [', 'not JSON'],
        [{ resourceSpans: {} }, 'must be an array'],
        [oneSpan({ traceId: PARENT_TRACE.toUpperCase() }), 'lowercase hex'],
        [oneSpan({ spanId: '0000000000000000' }), 'all zero'],
        [oneSpan({ endTimeUnixNano: '1' }), 'before the start'],
        [oneSpan({ kind: 9 }), 'kind'],
        [oneSpan({ name: '' }), 'must not be empty'],
        [oneSpan({ attributes: [{ key: 'k', value: { stringValue: 'a', intValue: '1' } }] }),
            'exactly one'],
        [oneSpan({ spanID: PARENT_SPAN }), 'unknown field'],
    ];
    for (const [body, what] of cases) {
        const res = await post(body);
        assert.equal(res.status, 400, `expected 400 for ${what}`);
        assert.ok(res.body.message.includes(what), `${res.body.message} should mention ${what}`);
    }
    const proto = await post('\x0a\x00', 'application/x-protobuf');
    assert.equal(proto.status, 415);
    const state = await fake.control('GET', '/state');
    assert.equal(state.rejected.length, cases.length + 1);
    assert.equal(state.spans, 1);
});
