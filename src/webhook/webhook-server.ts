import { ListeningHttpServer } from '../http/listening-http-server.js';
import { applyServerHardening, hardenedServerOptions } from '../http/apply-server-hardening.js';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createHttpServer } from '../http/create-http-server.js';
import type { Logger } from 'pino';
import type { WorkflowConfig } from '../config/types.js';
import { parseWebhookPayload, type DiditDecision, type DiditWebhookPayload as WebhookPayload } from '../didit/types.js';
import { verifyWebhookSignature } from '../didit/verify-webhook-signature.js';
import { verdictFromDecision, verdictFromWebhook } from '../didit/derive-verdict-facts.js';
import type { PendingSessions } from '../store/pending-sessions.js';
import type { VerdictStore } from '../store/verdict-store.js';
import type { Verdict } from '../core/verdict.js';
import { applyVerdict, isSettled, workflowsByDiditId, type SettleStore } from '../verification/settle-session.js';
import { validateReturnUrl } from '../verification/return-url.js';
import { PAGE_HEADERS, renderPage, type PageKind } from './render-page.js';
import { DependencyError } from '../core/dependency-error.js';
import { traced } from '../tracing/tracing.js';
import { isPrefetch, START_PATH, startConfirmation, type StartReply } from './verification-start.js';

/** Store operations the webhook role needs: settling, session records by id, and the verdict read. */
export interface WebhookStore extends SettleStore, Pick<PendingSessions, 'getSession'>, Pick<VerdictStore, 'getVerdicts'> {}

/** Server-side decision fetch (the Didit client). */
export interface DecisionFetcher {
  getDecision(sessionId: string): Promise<DiditDecision>;
}

/** Counters the webhook role reports (implemented by observability/metrics). */
export interface WebhookMetrics {
  webhook(result: string): void;
}

/** What the webhook server talks to. */
export interface WebhookServerDeps {
  readonly store: WebhookStore;
  readonly didit: DecisionFetcher;
  readonly logger: Logger;
  readonly clock?: () => number;
  readonly metrics?: WebhookMetrics;
  /**
   * `POST /verification/start/<ticket>` (see createVerificationStart); `GET` answers the confirmation page
   * that posts it (see startConfirmation). Absent = 404.
   */
  readonly start?: (ticket: string) => Promise<StartReply>;
}

export interface WebhookServerOptions {
  readonly workflows: Readonly<Record<string, WorkflowConfig>>;
  /** Current and (during rotation) previous webhook secrets. */
  readonly secrets: readonly string[];
  readonly toleranceMs: number;
  readonly maxBodyBytes: number;
  readonly publicBaseUrl: string;
  readonly returnToAllowlist: readonly string[];
  /**
   * node:http hardening (this listener faces the internet): time to receive the request headers (default
   * 10 s, the slowloris guard), the whole request (default 15 s), idle keep-alive (default 5 s), and the
   * most simultaneous connections (default 1024; further connections are closed on accept).
   */
  readonly requestTimeoutMs?: number;
  readonly headersTimeoutMs?: number;
  readonly keepAliveTimeoutMs?: number;
  readonly maxConnections?: number;
}

interface Reply {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

const SESSION_ID = /^[A-Za-z0-9-]{1,64}$/;

/**
 * The public HTTP role: Didit's signed webhooks (`POST /webhooks/didit`), the browser's return from a
 * hosted session (`GET /verification/callback`) and idgate's step-up start URL
 * (`GET /verification/start/<ticket>`, see `createVerificationStart`).
 *
 * Webhook rule: answer 2xx only after the verdict is durably written (or the event is knowingly ignored);
 * 401 for a bad signature or stale timestamp (final — Didit does not retry it); 400 for a malformed body;
 * 503 when the store or Didit fails, so Didit retries. The callback's query string is unsigned: it only
 * names the session; the verdict comes from the webhook or a server-side decision fetch.
 */
export class WebhookServer extends ListeningHttpServer {
  readonly #deps: {
    store: WebhookStore;
    didit: DecisionFetcher;
    logger: Logger;
    clock: () => number;
    metrics?: WebhookMetrics;
    start?: (ticket: string) => Promise<StartReply>;
  };
  readonly #options: WebhookServerOptions;
  #workflows: Readonly<Record<string, WorkflowConfig>>;
  #byDiditId: ReadonlyMap<string, WorkflowConfig>;
  protected readonly httpServer: Server;

  /** Use {@link createWebhookServer}. */
  constructor(deps: WebhookServerDeps, options: WebhookServerOptions) {
    super();
    this.#deps = { ...deps, clock: deps.clock ?? Date.now };
    this.#options = options;
    this.#workflows = options.workflows;
    this.#byDiditId = workflowsByDiditId(options.workflows);
    const headersTimeoutMs = options.headersTimeoutMs ?? 10_000;
    const maxConnections = options.maxConnections ?? 1024;
    if (!Number.isSafeInteger(maxConnections) || maxConnections <= 0) {
      throw new TypeError(`maxConnections must be a positive integer, got ${String(maxConnections)}`);
    }
    this.httpServer = createHttpServer(
      // Node checks the header/request timeouts only every connectionsCheckingInterval (30 s by default):
      // keep it at most the header timeout so a dribbling client is cut off on time.
      hardenedServerOptions({ maxHeaderSize: 16 * 1024, connectionsCheckingIntervalMs: Math.min(1_000, headersTimeoutMs) }),
      (req, res) => this.#route(req, res),
    );
    applyServerHardening(this.httpServer, {
      headersTimeoutMs,
      requestTimeoutMs: options.requestTimeoutMs ?? 15_000,
      keepAliveTimeoutMs: options.keepAliveTimeoutMs ?? 5_000,
      maxRequestsPerSocket: 100,
    });
    this.httpServer.maxConnections = maxConnections;
  }

  /** Swaps the workflow definitions (a config reload); deliveries already being handled keep the old ones. */
  setWorkflows(workflows: Readonly<Record<string, WorkflowConfig>>): void {
    this.#byDiditId = workflowsByDiditId(workflows);
    this.#workflows = workflows;
  }


  #route(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?', 1)[0];
    let work: Promise<Reply>;
    if (path === '/webhooks/didit') {
      if (req.method !== 'POST') {
        send(res, problem(405, 'method_not_allowed', 'use POST', { allow: 'POST' }));
        req.resume();
        return;
      }
      work = this.#readBody(req).then(
        (body) => (body === undefined
          ? problem(413, 'body_too_large', 'webhook body too large')
          : traced('idgate.webhook', () => this.handleWebhook(body, req.headers), undefined, req.headers)),
      );
    } else if (path === '/verification/callback') {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        send(res, problem(405, 'method_not_allowed', 'use GET', { allow: 'GET, HEAD' }));
        req.resume();
        return;
      }
      req.resume();
      work = this.handleCallback(new URL(req.url ?? '/', 'http://localhost').searchParams);
    } else if (path?.startsWith(START_PATH) === true && this.#deps.start !== undefined) {
      if (req.method !== 'GET' && req.method !== 'HEAD' && req.method !== 'POST') {
        send(res, problem(405, 'method_not_allowed', 'use GET or POST', { allow: 'GET, HEAD, POST' }));
        req.resume();
        return;
      }
      req.resume();
      const ticket = path.slice(START_PATH.length);
      const prefetch = isPrefetch(req.headers);
      // Only the confirmation form's POST creates a session: a GET (a link scanner, a prefetch) never does.
      work = req.method === 'POST' && !prefetch ? this.#deps.start(ticket) : Promise.resolve(startConfirmation(ticket, prefetch));
    } else {
      req.resume();
      send(res, problem(404, 'not_found', 'no such endpoint'));
      return;
    }
    work
      .catch((err: unknown) => {
        if (err instanceof DependencyError) {
          // 503 makes Didit retry the delivery later; nothing was acknowledged.
          this.#deps.logger.warn({ err }, 'dependency unavailable on public endpoint');
          return problem(503, 'dependency_unavailable', 'temporarily unavailable; retry', { 'retry-after': '5' });
        }
        this.#deps.logger.error({ err }, 'public endpoint failed');
        return problem(500, 'internal_error', 'internal error');
      })
      .then((reply) => send(res, reply, req.method === 'HEAD'));
  }

  /** Reads the raw body up to the limit; undefined when it is larger. */
  #readBody(req: IncomingMessage): Promise<Buffer | undefined> {
    const limit = this.#options.maxBodyBytes;
    const declared = Number(req.headers['content-length'] ?? '0');
    if (declared > limit) {
      req.resume();
      return Promise.resolve(undefined);
    }
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let over = false;
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > limit) {
          over = true;
          chunks.length = 0;
          return;
        }
        if (!over) chunks.push(chunk);
      });
      req.on('end', () => resolve(over ? undefined : Buffer.concat(chunks)));
      req.on('error', reject);
    });
  }

  /** Verifies, orders and stores one webhook delivery. Exposed for tests of the pure path. */
  async handleWebhook(rawBody: Buffer, rawHeaders: IncomingMessage['headers']): Promise<Reply> {
    const { store, didit, logger, clock, metrics } = this.#deps;
    const headers: Record<string, string | undefined> = {};
    for (const [k, v] of Object.entries(rawHeaders)) headers[k] = Array.isArray(v) ? v[0] : v;
    const now = clock();
    const sig = verifyWebhookSignature({
      rawBody,
      headers,
      secrets: this.#options.secrets,
      now,
      toleranceMs: this.#options.toleranceMs,
    });
    if (!sig.ok) {
      metrics?.webhook(sig.reason);
      logger.warn({ reason: sig.reason }, 'webhook rejected');
      return sig.reason === 'malformed_body'
        ? problem(400, 'malformed_body', 'webhook body is not valid JSON')
        : problem(401, sig.reason, 'webhook signature or timestamp not accepted');
    }
    const parsed = parseWebhookPayload(sig.payload);
    if (!parsed.ok) {
      metrics?.webhook('malformed_payload');
      return problem(400, 'malformed_payload', parsed.reason);
    }
    const payload: WebhookPayload = parsed.value;
    if (payload.webhook_type !== undefined && payload.webhook_type !== 'status.updated') {
      metrics?.webhook('ignored_type');
      return json(200, { result: 'ignored', reason: 'event type not used' });
    }
    const target = await this.#resolveTarget(payload);
    if (!target) {
      metrics?.webhook('ignored_unknown');
      logger.info({ sessionId: payload.session_id }, 'webhook for an unknown session ignored');
      return json(200, { result: 'ignored', reason: 'unknown session' });
    }
    let verdict: Verdict;
    const [current] = await store.getVerdicts(target.subject, [target.workflow.name]);
    // A delivery that would move an already settled session to another status may be a late retry (Didit
    // may re-sign retries with a fresh timestamp) rather than a real change, e.g. an old Approved arriving
    // after a revocation. Timestamps cannot tell these apart, so ask Didit for the session's state now.
    const conflicting =
      current !== undefined && current.sessionId === payload.session_id && isSettled(current.status) && current.status !== payload.status;
    const mustRefetch =
      sig.needsRefetch ||
      conflicting ||
      (payload.status === 'Approved' && (payload.decision === undefined || payload.decision === null));
    if (mustRefetch) {
      // The decision data is not covered by the signature (or absent): take it from Didit itself, and
      // let the fetched decision — not the unsigned parts of the payload — say whose it is.
      const decision = await didit.getDecision(payload.session_id);
      verdict = verdictFromDecision(decision, target.workflow.name, target.workflow, now);
      if (verdict.sessionId !== payload.session_id || verdict.subject !== target.subject) {
        metrics?.webhook('mismatch');
        logger.warn({ sessionId: payload.session_id }, 'fetched decision does not match the webhook');
        return json(200, { result: 'ignored', reason: 'decision does not match' });
      }
    } else {
      verdict = verdictFromWebhook({ ...payload, vendor_data: target.subject }, target.workflow.name, target.workflow, now);
    }
    const stored = await applyVerdict(store, verdict, 'webhook', target.sessionCreatedAt);
    // Say what happened: when Didit's fetched decision differs from the delivery's status, the delivery
    // itself was not applied — Didit's current decision was (or was already there).
    const result = verdict.status !== payload.status ? 'superseded' : stored;
    metrics?.webhook(result);
    logger.info(
      {
        sessionId: verdict.sessionId,
        subject: verdict.subject,
        workflow: verdict.workflow,
        status: verdict.status,
        result,
        ...(result === 'superseded' ? { deliveredStatus: payload.status, stored } : {}),
      },
      'webhook applied',
    );
    return json(200, result === 'superseded' ? { result, status: verdict.status, stored } : { result });
  }

  /**
   * Who and which workflow a session is for: idgate's own record first, else vendor_data + workflow_id.
   * `sessionCreatedAt` comes only from idgate's record (undefined without one: a revoked subject then
   * refuses the verdict).
   */
  async #resolveTarget(
    payload: WebhookPayload,
  ): Promise<{ subject: string; workflow: WorkflowConfig; sessionCreatedAt?: number } | undefined> {
    const record = await this.#deps.store.getSession(payload.session_id);
    if (record) {
      const workflow = this.#workflows[record.workflow];
      if (!workflow) return undefined;
      if (payload.vendor_data !== undefined && payload.vendor_data !== record.subject) {
        // A session we created for one subject must never settle another's verdict.
        this.#deps.logger.warn({ sessionId: payload.session_id }, 'webhook vendor_data does not match the session record');
        return undefined;
      }
      return { subject: record.subject, workflow, sessionCreatedAt: record.createdAt };
    }
    if (typeof payload.vendor_data !== 'string' || payload.workflow_id === undefined) return undefined;
    const workflow = this.#byDiditId.get(payload.workflow_id);
    return workflow ? { subject: payload.vendor_data, workflow } : undefined;
  }

  /** The browser's return from Didit. */
  async handleCallback(query: URLSearchParams): Promise<Reply> {
    const { store, didit, logger, clock } = this.#deps;
    const sessionId = query.get('verificationSessionId') ?? '';
    if (!SESSION_ID.test(sessionId)) return page(400, 'error');
    const record = await store.getSession(sessionId);
    if (!record) return page(404, 'error');
    const workflow = this.#workflows[record.workflow];
    if (!workflow) return page(404, 'error');
    const [stored] = await store.getVerdicts(record.subject, [record.workflow]);
    let verdict = stored && stored.sessionId === sessionId ? stored : undefined;
    let revoked = false;
    if (!verdict || !isSettled(verdict.status)) {
      // The webhook has not settled this session yet: ask Didit directly (server side, authenticated).
      try {
        const decision = await didit.getDecision(sessionId);
        const fetched = verdictFromDecision(decision, record.workflow, workflow, clock());
        if (fetched.sessionId === sessionId && fetched.subject === record.subject) {
          // A revoked session stays revoked whatever Didit says about it now (only a new session can).
          if ((await applyVerdict(store, fetched, 'callback', record.createdAt)) === 'revoked') revoked = true;
          else verdict = fetched;
        }
      } catch (err) {
        logger.warn({ err, sessionId }, 'decision fetch on callback failed');
      }
    }
    const self = `/verification/callback?verificationSessionId=${encodeURIComponent(sessionId)}`;
    if (revoked) return page(410, 'error');
    if (!verdict) return page(200, 'pending', { refreshUrl: self });
    switch (verdict.status) {
      case 'Approved': {
        const target = validateReturnUrl(record.returnTo, this.#options.publicBaseUrl, this.#options.returnToAllowlist);
        if (target) {
          return { status: 302, headers: { location: target, 'cache-control': 'no-store' }, body: '' };
        }
        return page(200, 'verified');
      }
      case 'In Review':
        return page(200, 'in_review');
      case 'Declined':
        return page(403, 'declined');
      case 'Expired':
      case 'Abandoned':
      case 'Kyc Expired':
        return page(410, 'error');
      case 'Not Started':
      case 'In Progress':
      case 'Resubmitted':
      case 'Awaiting User':
        return page(200, 'pending', { refreshUrl: self });
      default: {
        const never: never = verdict.status;
        throw new Error(`unknown status ${String(never)}`);
      }
    }
  }
}

/** Dependencies and options of {@link createWebhookServer}. */
export interface CreateWebhookServerOptions extends WebhookServerDeps, WebhookServerOptions {}

/**
 * Creates the public HTTP server (not yet listening; {@link WebhookServer.listen} binds it).
 * @throws TypeError for a non-positive `maxConnections`.
 */
export function createWebhookServer(options: CreateWebhookServerOptions): WebhookServer {
  const { store, didit, logger, clock, metrics, start, ...rest } = options;
  return new WebhookServer(
    { store, didit, logger, ...(clock ? { clock } : {}), ...(metrics ? { metrics } : {}), ...(start ? { start } : {}) },
    rest,
  );
}

function page(status: number, kind: PageKind, options?: { refreshUrl?: string; continueUrl?: string }): Reply {
  return {
    status,
    headers: { ...PAGE_HEADERS },
    body: renderPage(kind, options),
  };
}

function json(status: number, body: unknown): Reply {
  return { status, headers: { 'content-type': 'application/json', 'cache-control': 'no-store' }, body: JSON.stringify(body) };
}

function problem(status: number, code: string, detail: string, extra: Record<string, string> = {}): Reply {
  return {
    status,
    headers: { 'content-type': 'application/problem+json', 'cache-control': 'no-store', ...extra },
    body: JSON.stringify({ type: 'about:blank', title: code.replace(/_/g, ' '), status, code, detail }),
  };
}

function send(res: ServerResponse, reply: Reply, headOnly = false): void {
  if (res.headersSent) return;
  res.writeHead(reply.status, { ...reply.headers, 'content-length': Buffer.byteLength(reply.body) });
  res.end(headOnly ? undefined : reply.body);
}
