import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { startPolling } from './start-polling.js';

describe('startPolling', () => {
  it('never runs two checks at once: a check due while one runs is skipped', async () => {
    let runs = 0;
    let release: () => void = () => undefined;
    const polling = startPolling(
      async () => {
        runs += 1;
        await new Promise<void>((r) => (release = r));
      },
      { intervalMs: 60_000 },
    );
    const first = polling.checkNow();
    await polling.checkNow(); // skipped: resolves at once while the first one still runs
    expect(runs).toBe(1);
    release();
    await first;
    const third = polling.checkNow();
    release();
    await third;
    expect(runs).toBe(2);
    polling.stop();
  });

  it('runs once at start with runNow, then every interval until stopped', async () => {
    let runs = 0;
    const polling = startPolling(async () => void (runs += 1), { intervalMs: 20, runNow: true });
    expect(runs).toBe(1);
    await sleep(110);
    polling.stop();
    const stoppedAt = runs;
    expect(stoppedAt).toBeGreaterThanOrEqual(3);
    await sleep(60);
    expect(runs).toBe(stoppedAt);
  });
});
