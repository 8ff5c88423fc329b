import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { sendJson } from '../http/send-json.js';

/**
 * `sendJson` with Didit's content type: Didit (Django REST framework) answers `application/json` without
 * a charset, and the sandbox answers as Didit does.
 */
export function sendDiditJson(res: ServerResponse, status: number, body: unknown, headers: OutgoingHttpHeaders = {}): void {
  sendJson(res, status, body, { ...headers, 'content-type': 'application/json' });
}
