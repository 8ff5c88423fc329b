/** The numeric options both gRPC transports share (see `ExtAuthzServerOptions`). */
export interface CheckLimitOptions {
  readonly maxMessageBytes?: number;
  readonly decisionTimeoutMs?: number;
  readonly deadlineMarginMs?: number;
}

/** {@link CheckLimitOptions} with defaults applied, plus the transport's message bound. */
export interface CheckLimits {
  /** Largest CheckRequest decided, bytes (default 1 MiB). */
  readonly maxMessageBytes: number;
  /** Default 150 ms. */
  readonly decisionTimeoutMs: number;
  /** Default 20 ms. */
  readonly deadlineMarginMs: number;
  /**
   * The largest message the transport accepts: 4× `maxMessageBytes`, at most 64 MiB (never below
   * `maxMessageBytes`), so a CheckRequest somewhat above idgate's limit is still answered with a deny
   * verdict rather than an RPC error. Beyond it the transport refuses with RESOURCE_EXHAUSTED.
   */
  readonly transportBytes: number;
}

const TRANSPORT_FACTOR = 4;
const MAX_TRANSPORT_BYTES = 64 * 1024 * 1024;

/**
 * Applies the defaults and checks the values.
 * @throws TypeError for a negative or non-finite value.
 */
export function resolveCheckLimits(options: CheckLimitOptions): CheckLimits {
  const maxMessageBytes = options.maxMessageBytes ?? 1024 * 1024;
  const decisionTimeoutMs = options.decisionTimeoutMs ?? 150;
  const deadlineMarginMs = options.deadlineMarginMs ?? 20;
  for (const [name, value] of [
    ['maxMessageBytes', maxMessageBytes],
    ['decisionTimeoutMs', decisionTimeoutMs],
    ['deadlineMarginMs', deadlineMarginMs],
  ] as const) {
    if (!Number.isFinite(value) || value < 0) throw new TypeError(`${name} must be a non-negative number`);
  }
  return {
    maxMessageBytes,
    decisionTimeoutMs,
    deadlineMarginMs,
    transportBytes: Math.min(MAX_TRANSPORT_BYTES, Math.max(maxMessageBytes, maxMessageBytes * TRANSPORT_FACTOR)),
  };
}
