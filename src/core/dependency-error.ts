/**
 * The one base class of every fault a dependency (Redis, Didit, an issuer's keys) raises: the engine, the
 * webhook endpoints and the admin API classify faults with `instanceof DependencyError` and read
 * {@link DependencyError.outage}, never an error's `name` or message.
 *
 * - `outage: true` — the dependency is down or slow: a network error, a timeout, a 5xx, a 429, an open
 *   circuit. Only these may let a `failOpen` route through.
 * - `outage: false` — the dependency answered and refused, or answered something unusable: a 4xx caused by
 *   our own request (`bad_request`), a credential or billing problem (`auth`), a corrupt stored value. That
 *   is a bug or a misconfiguration on our side; failing open would hide it, so it always fails closed.
 *
 * Both kinds are answered with 503 `dependency_unavailable` (fail closed).
 */
export abstract class DependencyError extends Error {
  /** A stable, machine-readable code of the concrete class (`timeout`, `bad_request`…). */
  abstract readonly code: string;
  /** True when the dependency is unavailable (see the class comment); false for a fault of our own making. */
  abstract readonly outage: boolean;
  /** Which dependency raised it, for logs and metrics (`store`, `didit`, `keys`). */
  abstract readonly dependency: 'store' | 'didit' | 'keys';
}

/** True for any {@link DependencyError}: a coded fault of Redis, Didit or an issuer's keys (answered 503). */
export function isDependencyFault(err: unknown): err is DependencyError {
  return err instanceof DependencyError;
}

/** True for a {@link DependencyError} that is a real outage: the only fault a `failOpen` route may allow on. */
export function isDependencyOutage(err: unknown): err is DependencyError {
  return err instanceof DependencyError && err.outage;
}
