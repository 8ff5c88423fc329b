import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { Decision } from '../core/decision.js';
import { EMPTY_REQUEST_CONTEXT } from '../core/request-context.js';
import { CheckLifecycle, DEADLINE_DENY, INTERNAL_ERROR_DENY } from './check-lifecycle.js';

const ALLOW: Decision = { kind: 'allow', headers: {}, metadata: {} };
const CTX = { ...EMPTY_REQUEST_CONTEXT, requestId: 'rid-1' };

/** A lifecycle around `decide`, recording every answer, every deadline the decider saw and every log line. */
function harness(decide: (deadlineAt: number) => Promise<Decision> | Decision, options: { logLateFaults?: boolean; timeoutMs?: number } = {}) {
  const answers: { target: string; decision: Decision }[] = [];
  const deadlines: number[] = [];
  const logs: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  const lifecycle = new CheckLifecycle<string>({
    decider: {
      decide: (_ctx, deadlineAt) => {
        deadlines.push(deadlineAt);
        return decide(deadlineAt);
      },
    },
    logger: pino({ level: 'info' }, stream),
    decisionTimeoutMs: options.timeoutMs ?? 50,
    deadlineMarginMs: 20,
    answer: (target, ctx, decision) => {
      expect(ctx).toBe(CTX);
      answers.push({ target, decision });
    },
    logLateFaults: options.logLateFaults ?? false,
  });
  return { lifecycle, answers, deadlines, logs };
}

describe('CheckLifecycle', () => {
  it('answers the decider’s decision once, with the deadline min(proxy − margin, now + timeout)', async () => {
    const h = harness(() => Promise.resolve(ALLOW));
    const now = Date.now();
    h.lifecycle.run(CTX, now, now + 1_000, 'a');
    h.lifecycle.run(CTX, now, now + 40, 'b');
    await sleep(80);
    expect(h.answers).toEqual([{ target: 'a', decision: ALLOW }, { target: 'b', decision: ALLOW }]);
    expect(h.deadlines).toEqual([now + 50, now + 20]);
  });

  it('answers a synchronous decision before run returns, and only once', async () => {
    const h = harness(() => ALLOW, { timeoutMs: 10 });
    const now = Date.now();
    h.lifecycle.run(CTX, now, Infinity, 's');
    expect(h.answers).toEqual([{ target: 's', decision: ALLOW }]);
    expect(h.deadlines).toEqual([now + 10]);
    // No deadline deny follows: a synchronous decision leaves no timer behind.
    await sleep(30);
    expect(h.answers).toHaveLength(1);
  });

  it.each([
    ['the margin eats the proxy’s deadline', 20],
    ['the proxy’s deadline has passed', -5],
    ['the proxy’s deadline is garbled (NaN)', Number.NaN],
  ])('answers the deadline deny at once without asking the decider when %s', (_name, offset) => {
    const h = harness(() => Promise.resolve(ALLOW));
    const now = Date.now();
    h.lifecycle.run(CTX, now, now + offset, 'x');
    expect(h.answers).toEqual([{ target: 'x', decision: DEADLINE_DENY }]);
    expect(h.deadlines).toEqual([]);
  });

  it('answers the deadline deny when the decider hangs, and drops the late decision', async () => {
    let release: (d: Decision) => void = () => undefined;
    const h = harness(() => new Promise<Decision>((resolve) => { release = resolve; }), { timeoutMs: 30 });
    const started = Date.now();
    h.lifecycle.run(CTX, started, Infinity, 'x');
    await sleep(10);
    expect(h.answers).toEqual([]);
    await sleep(60);
    expect(h.answers).toEqual([{ target: 'x', decision: DEADLINE_DENY }]);
    release(ALLOW);
    await sleep(5);
    expect(h.answers).toHaveLength(1);
  });

  it('answers internal_error and logs when the decider throws synchronously', () => {
    const h = harness(() => {
      throw new Error('boom');
    });
    h.lifecycle.run(CTX, Date.now(), Infinity, 'x');
    expect(h.answers).toEqual([{ target: 'x', decision: INTERNAL_ERROR_DENY }]);
    expect(h.logs).toMatchObject([{ level: 50, requestId: 'rid-1', msg: 'decider failed; denying' }]);
  });

  it('answers internal_error when the decider rejects, and the deadline timer no longer fires', async () => {
    const h = harness(() => Promise.reject(new Error('boom')), { timeoutMs: 20 });
    h.lifecycle.run(CTX, Date.now(), Infinity, 'x');
    await sleep(50);
    expect(h.answers).toEqual([{ target: 'x', decision: INTERNAL_ERROR_DENY }]);
    expect(h.logs).toHaveLength(1);
  });

  it.each([
    [false, 0],
    [true, 1],
  ])('with logLateFaults %s logs %i line(s) for a rejection after the deadline deny', async (logLateFaults, lines) => {
    let fail: (err: Error) => void = () => undefined;
    const h = harness(() => new Promise<Decision>((_resolve, reject) => { fail = reject; }), { logLateFaults, timeoutMs: 10 });
    h.lifecycle.run(CTX, Date.now(), Infinity, 'x');
    await sleep(40);
    fail(new Error('late'));
    await sleep(5);
    expect(h.answers).toEqual([{ target: 'x', decision: DEADLINE_DENY }]);
    expect(h.logs).toHaveLength(lines);
  });
});
