import { describe, expect, it } from 'vitest';
import { frameGroup, splitProfile } from '../bench/profile-split.js';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mainThreadWakeups, sampleThreads, syscallCounts } from '../bench/proc-stats.js';

describe('bench per-thread CPU and wake-ups (/proc)', () => {
  it('splits this process by thread, the main thread under its own name, and counts its wake-ups', async () => {
    const before = mainThreadWakeups(process.pid);
    const threads = sampleThreads(process.pid);
    const main = threads.get('main');
    expect(main).toBeDefined();
    // Some CPU has been spent by the time a test runs; helper threads are named by their comm.
    expect((main?.utime ?? 0) + (main?.stime ?? 0)).toBeGreaterThan(0);
    expect([...threads.keys()].filter((name) => name !== 'main').length).toBeGreaterThan(0);
    // Sleeping in the event loop is a voluntary context switch each time.
    for (let i = 0; i < 3; i++) await new Promise((r) => setTimeout(r, 5));
    expect(mainThreadWakeups(process.pid)).toBeGreaterThanOrEqual(before + 3);
    expect(sampleThreads(2 ** 30).size).toBe(0);
    expect(mainThreadWakeups(2 ** 30)).toBe(0);
  });

  it('counts the read and write system calls of this process', () => {
    const file = join(tmpdir(), `idgate-syscalls-${process.pid}.txt`);
    const before = syscallCounts(process.pid);
    for (let i = 0; i < 5; i++) writeFileSync(file, 'x');
    for (let i = 0; i < 5; i++) readFileSync(file);
    const after = syscallCounts(process.pid);
    rmSync(file, { force: true });
    expect(after.writes - before.writes).toBeGreaterThanOrEqual(5);
    expect(after.reads - before.reads).toBeGreaterThanOrEqual(5);
    expect(syscallCounts(2 ** 30)).toEqual({ reads: 0, writes: 0 });
  });
});

describe('profile-split', () => {
  it('groups frames by idgate folder, library, node module and V8 pseudo-frame', () => {
    expect(frameGroup('collectHeaders', 'file:///w/dist/src/core/build-request-context.js')).toBe('idgate core');
    expect(frameGroup('x', 'file:///w/dist/base/dist/src/extauthz/check-codec.js')).toBe('idgate extauthz');
    expect(frameGroup('x', 'file:///w/node_modules/@grpc/grpc-js/build/src/server.js')).toBe('lib @grpc/grpc-js');
    expect(frameGroup('x', 'file:///w/node_modules/pino/lib/tools.js')).toBe('lib pino');
    expect(frameGroup('respond', 'node:internal/http2/core')).toBe('node http2/core');
    expect(frameGroup('emit', 'node:events')).toBe('node events');
    expect(frameGroup('(garbage collector)', '')).toBe('(garbage collector)');
    expect(frameGroup('utf8Slice', '')).toBe('(native)');
  });

  it('counts each sample for the time until the next one, only inside the window at the end', () => {
    const frame = (id: number, functionName: string, url: string) => ({ id, callFrame: { functionName, url, lineNumber: 0 } });
    const profile = {
      nodes: [frame(1, '(root)', ''), frame(2, '(idle)', ''), frame(3, 'decide', 'file:///w/dist/src/engine/create-engine.js')],
      startTime: 0,
      endTime: 10_000,
      // Samples at 1, 3, 6 and 9 ms.
      samples: [3, 2, 3, 2],
      timeDeltas: [1_000, 2_000, 3_000, 3_000],
    };
    const all = new Map(splitProfile(profile, {}).map((r) => [r.group, r.ms]));
    expect(all.get('idgate engine')).toBe(2 + 3);
    expect(all.get('(idle)')).toBe(3);
    // The last 5 ms before the end: only the samples at 6 and 9 ms.
    const window = new Map(splitProfile(profile, { lastMs: 5 }).map((r) => [r.group, r.ms]));
    expect(window.get('idgate engine')).toBe(3);
    expect(window.get('(idle)')).toBe(0);
  });
});
