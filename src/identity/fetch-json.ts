import type { Dispatcher } from 'undici';
import { request } from '../http/undici-request.js';

/** Limits applied to one JSON document fetch (JWKS or OIDC discovery). */
export interface FetchJsonOptions {
  /** Deadline for the whole exchange (connect, headers and body), ms. */
  readonly timeoutMs: number;
  /** Largest body accepted, bytes; larger bodies are abandoned unread. */
  readonly maxBodyBytes: number;
  /** The undici dispatcher (connection pool) to use. */
  readonly dispatcher: Dispatcher;
  /** Aborts the fetch early (e.g. on shutdown). */
  readonly signal?: AbortSignal;
}

/** Why a JSON fetch failed; `message` is safe to log and to show in `/readyz`. */
export type FetchJsonErrorCode =
  | 'ERR_FETCH_TIMEOUT'
  | 'ERR_FETCH_STATUS'
  | 'ERR_FETCH_TOO_LARGE'
  | 'ERR_FETCH_NOT_JSON'
  | 'ERR_FETCH_NETWORK'
  | 'ERR_FETCH_ABORTED';

/** A failed JSON fetch. The message never contains the response body. */
export class FetchJsonError extends Error {
  readonly code: FetchJsonErrorCode;

  constructor(code: FetchJsonErrorCode, message: string) {
    super(message);
    this.name = 'FetchJsonError';
    this.code = code;
  }
}

/**
 * GETs `url` and parses the body as JSON, within a hard deadline and body size limit. Redirects are not
 * followed (a 3xx is a failure): a key endpoint that moves must be reconfigured, not chased.
 *
 * @returns the parsed JSON value (any JSON type; the caller validates the shape).
 * @throws FetchJsonError `ERR_FETCH_TIMEOUT`, `ERR_FETCH_STATUS` (status other than 200),
 *   `ERR_FETCH_TOO_LARGE`, `ERR_FETCH_NOT_JSON`, `ERR_FETCH_NETWORK`, `ERR_FETCH_ABORTED`.
 */
export async function fetchJson(url: string, options: FetchJsonOptions): Promise<unknown> {
  const deadline = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal === undefined ? deadline : AbortSignal.any([deadline, options.signal]);
  let response: Dispatcher.ResponseData;
  try {
    response = await request(url, {
      method: 'GET',
      headers: { accept: 'application/json' },
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      dispatcher: options.dispatcher,
      signal,
    });
  } catch (err) {
    throw classify(err, deadline);
  }

  const { statusCode, headers, body } = response;
  // destroy() makes undici's body emit an AbortError; reading goes through the async iterator, which
  // reports errors itself, so an 'error' listener only keeps abandoned bodies from crashing the process.
  body.on('error', () => undefined);
  if (statusCode !== 200) {
    body.destroy();
    throw new FetchJsonError('ERR_FETCH_STATUS', `unexpected HTTP status ${statusCode}`);
  }
  const declared = Number(headers['content-length']);
  if (Number.isFinite(declared) && declared > options.maxBodyBytes) {
    body.destroy();
    throw new FetchJsonError('ERR_FETCH_TOO_LARGE', `response larger than ${options.maxBodyBytes} bytes`);
  }

  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      const buf = chunk as Buffer;
      size += buf.length;
      // Content-Length can be absent (chunked) or lie; count what actually arrives.
      if (size > options.maxBodyBytes) {
        body.destroy();
        throw new FetchJsonError('ERR_FETCH_TOO_LARGE', `response larger than ${options.maxBodyBytes} bytes`);
      }
      chunks.push(buf);
    }
  } catch (err) {
    if (err instanceof FetchJsonError) throw err;
    throw classify(err, deadline);
  }

  try {
    return JSON.parse(Buffer.concat(chunks, size).toString('utf8')) as unknown;
  } catch {
    throw new FetchJsonError('ERR_FETCH_NOT_JSON', 'response is not valid JSON');
  }
}

function classify(err: unknown, deadline: AbortSignal): FetchJsonError {
  const code = (err as { code?: unknown } | null)?.code;
  const name = (err as { name?: unknown } | null)?.name;
  if (
    deadline.aborted ||
    code === 'UND_ERR_HEADERS_TIMEOUT' ||
    code === 'UND_ERR_BODY_TIMEOUT' ||
    code === 'UND_ERR_CONNECT_TIMEOUT' ||
    name === 'TimeoutError'
  ) {
    return new FetchJsonError('ERR_FETCH_TIMEOUT', 'request timed out');
  }
  if (name === 'AbortError' || code === 'UND_ERR_ABORTED') {
    return new FetchJsonError('ERR_FETCH_ABORTED', 'request aborted');
  }
  const detail = typeof code === 'string' ? code : 'network error';
  return new FetchJsonError('ERR_FETCH_NETWORK', `request failed (${detail})`);
}
