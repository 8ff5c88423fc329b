import type * as http from 'node:http';
import { HttpBodyError, readBody } from '../http/read-body.js';
import { sendHtml } from '../http/send-html.js';
import type { SessionStatus } from '../core/verdict.js';
import type { SandboxScenario } from './build-sandbox-decision.js';
import { renderMessagePage, renderSessionPage } from './render-session-page.js';
import type { SandboxContext } from './sandbox-context.js';
import { hostedPageView, openSession, submitSession, type PageDecision, type SandboxSession, type SessionSteps } from './sandbox-session.js';

const MAX_FORM_BYTES = 16 * 1024;
/** As the server's request timeout: a form that has not arrived by then never will. */
const FORM_TIMEOUT_MS = 30_000;
const DECISION_BY_BUTTON: Readonly<Record<string, PageDecision>> = { approve: 'Approved', decline: 'Declined', review: 'In Review' };

/**
 * The sandbox's pages' headers. No form-action in the CSP: Chrome applies it to the redirect after the
 * form post, which goes to the callback's origin.
 */
const PAGE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'",
  'referrer-policy': 'no-referrer',
});

/**
 * The hosted verification page: `GET /session/<token>` (optionally behind a language prefix) moves Not
 * Started/Resubmitted to In Progress (a webhook without decision) and shows the form; the form posts to
 * `/session/<token>/decide`, which sets the status, sends the webhook with the decision and redirects to
 * `callback?verificationSessionId=…&status=…`.
 */
export class HostedPage {
  constructor(private readonly ctx: SandboxContext) {}

  /** Answers every path outside the API: the page, its form, or a 404 page. */
  async handle(req: http.IncomingMessage, res: http.ServerResponse, path: string): Promise<void> {
    const page = /^\/(?:[a-z]{2,3}(?:-[A-Za-z]{2})?\/)?session\/([A-Za-z0-9]{12})$/.exec(path);
    if (page !== null && (req.method === 'GET' || req.method === 'HEAD')) {
      this.open(res, page[1] as string);
      return;
    }
    const decide = /^\/session\/([A-Za-z0-9]{12})\/decide$/.exec(path);
    if (decide !== null && req.method === 'POST') {
      await this.submit(req, res, decide[1] as string);
      return;
    }
    if (page !== null || decide !== null) {
      send(res, 405, renderMessagePage('Method not allowed', 'This page does not accept that request.'), { allow: page !== null ? 'GET, HEAD' : 'POST' });
      return;
    }
    send(res, 404, renderMessagePage('Not found', 'There is no page at this address.'));
  }

  private open(res: http.ServerResponse, token: string): void {
    const found = this.ctx.sessions.getByToken(token);
    if (found === undefined) {
      send(res, 404, renderMessagePage('Verification not found', 'This verification link is not valid.'));
      return;
    }
    const session = this.apply(openSession(found));
    const view = hostedPageView(session.status);
    if (view === 'form') send(res, 200, renderSessionPage(session));
    else if (view === 'expired') send(res, 410, renderMessagePage('Verification expired', 'This verification link has expired. Please start again.'));
    else send(res, 200, renderMessagePage('Verification finished', `This verification is finished (status: ${session.status}). You can close this window.`));
  }

  private async submit(req: http.IncomingMessage, res: http.ServerResponse, token: string): Promise<void> {
    let raw: Buffer;
    try {
      raw = await readBody(req, { limitBytes: MAX_FORM_BYTES, timeoutMs: FORM_TIMEOUT_MS });
    } catch (err) {
      // A client that went away mid-form gets the 413 too: nobody reads it, and nothing is logged as a fault.
      if (err instanceof HttpBodyError && err.code === 'timeout') {
        send(res, 408, renderMessagePage('Request timeout', 'The form data did not arrive in time.'), { connection: 'close' });
      } else {
        send(res, 413, renderMessagePage('Request too large', 'The form data is too large.'), { connection: 'close' });
      }
      return;
    }
    const session = this.ctx.sessions.getByToken(token);
    if (session === undefined) {
      send(res, 404, renderMessagePage('Verification not found', 'This verification link is not valid.'));
      return;
    }
    const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
    if (type !== 'application/x-www-form-urlencoded') {
      send(res, 415, renderMessagePage('Unsupported form', 'Submit the verification form from its page.'));
      return;
    }
    const form = new URLSearchParams(raw.toString('utf8'));
    const decision = DECISION_BY_BUTTON[form.get('decision') ?? ''];
    const scenario = parseScenario(form);
    if (decision === undefined || typeof scenario === 'string') {
      send(res, 400, renderMessagePage('Invalid choice', typeof scenario === 'string' ? scenario : 'Choose Approve, Decline or Send to review.'));
      return;
    }
    const moved = submitSession(session, decision, scenario, this.ctx.clock());
    if (!moved.ok) {
      send(res, 409, renderMessagePage('Verification finished', moved.detail));
      return;
    }
    const decided = this.apply(moved);
    this.ctx.log.info({ sessionId: decided.sessionId, status: decision }, 'sandbox session decided on the hosted page');
    if (decided.callback === null) {
      send(res, 200, renderMessagePage('Verification finished', `Result: ${decision}. You can close this window.`));
      return;
    }
    res.writeHead(302, { location: callbackUrl(decided.callback, decided.sessionId, decision), 'cache-control': 'no-store', 'content-length': '0' });
    res.end();
  }

  /** Stores an accepted transition's state and announces its steps. @returns the new state. */
  private apply(moved: SessionSteps): SandboxSession {
    this.ctx.sessions.put(moved.session);
    for (const step of moved.steps) void this.ctx.notify(step);
    return moved.session;
  }
}

function send(res: http.ServerResponse, status: number, html: string, headers: Readonly<Record<string, string>> = {}): void {
  sendHtml(res, status, html, { ...headers, ...PAGE_HEADERS });
}

/** Appends `verificationSessionId` and `status` to the callback, keeping its query and fragment as they are. */
export function callbackUrl(callback: string, sessionId: string, status: SessionStatus): string {
  const hash = callback.indexOf('#');
  const base = hash < 0 ? callback : callback.slice(0, hash);
  const fragment = hash < 0 ? '' : callback.slice(hash);
  const sep = !base.includes('?') ? '?' : base.endsWith('?') || base.endsWith('&') ? '' : '&';
  return `${base}${sep}verificationSessionId=${encodeURIComponent(sessionId)}&status=${encodeURIComponent(status)}${fragment}`;
}

/** The form's optional scenario inputs. @returns the scenario, or the message of the first invalid input. */
function parseScenario(form: URLSearchParams): SandboxScenario | string {
  const scenario: { -readonly [K in keyof SandboxScenario]: SandboxScenario[K] } = {};
  const dob = form.get('date_of_birth')?.trim() ?? '';
  if (dob !== '') {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(dob);
    const d = m === null ? undefined : new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
    if (d === undefined || d.toISOString().slice(0, 10) !== dob) return 'The date of birth must be a valid date (YYYY-MM-DD).';
    scenario.dateOfBirth = dob;
  }
  const estimate = form.get('age_estimation')?.trim() ?? '';
  if (estimate !== '') {
    const n = Number(estimate);
    if (!Number.isFinite(n) || n < 0 || n > 150) return 'The estimated age must be a number between 0 and 150.';
    scenario.ageEstimation = n;
  }
  if (form.get('aml_hit') === 'on') scenario.amlHit = true;
  if (form.get('document_expired') === 'on') scenario.documentExpired = true;
  if (form.get('no_document') === 'on') scenario.withoutDocument = true;
  return scenario;
}
