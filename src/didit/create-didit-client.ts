import type { Logger } from 'pino';
import { Agent, request } from '../http/undici-request.js';
import type { SessionStatus } from '../core/verdict.js';
import { createCircuitBreaker, type CircuitBreaker, type CircuitState } from './circuit-breaker.js';
import { DiditError, type DiditErrorCode } from './didit-error.js';
import { traced } from '../tracing/tracing.js';
import { parseCreateSessionResponse, parseDecision, type DiditDecision } from './types.js';

/** Options of {@link createDiditClient}. */
export interface DiditClientOptions {
  readonly logger: Logger;
  /** Verification API base, e.g. `https://verification.didit.me` or the sandbox URL. */
  readonly baseUrl: string;
  readonly apiKey: string;
  /** Timeout of one attempt (connect, headers and body), ms. */
  readonly timeoutMs: number;
  /** Retries after the first attempt for transient failures (429, 5xx, timeouts, connection errors). */
  readonly maxRetries: number;
  /** Upper bound on one call including all retries and waits, ms (default `timeoutMs * (maxRetries + 1) + 5000`). */
  readonly budgetMs?: number;
  /** First backoff step, ms (default 200); doubles per retry, with jitter. */
  readonly baseDelayMs?: number;
  /** Largest backoff step, ms (default 5000). */
  readonly maxDelayMs?: number;
  /** Largest wait honoured from `Retry-After` / `X-RateLimit-Reset`, ms (default 30 000). */
  readonly maxRetryAfterMs?: number;
  /** Largest response body read, bytes (default 2 MiB). */
  readonly maxResponseBytes?: number;
  /** Epoch-ms clock (default `Date.now`); used for budgets and HTTP-date `Retry-After`. */
  readonly clock?: () => number;
  /** Waits between attempts (default a real timer); tests pass a recorder. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Uniform [0, 1) source for jitter (default `Math.random`). */
  readonly random?: () => number;
  /**
   * Circuit breaker over all calls (on by default: 5 consecutive transient attempt failures open it for
   * 5 s; then one probe). `false` turns it off.
   */
  readonly circuitBreaker?: { readonly failureThreshold?: number; readonly coolDownMs?: number } | false;
  /**
   * Called once per API call (after all retries) with the operation (`create_session`, `get_decision`) and
   * its result: `ok`, the {@link DiditErrorCode} it failed with, or `error` for anything else. Feeds `idgate_didit_requests_total`.
   */
  readonly onRequest?: (op: DiditOp, result: 'ok' | 'error' | DiditErrorCode) => void;
}

/** Operations of the Didit API idgate calls (the `op` label of `idgate_didit_requests_total`). */
type HttpMethod = 'GET' | 'POST' | 'DELETE';

export type DiditOp = 'create_session' | 'get_decision' | 'delete_session';

/** Input of {@link DiditClient.createSession}. */
export interface CreateSessionInput {
  /** Didit workflow UUID. */
  readonly workflowId: string;
  /** Our subject; also makes retries idempotent (Didit returns the open session for the same vendor_data). */
  readonly vendorData: string;
  /** Where Didit sends the browser when the flow ends. */
  readonly callback?: string;
  readonly metadata?: Readonly<Record<string, unknown>>;
  /** ISO 639-1 code forcing the hosted UI language. */
  readonly language?: string;
}

/** Result of {@link DiditClient.createSession}. */
export interface CreatedSession {
  readonly sessionId: string;
  readonly sessionToken?: string;
  /** Hosted verification URL to send the user to. */
  readonly url: string;
  readonly status: SessionStatus;
  readonly workflowId: string;
}

/** A client of Didit's verification REST API (v3). */
export interface DiditClient {
  /**
   * `POST /v3/session/` (201; 200 also accepted).
   * @throws DiditError with any {@link DiditErrorCode}.
   */
  createSession(input: CreateSessionInput): Promise<CreatedSession>;
  /**
   * `GET /v3/session/{id}/decision/`.
   * @throws DiditError; `not_found` for an unknown session, `bad_request` for an id that is not UUID-like.
   */
  getDecision(sessionId: string): Promise<DiditDecision>;
  /**
   * `DELETE /v3/session/{id}/delete/` (204; 200 also accepted): ends a session for good, so Didit's
   * `vendor_data` idempotency cannot hand it back.
   * @throws DiditError; `not_found` for an unknown (e.g. already deleted) session.
   */
  deleteSession(sessionId: string): Promise<void>;
  /** Closes the connection pool; later calls fail. */
  close(): Promise<void>;
  /** The circuit breaker's state (`closed` when it is turned off). */
  circuitState(): CircuitState;
}

const SESSION_ID = /^[A-Za-z0-9-]{1,64}$/;

interface HttpAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly text: string;
}

/** A failed attempt and whether (and after how long) another one may help. */
interface AttemptFailure {
  readonly error: DiditError;
  readonly retryable: boolean;
  /** Server-requested wait (Retry-After / X-RateLimit-Reset), ms. */
  readonly waitMs?: number;
}

/**
 * Creates a Didit API client over its own undici connection pool. Every request sends `x-api-key` and
 * `content-type: application/json` to a path with a trailing slash (a missing slash makes Didit redirect
 * and the redirect drops the key). Transient failures (429, 5xx, timeouts, connection errors) are retried
 * up to `maxRetries` times with exponential backoff and jitter, honouring `Retry-After` (seconds or an
 * HTTP date) and `X-RateLimit-Reset`, but never past `budgetMs`; 400/401/402/403/404 are final. The API
 * key is never logged.
 *
 * A circuit breaker (see `createCircuitBreaker`) sits in front of every attempt: after
 * `failureThreshold` consecutive transient failures it opens, and calls fail fast with DiditError
 * `unavailable` (with `retryAfterMs`) for the cool-down instead of piling requests onto a failing Didit;
 * then one probe decides whether it closes again. Any answer from Didit, even a final 4xx, counts as a
 * success.
 *
 * @throws TypeError for an invalid `baseUrl`, empty `apiKey`, non-positive `timeoutMs` or bad breaker options.
 */
export function createDiditClient(options: DiditClientOptions): DiditClient {
  const base = new URL(options.baseUrl);
  if (base.protocol !== 'https:' && base.protocol !== 'http:') throw new TypeError('Didit baseUrl must be http(s)');
  if (options.apiKey === '') throw new TypeError('Didit apiKey must not be empty');
  if (!(options.timeoutMs > 0)) throw new TypeError('Didit timeoutMs must be positive');
  if (!Number.isInteger(options.maxRetries) || options.maxRetries < 0) throw new TypeError('Didit maxRetries must be a non-negative integer');

  const origin = base.origin + base.pathname.replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs;
  const maxRetries = options.maxRetries;
  const budgetMs = options.budgetMs ?? timeoutMs * (maxRetries + 1) + 5000;
  const baseDelayMs = options.baseDelayMs ?? 200;
  const maxDelayMs = options.maxDelayMs ?? 5000;
  const maxRetryAfterMs = options.maxRetryAfterMs ?? 30_000;
  const maxResponseBytes = options.maxResponseBytes ?? 2 * 1024 * 1024;
  const clock = options.clock ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const random = options.random ?? Math.random;
  const log = options.logger.child({ component: 'didit-client' });
  const agent = new Agent({
    connect: { timeout: timeoutMs },
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    keepAliveTimeout: 10_000,
    connections: 32,
  });
  const apiKey = options.apiKey;
  const breakerOptions = options.circuitBreaker;
  const breaker: CircuitBreaker | undefined =
    breakerOptions === false
      ? undefined
      : createCircuitBreaker({
          ...breakerOptions,
          clock,
          onStateChange: (state) => log.warn({ state }, state === 'open' ? 'Didit circuit opened; failing fast' : `Didit circuit ${state}`),
        });

  async function send(method: HttpMethod, path: string, body: string | undefined, attemptTimeoutMs: number): Promise<HttpAnswer> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), attemptTimeoutMs);
    try {
      const response = await request(origin + path, {
        method,
        dispatcher: agent,
        signal: controller.signal,
        headersTimeout: attemptTimeoutMs,
        bodyTimeout: attemptTimeoutMs,
        headers: {
          'x-api-key': apiKey,
          'content-type': 'application/json',
          accept: 'application/json',
        },
        ...(body === undefined ? {} : { body }),
      });
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of response.body) {
        const buf = chunk as Buffer;
        size += buf.length;
        if (size > maxResponseBytes) {
          response.body.destroy();
          throw new DiditError('bad_response', `Didit response exceeds ${maxResponseBytes} bytes`, { status: response.statusCode });
        }
        chunks.push(buf);
      }
      return { status: response.statusCode, headers: response.headers, text: Buffer.concat(chunks).toString('utf8') };
    } catch (err) {
      if (err instanceof DiditError) throw err;
      if (controller.signal.aborted || isTimeoutError(err)) {
        throw new DiditError('timeout', `Didit did not answer within ${attemptTimeoutMs} ms`, { cause: err });
      }
      throw new DiditError('unavailable', `cannot reach Didit: ${errorCode(err)}`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }

  /** Classifies a non-2xx answer. */
  function failureOf(answer: HttpAnswer): AttemptFailure {
    const status = answer.status;
    const info = errorInfo(answer.text);
    const detail = info.detail === undefined ? '' : `: ${info.detail}`;
    const extra = info.code === undefined ? {} : { diditCode: info.code };
    const waitMs = serverWaitMs(answer.headers, clock());
    const withWait = waitMs === undefined ? {} : { retryAfterMs: waitMs };
    if (status === 429) {
      return { error: new DiditError('rate_limited', `Didit rate limit reached${detail}`, { status, ...extra, ...withWait }), retryable: true, ...(waitMs === undefined ? {} : { waitMs }) };
    }
    if (status >= 500) {
      return { error: new DiditError('unavailable', `Didit answered ${status}${detail}`, { status, ...extra, ...withWait }), retryable: true, ...(waitMs === undefined ? {} : { waitMs }) };
    }
    let code: DiditErrorCode;
    if (status === 401 || status === 403 || status === 402) code = 'auth';
    else if (status === 404) code = 'not_found';
    else if (status >= 400) code = 'bad_request';
    else code = 'bad_response';
    const message = status >= 300 && status < 400
      ? `Didit answered a redirect (${status}); check the base URL`
      : `Didit answered ${status}${detail}`;
    return { error: new DiditError(code, message, { status, ...extra }), retryable: false };
  }

  function call(op: string, method: HttpMethod, path: string, body: string | undefined, okStatuses: readonly number[]): Promise<unknown> {
    return traced(`didit ${op}`, () => callUntraced(op, method, path, body, okStatuses), { 'didit.operation': op });
  }

  async function callUntraced(op: string, method: HttpMethod, path: string, body: string | undefined, okStatuses: readonly number[]): Promise<unknown> {
    const started = clock();
    for (let attempt = 0; ; attempt++) {
      const remaining = budgetMs - (clock() - started);
      const permit = breaker?.acquire();
      if (permit !== undefined && !permit.allowed) {
        throw new DiditError('unavailable', 'Didit circuit is open after repeated failures; failing fast', { retryAfterMs: permit.retryAfterMs });
      }
      let failure: AttemptFailure;
      try {
        const answer = await send(method, path, body, Math.max(1, Math.min(timeoutMs, remaining)));
        if (okStatuses.includes(answer.status)) {
          breaker?.onSuccess();
          // 204 No Content (a deletion) has no JSON to parse.
          if (answer.status === 204) return undefined;
          try {
            return JSON.parse(answer.text) as unknown;
          } catch (err) {
            throw new DiditError('bad_response', `Didit ${op} answered ${answer.status} without valid JSON`, { status: answer.status, cause: err });
          }
        }
        failure = failureOf(answer);
      } catch (err) {
        if (!(err instanceof DiditError)) {
          breaker?.onFailure();
          throw err;
        }
        if (err.code === 'bad_response' && err.status !== undefined && okStatuses.includes(err.status)) throw err;
        failure = { error: err, retryable: err.code === 'timeout' || err.code === 'unavailable' };
      }
      // Transient failures count towards opening; any other answer shows Didit is up.
      if (failure.retryable) breaker?.onFailure();
      else breaker?.onSuccess();
      if (!failure.retryable || attempt >= maxRetries) throw failure.error;
      const backoff = Math.min(maxDelayMs, baseDelayMs * 2 ** attempt);
      const jittered = backoff / 2 + random() * (backoff / 2);
      const delayMs = Math.ceil(failure.waitMs === undefined ? jittered : Math.min(maxRetryAfterMs, Math.max(failure.waitMs, jittered)));
      if (clock() - started + delayMs >= budgetMs) {
        log.warn({ op, attempt: attempt + 1, code: failure.error.code, status: failure.error.status, delayMs }, 'Didit call failed; retry would exceed the budget');
        throw failure.error;
      }
      log.warn({ op, attempt: attempt + 1, code: failure.error.code, status: failure.error.status, delayMs }, 'Didit call failed; retrying');
      await sleep(delayMs);
    }
  }

  /** Runs one API call and reports its result to `onRequest`. */
  async function observed<T>(op: DiditOp, run: () => Promise<T>): Promise<T> {
    try {
      const value = await run();
      options.onRequest?.(op, 'ok');
      return value;
    } catch (err) {
      options.onRequest?.(op, err instanceof DiditError ? err.code : 'error');
      throw err;
    }
  }

  return {
    createSession: (input) => observed('create_session', async () => {
      const payload: Record<string, unknown> = { workflow_id: input.workflowId, vendor_data: input.vendorData };
      if (input.callback !== undefined) payload.callback = input.callback;
      if (input.metadata !== undefined) payload.metadata = input.metadata;
      if (input.language !== undefined) payload.language = input.language;
      const json = await call('create_session', 'POST', '/v3/session/', JSON.stringify(payload), [201, 200]);
      const parsed = parseCreateSessionResponse(json);
      if (!parsed.ok) throw new DiditError('bad_response', `Didit create-session response: ${parsed.reason}`);
      const v = parsed.value;
      return {
        sessionId: v.session_id,
        url: v.url,
        status: v.status,
        workflowId: v.workflow_id,
        ...(typeof v.session_token === 'string' ? { sessionToken: v.session_token } : {}),
      };
    }),

    getDecision: (sessionId) => observed('get_decision', async () => {
      if (!SESSION_ID.test(sessionId)) throw new DiditError('bad_request', 'session id is not a Didit session id');
      const json = await call('get_decision', 'GET', `/v3/session/${encodeURIComponent(sessionId)}/decision/`, undefined, [200]);
      const parsed = parseDecision(json);
      if (!parsed.ok) throw new DiditError('bad_response', `Didit decision: ${parsed.reason}`);
      return parsed.value;
    }),

    deleteSession: (sessionId) => observed('delete_session', async () => {
      if (!SESSION_ID.test(sessionId)) throw new DiditError('bad_request', 'session id is not a Didit session id');
      await call('delete_session', 'DELETE', `/v3/session/${encodeURIComponent(sessionId)}/delete/`, undefined, [204, 200]);
    }),

    async close() {
      await agent.close();
    },

    circuitState: () => breaker?.state() ?? 'closed',
  };
}

function errorCode(err: unknown): string {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code;
  return err instanceof Error ? err.name : 'unknown error';
}

function isTimeoutError(err: unknown): boolean {
  const code = errorCode(err);
  return code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'ETIMEDOUT';
}

/** `detail` and `code` from an error body, which may not be JSON at all. */
function errorInfo(text: string): { detail?: string; code?: string } {
  try {
    const json: unknown = JSON.parse(text);
    if (typeof json !== 'object' || json === null) return {};
    const record = json as Record<string, unknown>;
    const out: { detail?: string; code?: string } = {};
    if (typeof record.detail === 'string') out.detail = record.detail.slice(0, 200);
    if (typeof record.code === 'string') out.code = record.code.slice(0, 100);
    return out;
  } catch {
    return {};
  }
}

function header(headers: Readonly<Record<string, string | string[] | undefined>>, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * How long the server asked us to wait: `Retry-After` (delta seconds or an HTTP date), else
 * `X-RateLimit-Reset` (epoch seconds; small values are read as delta seconds, as some proxies send).
 */
function serverWaitMs(headers: Readonly<Record<string, string | string[] | undefined>>, now: number): number | undefined {
  const retryAfter = header(headers, 'retry-after')?.trim();
  if (retryAfter !== undefined && retryAfter !== '') {
    if (/^\d+$/.test(retryAfter)) return Number(retryAfter) * 1000;
    const date = Date.parse(retryAfter);
    if (!Number.isNaN(date)) return Math.max(0, date - now);
  }
  const reset = header(headers, 'x-ratelimit-reset')?.trim();
  if (reset !== undefined && /^\d+(\.\d+)?$/.test(reset)) {
    const seconds = Number(reset);
    return seconds < 1e9 ? seconds * 1000 : Math.max(0, seconds * 1000 - now);
  }
  return undefined;
}
