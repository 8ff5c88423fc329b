import type { IncomingMessage } from 'node:http';

/** Why a request body could not be read. */
export type HttpBodyErrorCode = 'too_large' | 'timeout' | 'aborted';

const STATUS_BY_CODE: Readonly<Record<HttpBodyErrorCode, 400 | 408 | 413>> = {
  too_large: 413,
  timeout: 408,
  aborted: 400,
};

/**
 * A request body that could not be read. `status` is the HTTP status to answer with (`too_large` → 413,
 * `timeout` → 408, `aborted` → 400, though an aborted client is usually gone). After `too_large` or
 * `timeout` the rest of the body is left unread: answer with `connection: close` so the socket is not
 * reused with unread bytes on it.
 */
export class HttpBodyError extends Error {
  override readonly name = 'HttpBodyError';
  readonly code: HttpBodyErrorCode;
  readonly status: 400 | 408 | 413;

  constructor(code: HttpBodyErrorCode, message: string) {
    super(message);
    this.code = code;
    this.status = STATUS_BY_CODE[code];
  }
}

/** Limits for {@link readBody}. */
export interface ReadBodyOptions {
  /** Largest body accepted, in bytes (> 0). */
  readonly limitBytes: number;
  /** Time allowed for the whole body to arrive, in ms (> 0). */
  readonly timeoutMs: number;
}

/**
 * Reads a request body into one Buffer, bounded in size and time.
 *
 * A declared `content-length` above the limit is refused before any byte is read. The stream is paused
 * (not drained) on failure, so a client cannot make the server read an oversized body to the end.
 *
 * @throws TypeError for invalid options.
 * @returns a promise rejecting with {@link HttpBodyError} `too_large`, `timeout` or `aborted`.
 */
export function readBody(req: IncomingMessage, options: ReadBodyOptions): Promise<Buffer> {
  const { limitBytes, timeoutMs } = options;
  if (!Number.isSafeInteger(limitBytes) || limitBytes <= 0) {
    throw new TypeError(`readBody: limitBytes must be a positive integer, got ${String(limitBytes)}`);
  }
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs <= 0) {
    throw new TypeError(`readBody: timeoutMs must be a positive integer, got ${String(timeoutMs)}`);
  }

  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limitBytes) {
    req.pause();
    return Promise.reject(new HttpBodyError('too_large', `body exceeds ${limitBytes} bytes`));
  }
  if (req.readableEnded) return Promise.resolve(Buffer.alloc(0));

  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    let settled = false;

    const cleanup = (): void => {
      settled = true;
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const fail = (error: HttpBodyError): void => {
      if (settled) return;
      cleanup();
      req.pause();
      reject(error);
    };
    const onData = (chunk: Buffer): void => {
      total += chunk.length;
      if (total > limitBytes) {
        fail(new HttpBodyError('too_large', `body exceeds ${limitBytes} bytes`));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      if (settled) return;
      cleanup();
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, total));
    };
    const onError = (): void => fail(new HttpBodyError('aborted', 'request aborted while reading the body'));
    const onClose = (): void => {
      // 'close' before 'end' means the client went away mid-body.
      if (!req.complete) onError();
    };

    const timer = setTimeout(
      () => fail(new HttpBodyError('timeout', `body not received within ${timeoutMs} ms`)),
      timeoutMs,
    );
    timer.unref();
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}
