import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { writeBody } from './send-json.js';

/**
 * Writes `html` as a complete `text/html; charset=utf-8` response with `cache-control: no-store` and
 * `x-content-type-options: nosniff`; `headers` (a page's CSP, `allow`, `connection`) are applied after
 * them. Same safety behaviour as `sendJson` (never throws; destroys a response that already started).
 */
export function sendHtml(res: ServerResponse, status: number, html: string, headers?: OutgoingHttpHeaders): void {
  writeBody(res, status, Buffer.from(html, 'utf8'), 'text/html; charset=utf-8', headers);
}
