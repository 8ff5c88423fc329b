/** Where a {@link CircuitBreaker} stands. */
export type CircuitState = 'closed' | 'open' | 'half_open';

/** Options of {@link createCircuitBreaker}. */
export interface CircuitBreakerOptions {
  /** Consecutive transient failures that open the circuit (default 5). */
  readonly failureThreshold?: number;
  /** How long the circuit stays open before one probe is let through, ms (default 5000). */
  readonly coolDownMs?: number;
  /** Epoch-ms clock (default `Date.now`). */
  readonly clock?: () => number;
  /** Called on every state change (metrics, logs). */
  readonly onStateChange?: (state: CircuitState) => void;
}

/** The answer of {@link CircuitBreaker.acquire}. */
export type CircuitPermit =
  | { readonly allowed: true; readonly probe: boolean }
  | { readonly allowed: false; /** ms until a probe may go out. */ readonly retryAfterMs: number };

/**
 * A consecutive-failure circuit breaker for one remote dependency. Closed: every call goes out. After
 * `failureThreshold` transient failures in a row it opens: calls fail fast for `coolDownMs`. Then it is
 * half-open: exactly one probe goes out (everything else still fails fast); the probe's success closes the
 * circuit, its failure opens it for another cool-down.
 */
export interface CircuitBreaker {
  /** Asks whether an attempt may go out now; a `probe` permit must be followed by a report. */
  acquire(): CircuitPermit;
  /** The attempt reached the dependency and it answered (even with a final 4xx). */
  onSuccess(): void;
  /** The attempt failed transiently (timeout, connection error, 429, 5xx). */
  onFailure(): void;
  state(): CircuitState;
}

/**
 * Creates a {@link CircuitBreaker} (pure state machine; time only from `clock`).
 * @throws TypeError for a threshold that is not a positive integer or a negative cool-down.
 */
export function createCircuitBreaker(options: CircuitBreakerOptions = {}): CircuitBreaker {
  const threshold = options.failureThreshold ?? 5;
  const coolDownMs = options.coolDownMs ?? 5_000;
  if (!Number.isInteger(threshold) || threshold < 1) throw new TypeError('circuit breaker failureThreshold must be a positive integer');
  if (!Number.isFinite(coolDownMs) || coolDownMs < 0) throw new TypeError('circuit breaker coolDownMs must be >= 0');
  const clock = options.clock ?? Date.now;
  let state: CircuitState = 'closed';
  let failures = 0;
  let openedAt = 0;
  let probing = false;

  const move = (next: CircuitState): void => {
    if (state === next) return;
    state = next;
    options.onStateChange?.(next);
  };
  const open = (): void => {
    openedAt = clock();
    probing = false;
    move('open');
  };

  return {
    acquire() {
      if (state === 'closed') return { allowed: true, probe: false };
      const waited = clock() - openedAt;
      if (state === 'open' && waited >= coolDownMs) move('half_open');
      if (state === 'half_open' && !probing) {
        probing = true;
        return { allowed: true, probe: true };
      }
      // While a probe is out, everyone else keeps failing fast until it reports.
      return { allowed: false, retryAfterMs: Math.max(0, coolDownMs - waited) };
    },
    onSuccess() {
      failures = 0;
      probing = false;
      move('closed');
    },
    onFailure() {
      if (state === 'half_open') {
        open();
        return;
      }
      if (state === 'open') return;
      failures += 1;
      if (failures >= threshold) {
        failures = 0;
        open();
      }
    },
    state: () => state,
  };
}
