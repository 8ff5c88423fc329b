import { describe, expect, it } from 'vitest';
import { createCircuitBreaker, type CircuitBreakerOptions, type CircuitState } from './circuit-breaker.js';

function fakeClock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

/** A breaker on its own fake clock, which the test advances. */
function clockedBreaker(options: Omit<CircuitBreakerOptions, 'clock'> = {}) {
  const clock = fakeClock();
  return { clock, b: createCircuitBreaker({ ...options, clock: clock.now }) };
}

describe('createCircuitBreaker', () => {
  it('stays closed below the threshold and resets the count on a success', () => {
    const { b } = clockedBreaker({ failureThreshold: 3, coolDownMs: 1000 });
    b.onFailure();
    b.onFailure();
    b.onSuccess();
    b.onFailure();
    b.onFailure();
    expect(b.state()).toBe('closed');
    expect(b.acquire()).toEqual({ allowed: true, probe: false });
  });

  it('opens after N consecutive failures and fails fast for the cool-down', () => {
    const changes: CircuitState[] = [];
    const { clock, b } = clockedBreaker({ failureThreshold: 3, coolDownMs: 1000, onStateChange: (s) => changes.push(s) });
    for (let i = 0; i < 3; i++) b.onFailure();
    expect(b.state()).toBe('open');
    expect(b.acquire()).toEqual({ allowed: false, retryAfterMs: 1000 });
    clock.advance(999);
    expect(b.acquire()).toEqual({ allowed: false, retryAfterMs: 1 });
    expect(changes).toEqual(['open']);
  });

  it('lets exactly one probe through when half-open; its success closes the circuit', () => {
    const { clock, b } = clockedBreaker({ failureThreshold: 2, coolDownMs: 500 });
    b.onFailure();
    b.onFailure();
    clock.advance(500);
    expect(b.acquire()).toEqual({ allowed: true, probe: true });
    expect(b.state()).toBe('half_open');
    expect(b.acquire().allowed).toBe(false);
    expect(b.acquire().allowed).toBe(false);
    b.onSuccess();
    expect(b.state()).toBe('closed');
    expect(b.acquire()).toEqual({ allowed: true, probe: false });
  });

  it('re-opens for a full cool-down when the probe fails', () => {
    const { clock, b } = clockedBreaker({ failureThreshold: 1, coolDownMs: 500 });
    b.onFailure();
    clock.advance(600);
    expect(b.acquire().allowed).toBe(true);
    b.onFailure();
    expect(b.state()).toBe('open');
    expect(b.acquire()).toEqual({ allowed: false, retryAfterMs: 500 });
    clock.advance(500);
    expect(b.acquire()).toEqual({ allowed: true, probe: true });
  });

  it('ignores late failures of attempts that started before it opened', () => {
    const { clock, b } = clockedBreaker({ failureThreshold: 1, coolDownMs: 500 });
    b.onFailure();
    clock.advance(400);
    b.onFailure();
    clock.advance(100);
    expect(b.acquire().allowed).toBe(true);
  });

  it('uses defaults of 5 failures and 5 s', () => {
    const { clock, b } = clockedBreaker();
    for (let i = 0; i < 4; i++) b.onFailure();
    expect(b.state()).toBe('closed');
    b.onFailure();
    expect(b.state()).toBe('open');
    clock.advance(4_999);
    expect(b.acquire().allowed).toBe(false);
    clock.advance(1);
    expect(b.acquire().allowed).toBe(true);
  });

  it('rejects bad options', () => {
    expect(() => createCircuitBreaker({ failureThreshold: 0 })).toThrow(TypeError);
    expect(() => createCircuitBreaker({ failureThreshold: 1.5 })).toThrow(TypeError);
    expect(() => createCircuitBreaker({ coolDownMs: -1 })).toThrow(TypeError);
  });
});
