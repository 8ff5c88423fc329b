import { describe, expect, it } from 'vitest';
import { SandboxFaults } from './sandbox-faults.js';

describe('SandboxFaults', () => {
  it('plays queued faults in the order injected, each for its count, then none', () => {
    const faults = new SandboxFaults();
    faults.inject({ status: 500, count: 2 });
    faults.inject({ status: 429, retryAfter: 3, count: 1 });
    faults.inject({ reset: true, count: 0 });
    expect([faults.take(), faults.take(), faults.take(), faults.take()]).toEqual([
      { status: 500, count: 2 },
      { status: 500, count: 2 },
      { status: 429, retryAfter: 3, count: 1 },
      undefined,
    ]);
  });

  it('keeps the create delay until changed, and refuses a negative or non-finite one', () => {
    const faults = new SandboxFaults();
    expect(faults.createDelayMs).toBe(0);
    faults.setCreateDelay(250);
    expect(faults.createDelayMs).toBe(250);
    expect(() => faults.setCreateDelay(-1)).toThrow(TypeError);
    expect(() => faults.setCreateDelay(Number.NaN)).toThrow(TypeError);
    expect(faults.createDelayMs).toBe(250);
  });

  it('close() cancels pending pauses: nothing is left to keep the process alive or fire later', async () => {
    const faults = new SandboxFaults();
    let resolved = false;
    void faults.pause(20).then(() => {
      resolved = true;
    });
    faults.close();
    await new Promise((r) => setTimeout(r, 60));
    expect(resolved).toBe(false);
    await faults.pause(1);
  });
});
