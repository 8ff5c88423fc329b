import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';

/**
 * Writes `body` as a complete JSON response (`application/json; charset=utf-8`, explicit
 * `content-length`, `cache-control: no-store`, `x-content-type-options: nosniff`). `headers` are applied
 * after the defaults and may override them.
 *
 * If the response has already started (headers sent) it cannot be turned into JSON any more: the
 * connection is destroyed instead, so the client sees a truncated response rather than a misleading one.
 * Never throws for a closed or finished response.
 */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers?: OutgoingHttpHeaders,
): void {
  writeJson(res, status, body, 'application/json; charset=utf-8', headers);
}

const EMPTY = Buffer.alloc(0);

/** Shared by {@link sendJson} and `sendProblem`: one place that serialises and writes JSON. */
export function writeJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  contentType: string,
  headers?: OutgoingHttpHeaders,
): void {
  // Serialise only for a response that can still be written: a closed one never throws, whatever the body.
  if (res.writableEnded || res.destroyed || res.headersSent) {
    writeBody(res, status, EMPTY, contentType, headers);
    return;
  }
  writeBody(res, status, Buffer.from(JSON.stringify(body) ?? 'null', 'utf8'), contentType, headers);
}

/**
 * Writes `payload` as a complete response with `contentType`, `cache-control: no-store` and
 * `x-content-type-options: nosniff` (`headers` may override them), the safety behaviour of {@link sendJson}.
 * Shared by the JSON and HTML senders.
 */
export function writeBody(
  res: ServerResponse,
  status: number,
  payload: Buffer,
  contentType: string,
  headers?: OutgoingHttpHeaders,
): void {
  if (res.writableEnded || res.destroyed) return;
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.statusCode = status;
  res.setHeader('content-type', contentType);
  res.setHeader('cache-control', 'no-store');
  res.setHeader('x-content-type-options', 'nosniff');
  if (headers !== undefined) {
    for (const [name, value] of Object.entries(headers)) {
      if (value !== undefined) res.setHeader(name, value);
    }
  }
  res.setHeader('content-length', payload.length);
  res.end(payload);
}
