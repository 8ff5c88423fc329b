import type { Logger } from 'pino';
import type { WorkflowConfig } from '../config/types.js';
import type { SessionStarter } from '../verification/create-session-starter.js';
import { isTicketShaped, type StartTickets } from '../verification/start-ticket.js';
import { isDependencyFault } from '../core/dependency-error.js';
import { PAGE_HEADERS, renderPage, renderStartConfirmation, START_CONFIRMATION_HEADERS, type PageKind } from './render-page.js';

/** One HTTP answer of the start endpoint. */
export interface StartReply {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** Counters of the start endpoint (implemented by observability/metrics). */
export interface StartMetrics {
  /** `redirected`, `invalid`, `expired`, `loop`, `unavailable`. */
  start(result: string): void;
}

export interface VerificationStartOptions {
  readonly workflows: Readonly<Record<string, WorkflowConfig>>;
  /** How long one request waits for the session (Didit, or another replica's creation), ms. */
  readonly waitMs: number;
}

/** The path prefix of idgate's start URL on the public listener. */
export const START_PATH = '/verification/start/';

/**
 * Whether a request is a prefetch, a prerender or a link preview (`Sec-Purpose`, `Purpose`, `X-Purpose`,
 * `X-Moz`): such a request must never create a session, and never gets a script that would.
 */
export function isPrefetch(headers: Readonly<Record<string, string | string[] | undefined>>): boolean {
  for (const name of ['sec-purpose', 'purpose', 'x-purpose', 'x-moz']) {
    const value = headers[name];
    const text = Array.isArray(value) ? value.join(',') : value;
    if (text !== undefined && /prefetch|prerender|preview/i.test(text)) return true;
  }
  return false;
}

/**
 * `GET` (and `HEAD`) of the start URL: a page whose form POSTs the same URL, auto-submitted unless the
 * request is a prefetch. Creates nothing, so a link scanner or prefetcher fetching the URL neither
 * creates a Didit session nor uses up a step-up. A URL that is not ticket-shaped gets the invalid page
 * (the ticket itself is checked on POST).
 */
export function startConfirmation(ticket: string, prefetch: boolean): StartReply {
  if (!isTicketShaped(ticket)) return page(400, 'start_invalid');
  return { status: 200, headers: { ...START_CONFIRMATION_HEADERS }, body: renderStartConfirmation(START_PATH + ticket, !prefetch) };
}

/**
 * `POST /verification/start/<ticket>`, the form of {@link startConfirmation}: the browser (or the user of
 * an API client) opened the URL a Check handed out when the Didit session was not ready. Verifies the ticket (HMAC, expiry, known workflow),
 * then creates or reuses the subject's session through the same single-flight starter as the Check path
 * and answers a 302 to Didit's hosted page.
 *
 * Answers: 302 to the session; 400 page for a tampered, malformed or foreign ticket and 410 for an
 * expired one (never a session); 429 page when the step-up cap is reached; 503 page with a "Try again"
 * link and `Retry-After` when Didit or the store fails or is slow — the failed creation gives its step-up
 * slot back and a reload reuses the session once it exists, so reloading never creates duplicates.
 */
export function createVerificationStart(
  deps: { starter: SessionStarter; tickets: StartTickets; logger: Logger; clock?: () => number; metrics?: StartMetrics },
  options: VerificationStartOptions,
): (ticket: string) => Promise<StartReply> {
  const clock = deps.clock ?? Date.now;
  return async (ticket) => {
    const verified = deps.tickets.verify(ticket);
    if (!verified.ok) {
      deps.metrics?.start(verified.reason);
      deps.logger.info({ reason: verified.reason }, 'verification start link refused');
      return verified.reason === 'expired' ? page(410, 'start_expired') : page(400, 'start_invalid');
    }
    const { subject, workflow: name, returnTo } = verified.claims;
    const workflow = options.workflows[name];
    if (!workflow) {
      deps.metrics?.start('invalid');
      return page(400, 'start_invalid');
    }
    const retryUrl = START_PATH + ticket;
    try {
      const result = await deps.starter.start({
        subject,
        workflow,
        ...(returnTo !== undefined ? { returnTo } : {}),
        waitUntil: clock() + options.waitMs,
      });
      switch (result.kind) {
        case 'session': {
          const target = httpUrl(result.pending.url);
          if (target === undefined) {
            deps.metrics?.start('unavailable');
            deps.logger.error({ sessionId: result.pending.sessionId }, 'Didit session URL is not an http(s) URL');
            return page(503, 'start_unavailable', retryUrl, { 'retry-after': '5' });
          }
          deps.metrics?.start('redirected');
          return { status: 302, headers: { location: target, 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' }, body: '' };
        }
        case 'loop':
          deps.metrics?.start('loop');
          return page(429, 'start_loop', undefined, { 'retry-after': String(result.retryAfterSeconds) });
        case 'preparing':
          deps.metrics?.start('unavailable');
          return page(503, 'start_unavailable', retryUrl, { 'retry-after': '2' });
        case 'revoked':
          // A revocation landed during the creation: that session is never used; a retry creates a new one.
          deps.metrics?.start('unavailable');
          return page(503, 'start_unavailable', retryUrl, { 'retry-after': '1' });
        default: {
          const never: never = result;
          throw new Error(`unexpected start result ${String(never)}`);
        }
      }
    } catch (err) {
      if (!isDependencyFault(err)) throw err;
      deps.metrics?.start('unavailable');
      const code = (err as { code?: unknown }).code;
      deps.logger.warn({ workflow: name, error: typeof code === 'string' ? code : 'unknown' }, 'verification start: dependency unavailable');
      return page(503, 'start_unavailable', retryUrl, { 'retry-after': '5' });
    }
  };
}

function httpUrl(raw: string): string | undefined {
  try {
    const u = new URL(raw);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.toString() : undefined;
  } catch {
    return undefined;
  }
}

function page(status: number, kind: PageKind, retryUrl?: string, extra: Record<string, string> = {}): StartReply {
  return {
    status,
    headers: { ...PAGE_HEADERS, ...extra },
    body: renderPage(kind, retryUrl !== undefined ? { retryUrl } : {}),
  };
}
