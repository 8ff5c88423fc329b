import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { writeJson } from './send-json.js';

/** An RFC 9457 problem document plus idgate's stable machine-readable `code`. */
export interface Problem {
  /** HTTP status; also the document's `status` member. */
  readonly status: number;
  /** Stable snake_case reason, e.g. `token_missing`, `body_too_large`. */
  readonly code: string;
  /** Short human summary; the same for every occurrence of `code`. */
  readonly title: string;
  /** Human explanation of this occurrence. Never tokens, secrets or PII. */
  readonly detail?: string;
  /** Problem type URI; omitted means `about:blank` (RFC 9457 §4.2.1). */
  readonly type?: string;
  /** URI reference identifying this occurrence. */
  readonly instance?: string;
  /** Extension members; they cannot override the standard members or `code`. */
  readonly extra?: Readonly<Record<string, string | number | boolean>>;
  /** Extra response headers (e.g. `www-authenticate`, `retry-after`, `connection: close`). */
  readonly headers?: OutgoingHttpHeaders;
}

/**
 * Writes `problem` as an `application/problem+json` response with `cache-control: no-store`.
 * Same safety behaviour as `sendJson` (never throws; destroys a response that already started).
 */
export function sendProblem(res: ServerResponse, problem: Problem): void {
  const body: Record<string, unknown> = { ...problem.extra };
  if (problem.type !== undefined) body['type'] = problem.type;
  body['title'] = problem.title;
  body['status'] = problem.status;
  if (problem.detail !== undefined) body['detail'] = problem.detail;
  if (problem.instance !== undefined) body['instance'] = problem.instance;
  body['code'] = problem.code;
  writeJson(res, problem.status, body, 'application/problem+json', problem.headers);
}
