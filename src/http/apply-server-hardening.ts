import type { Server, ServerOptions } from 'node:http';

/** Time limits applied to a node:http server; all in ms and all > 0. */
export interface ServerTimeouts {
  /** Time allowed to receive the complete request headers (slowloris guard). */
  readonly headersTimeoutMs: number;
  /** Time allowed to receive the complete request, headers and body. Must be ≥ `headersTimeoutMs`. */
  readonly requestTimeoutMs: number;
  /** How long an idle keep-alive connection stays open between requests. */
  readonly keepAliveTimeoutMs: number;
  /** Socket inactivity limit while a response is being written (default: `requestTimeoutMs`). */
  readonly socketIdleTimeoutMs?: number;
  /** Requests served on one connection before it is closed (default 1000; 0 = unlimited). */
  readonly maxRequestsPerSocket?: number;
}

/** Construction-time limits: node:http only accepts these in `createServer(options)`. */
export interface ServerConstructionLimits {
  /** Largest request header block accepted, bytes (Node answers 431 above it). */
  readonly maxHeaderSize: number;
  /**
   * How often Node checks connections against the header/request timeouts, ms. Node's default is 30 s,
   * which would let short timeouts run up to 30 s late; keep it at most the smallest timeout.
   */
  readonly connectionsCheckingIntervalMs: number;
}

function positiveInt(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new TypeError(`${name} must be a positive integer (ms/bytes), got ${String(value)}`);
  }
  return value;
}

/**
 * Options for `http.createServer()` carrying the limits that cannot be changed afterwards.
 * @throws TypeError for a non-positive or non-integer limit.
 */
export function hardenedServerOptions(limits: ServerConstructionLimits): ServerOptions {
  return {
    maxHeaderSize: positiveInt('maxHeaderSize', limits.maxHeaderSize),
    connectionsCheckingInterval: positiveInt('connectionsCheckingIntervalMs', limits.connectionsCheckingIntervalMs),
    // Never guess the body framing of an ambiguous request (request smuggling).
    insecureHTTPParser: false,
    requireHostHeader: true,
  };
}

/**
 * Applies header, request, keep-alive and socket-idle timeouts and a per-socket request cap to `server`.
 * Call before `listen()`.
 *
 * @throws TypeError for a non-positive limit or `headersTimeoutMs > requestTimeoutMs`.
 */
export function applyServerHardening(server: Server, timeouts: ServerTimeouts): void {
  const headersTimeout = positiveInt('headersTimeoutMs', timeouts.headersTimeoutMs);
  const requestTimeout = positiveInt('requestTimeoutMs', timeouts.requestTimeoutMs);
  const keepAliveTimeout = positiveInt('keepAliveTimeoutMs', timeouts.keepAliveTimeoutMs);
  const socketIdle = positiveInt('socketIdleTimeoutMs', timeouts.socketIdleTimeoutMs ?? requestTimeout);
  if (headersTimeout > requestTimeout) {
    throw new TypeError(
      `headersTimeoutMs (${headersTimeout}) must not exceed requestTimeoutMs (${requestTimeout})`,
    );
  }
  const maxRequests = timeouts.maxRequestsPerSocket ?? 1000;
  if (!Number.isSafeInteger(maxRequests) || maxRequests < 0) {
    throw new TypeError(`maxRequestsPerSocket must be a non-negative integer, got ${String(maxRequests)}`);
  }
  server.headersTimeout = headersTimeout;
  server.requestTimeout = requestTimeout;
  server.keepAliveTimeout = keepAliveTimeout;
  server.maxRequestsPerSocket = maxRequests;
  // With no 'timeout' listener Node destroys the idle socket, which is what we want for a stalled reader.
  server.setTimeout(socketIdle);
}
