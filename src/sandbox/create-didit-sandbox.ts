import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import * as http from 'node:http';
import { listenServer } from '../http/server-lifecycle.js';
import type { Logger } from 'pino';
import type { SessionStatus } from '../verification/verdict.js';
import { buildSandboxDecision, SANDBOX_NODES, type SandboxScenario } from './build-sandbox-decision.js';
import { renderMessagePage, renderSessionPage } from './render-session-page.js';
import { SlidingWindowLimiter, type ScopeState } from './sliding-window-limiter.js';
import { WebhookDispatcher, type SandboxDelivery } from './webhook-dispatcher.js';

/** Requests per 60-second sliding window and API key, per scope (defaults: Didit's documented numbers). */
export interface SandboxRateLimits {
  /** `POST /v3/session/` (Didit `session-v2-create`, 600). */
  readonly create: number;
  /** `GET /v3/session/{id}/decision/` (Didit `session-decision`, 100). */
  readonly decision: number;
  /** Every GET (Didit `generic-get`, 600). */
  readonly genericGet: number;
  /** Every POST/PATCH/DELETE (Didit `generic-write`, 300). */
  readonly genericWrite: number;
}

/** Options of {@link createDiditSandbox}. */
export interface DiditSandboxOptions {
  readonly logger: Logger;
  /** Listen address (default `127.0.0.1`). */
  readonly host?: string;
  /** Listen port (default 0: any free port). */
  readonly port?: number;
  /** Base of the hosted URLs handed out (default `http://<host>:<port>`). */
  readonly publicBaseUrl?: string;
  /** The one API key accepted in `x-api-key`. */
  readonly apiKey: string;
  /** HMAC secret of the webhook signatures. */
  readonly webhookSecret: string;
  /** Where `status.updated` webhooks go; none are sent while unset. */
  readonly webhookUrl?: string;
  /**
   * Known workflows (UUID → current published version); an unknown `workflow_id` then gets 404. When
   * omitted, any UUID is accepted as a workflow at version 1.
   */
  readonly workflows?: Readonly<Record<string, { readonly version: number }>>;
  /** Epoch-ms clock (default `Date.now`): timestamps, rate-limit windows, ages and expiry dates. */
  readonly clock?: () => number;
  /** Waits before the two webhook retries (default Didit's `[60_000, 240_000]`). */
  readonly retryDelaysMs?: readonly number[];
  /** Timeout of one webhook attempt (default 5000 ms, as Didit). */
  readonly webhookTimeoutMs?: number;
  /** Whether a retried webhook keeps its `event_id` (`same`, default) or gets a new one (`fresh`). */
  readonly retryEventId?: 'same' | 'fresh';
  readonly rateLimits?: Partial<SandboxRateLimits>;
  /** Largest API request body, bytes (default 2 MiB). */
  readonly maxBodyBytes?: number;
  /**
   * Latency of every session creation (`POST /v3/session/`), ms (default 0). The real Didit is an internet
   * round trip away: 300 ms to 1 s. See also {@link DiditSandbox.setCreateDelay}.
   */
  readonly createDelayMs?: number;
}

/** A snapshot of one sandbox session. */
export interface SandboxSession {
  readonly sessionId: string;
  readonly sessionNumber: number;
  readonly sessionToken: string;
  readonly url: string;
  readonly workflowId: string;
  readonly workflowVersion: number;
  readonly vendorData?: string;
  readonly callback: string | null;
  readonly callbackMethod: 'initiator' | 'completer' | 'both';
  readonly metadata: unknown;
  readonly language?: string;
  readonly contactDetails: unknown;
  readonly expectedDetails: unknown;
  readonly status: SessionStatus;
  /** Epoch ms. */
  readonly createdAt: number;
  /** When data was captured (a decision reached), epoch ms. */
  readonly capturedAt?: number;
  readonly scenario: SandboxScenario;
  readonly clearedNodes: readonly string[];
  readonly resubmitInfo?: { readonly nodes_to_resubmit: readonly string[]; readonly reasons: Readonly<Record<string, string>> };
}

/** A fault the API answers instead of (or before) its normal response; see {@link DiditSandbox.injectApiFaults}. */
export interface SandboxApiFault {
  /**
   * Answer with this status: 500 (an HTML body, as a crashing server would), 429 (with rate-limit headers)
   * or 400 (Didit's validation answer, as when our request is wrong).
   */
  readonly status?: 500 | 429 | 400;
  /** `Retry-After` seconds for a 429 (default 1). */
  readonly retryAfter?: number;
  /** How many API requests this applies to. */
  readonly count: number;
  /** Wait this long before answering (or before handling normally when no status/reset is given). */
  readonly delayMs?: number;
  /** Drop the connection without answering. */
  readonly reset?: boolean;
}

type MutableSession = { -readonly [K in keyof SandboxSession]: SandboxSession[K] } & { chain: Promise<unknown> };

const UNFINISHED: ReadonlySet<SessionStatus> = new Set<SessionStatus>(['Not Started', 'In Progress', 'Resubmitted', 'Awaiting User']);
/** Statuses whose webhook carries the full decision. */
const WITH_DECISION: ReadonlySet<SessionStatus> = new Set<SessionStatus>(['Approved', 'Declined', 'In Review', 'Abandoned']);
/** Statuses that mean the user's data was captured and checked. */
const CAPTURED: ReadonlySet<SessionStatus> = new Set<SessionStatus>(['Approved', 'Declined', 'In Review', 'Kyc Expired']);
const UPDATABLE_FROM: ReadonlySet<SessionStatus> = new Set<SessionStatus>(['Approved', 'Declined', 'In Review', 'Kyc Expired', 'Abandoned', 'Resubmitted']);
const UPDATABLE_TO = ['Approved', 'Declined', 'Resubmitted'] as const;
const LANGUAGES = new Set(
  'en ar bg bn ca cnr cs da de el es et fa fi fr he hi hr hu hy id it ja ka ko lt lv mk ms nl no pl pt-BR pt ro ru sk sl so sr sv th tr uk uz vi zh-CN zh-TW zh bs kk ky mn sq'.split(' '),
);
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const TOKEN_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
const NO_PERMISSION = { detail: 'You do not have permission to perform this action.' };
const NOT_FOUND = { detail: 'Not found.' };
const WINDOW_MS = 60_000;
const MAX_FORM_BYTES = 16 * 1024;

class HttpError extends Error {
  constructor(readonly status: number, readonly body: unknown) {
    super(`HTTP ${status}`);
  }
}

/**
 * Creates (but does not start) a local Didit look-alike: the v3 session API, the hosted verification
 * page and signed `status.updated` webhooks, behaving as Didit documents. Call {@link DiditSandbox.listen}.
 *
 * @throws TypeError for an empty `apiKey` or `webhookSecret`.
 */
export function createDiditSandbox(options: DiditSandboxOptions): DiditSandbox {
  if (options.apiKey === '') throw new TypeError('sandbox apiKey must not be empty');
  if (options.webhookSecret === '') throw new TypeError('sandbox webhookSecret must not be empty');
  return new DiditSandbox(options);
}

/**
 * The running sandbox. API (all paths with a trailing slash; without one → 301 to the slashed path, which
 * is what Django's APPEND_SLASH does and what makes clients drop the key):
 *
 * - `POST /v3/session/`: `x-api-key` (missing/wrong → 403), JSON body (400 with per-field errors; unknown
 *   fields ignored), `vendor_data` idempotency (an unfinished session of the same workflow version is
 *   returned again with `callback`/`metadata` overwritten), 201 with the documented keys.
 * - `GET /v3/session/{id}/decision/`: the v3 decision (404 unknown).
 * - `PATCH /v3/session/{id}/update-status/`: Approved/Declined/Resubmitted from a decided status (400 otherwise).
 * - `DELETE /v3/session/{id}/delete/`: 204.
 * - Rate limits per API key over a 60 s sliding window: 429 with `X-RateLimit-*` and `Retry-After`.
 * - Hosted page `GET /session/<token>`: Not Started/Resubmitted → In Progress (webhook without decision);
 *   the form posts to `/session/<token>/decide`, which sets the status, sends the webhook with the decision
 *   and redirects to `callback?verificationSessionId=…&status=…`.
 *
 * Webhooks of one session are sent in order (each after the previous one's first attempt), which real
 * Didit does not promise. `close()` stops the server and cancels pending retries.
 */
export class DiditSandbox {
  private readonly log: Logger;
  private readonly server: http.Server;
  private readonly clock: () => number;
  private readonly limiter = new SlidingWindowLimiter(WINDOW_MS);
  private readonly limits: SandboxRateLimits;
  private readonly dispatcher: WebhookDispatcher;
  private readonly byId = new Map<string, MutableSession>();
  private readonly byToken = new Map<string, MutableSession>();
  private readonly workflows = new Map<string, number>();
  private readonly deliveryLog: SandboxDelivery[] = [];
  private readonly waiters = new Set<() => void>();
  private readonly faultTimers = new Set<NodeJS.Timeout>();
  private readonly applicationId = randomUUID();
  private faults: { fault: SandboxApiFault; left: number }[] = [];
  private createDelayMs = 0;
  private webhookUrl: string | undefined;
  private baseUrl: string | undefined;
  private nextNumber = 1;
  private apiRequestCount = 0;

  /** Use {@link createDiditSandbox}. */
  constructor(private readonly options: DiditSandboxOptions) {
    this.log = options.logger.child({ component: 'didit-sandbox' });
    this.clock = options.clock ?? Date.now;
    if (options.createDelayMs !== undefined) this.setCreateDelay(options.createDelayMs);
    this.limits = { create: 600, decision: 100, genericGet: 600, genericWrite: 300, ...options.rateLimits };
    this.webhookUrl = options.webhookUrl;
    for (const [id, wf] of Object.entries(options.workflows ?? {})) this.workflows.set(id.toLowerCase(), wf.version);
    this.dispatcher = new WebhookDispatcher({
      logger: options.logger,
      secret: options.webhookSecret,
      clock: this.clock,
      retryDelaysMs: options.retryDelaysMs ?? [60_000, 240_000],
      timeoutMs: options.webhookTimeoutMs ?? 5000,
      retryEventId: options.retryEventId ?? 'same',
      onAttempt: (d) => {
        this.deliveryLog.push(d);
        for (const wake of this.waiters) wake();
      },
    });
    this.server = http.createServer({ requestTimeout: 30_000, headersTimeout: 10_000, maxHeaderSize: 16 * 1024 }, (req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        this.log.error({ err }, 'sandbox request failed');
        if (!res.headersSent) sendJson(res, 500, { detail: 'Internal server error.' });
        else res.destroy();
      });
    });
    this.server.keepAliveTimeout = 5000;
  }

  /**
   * Starts listening on `host`/`port` (default: the options' `host` and `port`, as every idgate server's
   * `listen(host, port)`). @returns the bound port.
   */
  async listen(host: string = this.options.host ?? '127.0.0.1', port: number = this.options.port ?? 0): Promise<number> {
    const bound = await listenServer(this.server, host, port);
    const urlHost = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
    this.baseUrl = (this.options.publicBaseUrl ?? `http://${urlHost}:${bound}`).replace(/\/+$/, '');
    this.log.info({ port: bound }, 'Didit sandbox listening');
    return bound;
  }

  /** The base URL (API and hosted pages). @throws Error before {@link listen}. */
  get url(): string {
    if (this.baseUrl === undefined) throw new Error('sandbox is not listening');
    return this.baseUrl;
  }

  /** Stops the server, drops open connections and cancels pending webhook retries. */
  async close(): Promise<void> {
    this.dispatcher.close();
    for (const t of this.faultTimers) clearTimeout(t);
    this.faultTimers.clear();
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  /** Snapshots of every session, oldest first. */
  sessions(): SandboxSession[] {
    return [...this.byId.values()].map((s) => snapshot(s));
  }

  /** How many API requests (under `/v3/`) arrived so far, faulted ones included: attempts as Didit counts them. */
  apiRequests(): number {
    return this.apiRequestCount;
  }

  /** Every webhook attempt so far, in order. */
  deliveries(): SandboxDelivery[] {
    return [...this.deliveryLog];
  }

  /**
   * Resolves once at least `count` webhook attempts were logged.
   * @throws Error after `timeoutMs` (default 10 s) with the count reached.
   */
  waitForDeliveries(count: number, timeoutMs = 10_000): Promise<SandboxDelivery[]> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        if (this.deliveryLog.length < count) return false;
        this.waiters.delete(wake);
        clearTimeout(timer);
        resolve(this.deliveries());
        return true;
      };
      const wake = (): void => void check();
      const timer = setTimeout(() => {
        this.waiters.delete(wake);
        reject(new Error(`expected ${count} webhook deliveries, saw ${this.deliveryLog.length}`));
      }, timeoutMs);
      this.waiters.add(wake);
      check();
    });
  }

  /** Sets the latency of every later session creation, ms (0 = none); unlike a fault it does not run out. */
  setCreateDelay(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new TypeError('create delay must be a non-negative number');
    this.createDelayMs = ms;
  }

  /** Sets (or clears) the webhook destination for later events. */
  setWebhookUrl(url: string | undefined): void {
    this.webhookUrl = url;
  }

  /**
   * The next `count` API requests (under `/v3/`) get this fault, checked before authentication.
   * Faults queue up in the order injected.
   */
  injectApiFaults(fault: SandboxApiFault): void {
    if (fault.count > 0) this.faults.push({ fault, left: fault.count });
  }

  /** Publishes a new version of a workflow: open sessions on the old version are no longer reused. @returns the new version. */
  publishWorkflow(workflowId: string): number {
    const key = workflowId.toLowerCase();
    const version = (this.workflows.get(key) ?? 1) + 1;
    this.workflows.set(key, version);
    return version;
  }

  /** Clears all rate-limit counters. */
  resetRateLimits(): void {
    this.limiter.reset();
  }

  /**
   * Sets a session's status programmatically (any status), as if the user or a reviewer had acted; a
   * data-bearing status (Approved, Declined, In Review, Kyc Expired) captures data per `scenario`.
   * Fires `status.updated`.
   *
   * @returns the first delivery attempt, or undefined when no webhook URL is set.
   * @throws Error for an unknown session id.
   */
  decide(sessionId: string, status: SessionStatus, scenario?: SandboxScenario): Promise<SandboxDelivery | undefined> {
    const session = this.byId.get(sessionId);
    if (session === undefined) throw new Error(`unknown sandbox session ${sessionId}`);
    this.applyStatus(session, status, scenario);
    return this.emit(session);
  }

  private applyStatus(session: MutableSession, status: SessionStatus, scenario?: SandboxScenario): void {
    session.status = status;
    if (scenario !== undefined) session.scenario = { ...scenario };
    if (CAPTURED.has(status)) {
      session.capturedAt = this.clock();
      session.clearedNodes = [];
    }
    if (status !== 'Resubmitted') delete session.resubmitInfo;
  }

  /** Queues the `status.updated` webhook for the session's current state. */
  private emit(session: MutableSession): Promise<SandboxDelivery | undefined> {
    const url = this.webhookUrl;
    if (url === undefined) return Promise.resolve(undefined);
    const payload: Record<string, unknown> = {
      application_id: this.applicationId,
      created_at: Math.floor(session.createdAt / 1000),
      environment: 'sandbox',
      session_id: session.sessionId,
      status: session.status,
      webhook_type: 'status.updated',
      workflow_id: session.workflowId,
      workflow_version: session.workflowVersion,
    };
    if (session.vendorData !== undefined) payload.vendor_data = session.vendorData;
    if (session.metadata !== null && session.metadata !== undefined) payload.metadata = session.metadata;
    if (WITH_DECISION.has(session.status)) payload.decision = buildSandboxDecision(session);
    if (session.status === 'Resubmitted' && session.resubmitInfo !== undefined) payload.resubmit_info = session.resubmitInfo;
    const frozen = structuredClone(payload);
    const next = session.chain.then(() => this.dispatcher.dispatch(url, frozen));
    session.chain = next.catch(() => undefined);
    return next;
  }

  // ---------------------------------------------------------------- HTTP

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sandbox.invalid');
    const path = url.pathname;
    if (path === '/v3' || path.startsWith('/v3/')) {
      await this.handleApi(req, res, url);
      return;
    }
    if (path === '/system/healthcheck' || path === '/system/healthcheck/') {
      sendJson(res, 200, { status: 'ok' });
      return;
    }
    const page = /^\/(?:[a-z]{2,3}(?:-[A-Za-z]{2})?\/)?session\/([A-Za-z0-9]{12})$/.exec(path);
    if (page !== null && (req.method === 'GET' || req.method === 'HEAD')) {
      await this.openPage(res, page[1] as string);
      return;
    }
    const decide = /^\/session\/([A-Za-z0-9]{12})\/decide$/.exec(path);
    if (decide !== null && req.method === 'POST') {
      await this.submitPage(req, res, decide[1] as string);
      return;
    }
    if (page !== null || decide !== null) {
      sendHtml(res, 405, renderMessagePage('Method not allowed', 'This page does not accept that request.'), { allow: page !== null ? 'GET, HEAD' : 'POST' });
      return;
    }
    sendHtml(res, 404, renderMessagePage('Not found', 'There is no page at this address.'));
  }

  private async handleApi(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    this.apiRequestCount += 1;
    const fault = this.takeFault();
    if (fault !== undefined) {
      if (fault.delayMs !== undefined && fault.delayMs > 0) await this.pause(fault.delayMs);
      if (res.destroyed) return;
      if (fault.reset === true) {
        req.socket.destroy();
        return;
      }
      if (fault.status === 500) {
        res.writeHead(500, { 'content-type': 'text/html; charset=utf-8' });
        res.end('<h1>Server Error (500)</h1>');
        return;
      }
      if (fault.status === 400) {
        sendJson(res, 400, { workflow_id: ['This field is invalid.'] });
        return;
      }
      if (fault.status === 429) {
        const retryAfter = fault.retryAfter ?? 1;
        sendJson(res, 429, { detail: `Request was throttled. Expected available in ${retryAfter} seconds.` }, {
          'retry-after': String(retryAfter),
          'x-ratelimit-limit': String(this.limits.create),
          'x-ratelimit-remaining': '0',
          'x-ratelimit-reset': String(Math.ceil(this.clock() / 1000) + retryAfter),
        });
        return;
      }
    }

    const path = url.pathname;
    if (!path.endsWith('/')) {
      res.writeHead(301, { location: path + '/' + url.search, 'content-length': '0' });
      res.end();
      return;
    }
    const method = req.method ?? 'GET';
    type Route = { allow: string; scopes: { scope: string; limit: number }[]; run: () => Promise<void> };
    let route: Route | undefined;
    let m: RegExpExecArray | null;
    if (path === '/v3/session/') {
      route = {
        allow: 'POST',
        scopes: this.scopes('create', 'POST'),
        run: async () => {
          if (this.createDelayMs > 0) {
            await this.pause(this.createDelayMs);
            if (res.destroyed) return;
          }
          await this.createSession(req, res);
        },
      };
    } else if ((m = /^\/v3\/session\/([^/]+)\/decision\/$/.exec(path)) !== null) {
      const id = m[1] as string;
      route = { allow: 'GET', scopes: this.scopes('decision', 'GET'), run: async () => this.getDecision(res, id) };
    } else if ((m = /^\/v3\/session\/([^/]+)\/update-status\/$/.exec(path)) !== null) {
      const id = m[1] as string;
      route = { allow: 'PATCH', scopes: this.scopes(undefined, 'PATCH'), run: () => this.updateStatus(req, res, id) };
    } else if ((m = /^\/v3\/session\/([^/]+)\/delete\/$/.exec(path)) !== null) {
      const id = m[1] as string;
      route = { allow: 'DELETE', scopes: this.scopes(undefined, 'DELETE'), run: async () => this.deleteSession(res, id) };
    }
    if (route === undefined) {
      sendJson(res, 404, NOT_FOUND);
      return;
    }
    if (!this.authorised(req)) {
      drain(req);
      sendJson(res, 403, NO_PERMISSION);
      return;
    }
    if (method !== route.allow) {
      drain(req);
      sendJson(res, 405, { detail: `Method "${method}" not allowed.` }, { allow: route.allow });
      return;
    }
    const taken = this.limiter.take(this.options.apiKey, route.scopes, this.clock());
    if (!taken.allowed) {
      drain(req);
      const state = taken.refused;
      const retryAfter = Math.max(1, Math.ceil((state.resetAt - this.clock()) / 1000));
      sendJson(res, 429, { detail: `Request was throttled. Expected available in ${retryAfter} seconds.` }, {
        ...rateHeaders(state),
        'retry-after': String(retryAfter),
      });
      return;
    }
    res.setHeader('x-ratelimit-limit', String(taken.tightest.limit));
    res.setHeader('x-ratelimit-remaining', String(taken.tightest.remaining));
    res.setHeader('x-ratelimit-reset', String(Math.ceil(taken.tightest.resetAt / 1000)));
    try {
      await route.run();
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      if (err.status === 413) res.setHeader('connection', 'close');
      sendJson(res, err.status, err.body);
    }
  }

  private scopes(endpoint: 'create' | 'decision' | undefined, method: string): { scope: string; limit: number }[] {
    const scopes: { scope: string; limit: number }[] = [];
    if (endpoint === 'create') scopes.push({ scope: 'session-v2-create', limit: this.limits.create });
    if (endpoint === 'decision') scopes.push({ scope: 'session-decision', limit: this.limits.decision });
    if (method === 'GET') scopes.push({ scope: 'generic-get', limit: this.limits.genericGet });
    else scopes.push({ scope: 'generic-write', limit: this.limits.genericWrite });
    return scopes;
  }

  private takeFault(): SandboxApiFault | undefined {
    const head = this.faults[0];
    if (head === undefined) return undefined;
    head.left--;
    if (head.left <= 0) this.faults.shift();
    return head.fault;
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.faultTimers.delete(timer);
        resolve();
      }, ms);
      this.faultTimers.add(timer);
    });
  }

  private authorised(req: http.IncomingMessage): boolean {
    const given = req.headers['x-api-key'];
    if (typeof given !== 'string') return false;
    const a = Buffer.from(given, 'utf8');
    const b = Buffer.from(this.options.apiKey, 'utf8');
    return a.length === b.length && timingSafeEqual(a, b);
  }

  private async readJsonObject(req: http.IncomingMessage): Promise<Record<string, unknown>> {
    const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
    const raw = await readBody(req, this.options.maxBodyBytes ?? 2 * 1024 * 1024);
    if (type !== 'application/json') {
      throw new HttpError(415, { detail: `Unsupported media type "${type}" in request.` });
    }
    let json: unknown;
    try {
      json = JSON.parse(raw.toString('utf8'));
    } catch (err) {
      throw new HttpError(400, { detail: `JSON parse error - ${(err as Error).message}` });
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) {
      throw new HttpError(400, { non_field_errors: [`Invalid data. Expected a dictionary, but got ${Array.isArray(json) ? 'list' : typeof json}.`] });
    }
    return json as Record<string, unknown>;
  }

  private async createSession(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const body = await this.readJsonObject(req);
    const errors: Record<string, string[]> = {};
    const workflowId = body.workflow_id;
    if (workflowId === undefined || workflowId === null) errors.workflow_id = ['This field is required.'];
    else if (typeof workflowId !== 'string' || !UUID.test(workflowId)) errors.workflow_id = ['Must be a valid UUID.'];
    const vendorData = body.vendor_data;
    if (vendorData !== undefined && vendorData !== null && typeof vendorData !== 'string') errors.vendor_data = ['Not a valid string.'];
    const callback = body.callback;
    if (callback !== undefined && callback !== null && (typeof callback !== 'string' || !isHttpUrl(callback))) errors.callback = ['Enter a valid URL.'];
    const callbackMethod = body.callback_method;
    if (callbackMethod !== undefined && callbackMethod !== 'initiator' && callbackMethod !== 'completer' && callbackMethod !== 'both') {
      errors.callback_method = [`"${String(callbackMethod)}" is not a valid choice.`];
    }
    const metadata = body.metadata;
    if (metadata !== undefined && metadata !== null && typeof metadata !== 'string' && (typeof metadata !== 'object' || Array.isArray(metadata))) {
      errors.metadata = ['Value must be valid JSON.'];
    }
    const language = body.language;
    if (language !== undefined && language !== null && (typeof language !== 'string' || !LANGUAGES.has(language))) {
      errors.language = [`"${String(language)}" is not a valid choice.`];
    }
    for (const key of ['contact_details', 'expected_details'] as const) {
      const v = body[key];
      if (v !== undefined && v !== null && (typeof v !== 'object' || Array.isArray(v))) {
        errors[key] = [`Expected a dictionary of items but got type "${Array.isArray(v) ? 'list' : typeof v}".`];
      }
    }
    if (Object.keys(errors).length > 0) throw new HttpError(400, errors);

    const wfId = (workflowId as string).toLowerCase();
    let version = this.workflows.get(wfId);
    if (version === undefined) {
      if (this.options.workflows !== undefined) throw new HttpError(404, { detail: 'Workflow not found.' });
      version = 1;
    }
    const newCallback = typeof callback === 'string' ? callback : null;
    const newMetadata = metadata === undefined ? null : metadata;

    if (typeof vendorData === 'string' && vendorData !== '') {
      const open = [...this.byId.values()].find(
        (s) => s.vendorData === vendorData && s.workflowId.toLowerCase() === wfId && s.workflowVersion === version && UNFINISHED.has(s.status),
      );
      if (open !== undefined) {
        open.callback = newCallback;
        open.metadata = structuredClone(newMetadata);
        this.log.info({ sessionId: open.sessionId }, 'sandbox session reused (vendor_data idempotency)');
        sendJson(res, 201, this.createdBody(open));
        return;
      }
    }

    const sessionToken = this.newToken();
    const session: MutableSession = {
      sessionId: randomUUID(),
      sessionNumber: this.nextNumber++,
      sessionToken,
      url: `${this.url}/session/${sessionToken}`,
      workflowId: workflowId as string,
      workflowVersion: version,
      ...(typeof vendorData === 'string' ? { vendorData } : {}),
      callback: newCallback,
      callbackMethod: (callbackMethod as SandboxSession['callbackMethod'] | undefined) ?? 'initiator',
      metadata: structuredClone(newMetadata),
      ...(typeof language === 'string' ? { language } : {}),
      contactDetails: body.contact_details ?? null,
      expectedDetails: body.expected_details ?? null,
      status: 'Not Started',
      createdAt: this.clock(),
      scenario: {},
      clearedNodes: [],
      chain: Promise.resolve(),
    };
    this.byId.set(session.sessionId, session);
    this.byToken.set(sessionToken, session);
    this.log.info({ sessionId: session.sessionId }, 'sandbox session created');
    sendJson(res, 201, this.createdBody(session));
  }

  private createdBody(s: MutableSession): Record<string, unknown> {
    return {
      session_id: s.sessionId,
      session_number: s.sessionNumber,
      session_token: s.sessionToken,
      url: s.url,
      vendor_data: s.vendorData ?? null,
      metadata: s.metadata,
      status: s.status,
      workflow_id: s.workflowId,
      workflow_version: s.workflowVersion,
      callback: s.callback,
      session_kind: 'user',
    };
  }

  private newToken(): string {
    for (;;) {
      const bytes = randomBytes(12);
      let token = '';
      for (const b of bytes) token += TOKEN_ALPHABET[b % TOKEN_ALPHABET.length];
      if (!this.byToken.has(token)) return token;
    }
  }

  private getDecision(res: http.ServerResponse, id: string): void {
    const session = this.byId.get(id);
    if (session === undefined) throw new HttpError(404, NOT_FOUND);
    sendJson(res, 200, buildSandboxDecision(session));
  }

  private deleteSession(res: http.ServerResponse, id: string): void {
    const session = this.byId.get(id);
    if (session === undefined) throw new HttpError(404, NOT_FOUND);
    this.byId.delete(id);
    this.byToken.delete(session.sessionToken);
    res.writeHead(204);
    res.end();
  }

  private async updateStatus(req: http.IncomingMessage, res: http.ServerResponse, id: string): Promise<void> {
    const body = await this.readJsonObject(req);
    const session = this.byId.get(id);
    if (session === undefined) throw new HttpError(404, NOT_FOUND);
    const errors: Record<string, string[]> = {};
    const newStatus = body.new_status;
    if (newStatus === undefined || newStatus === null) errors.new_status = ['This field is required.'];
    else if (typeof newStatus !== 'string' || !(UPDATABLE_TO as readonly string[]).includes(newStatus)) {
      errors.new_status = [`"${String(newStatus)}" is not a valid choice.`];
    }
    const comment = body.comment;
    if (comment !== undefined && comment !== null && typeof comment !== 'string') errors.comment = ['Not a valid string.'];
    const sendEmail = body.send_email;
    if (sendEmail !== undefined && typeof sendEmail !== 'boolean') errors.send_email = ['Must be a valid boolean.'];
    if (sendEmail === true && (typeof body.email_address !== 'string' || !body.email_address.includes('@'))) {
      errors.email_address = ['This field is required when send_email is true.'];
    }
    const nodes = body.nodes_to_resubmit;
    if (nodes !== undefined && nodes !== null) {
      if (!Array.isArray(nodes) || !nodes.every((n) => typeof n === 'string')) errors.nodes_to_resubmit = ['Expected a list of items.'];
      else if (newStatus !== 'Resubmitted') errors.nodes_to_resubmit = ['Only allowed when new_status is Resubmitted.'];
    }
    if (Object.keys(errors).length > 0) throw new HttpError(400, errors);
    const target = newStatus as (typeof UPDATABLE_TO)[number];
    if (!UPDATABLE_FROM.has(session.status)) {
      throw new HttpError(400, { detail: `Cannot update the status of a session in status "${session.status}".` });
    }
    if (session.status === target) throw new HttpError(400, { detail: `The session is already "${target}".` });

    if (target === 'Resubmitted') {
      const chosen = Array.isArray(nodes) && nodes.length > 0 ? (nodes as string[]) : [...SANDBOX_NODES];
      const reason = typeof comment === 'string' && comment !== '' ? comment : 'Please repeat this step.';
      session.status = 'Resubmitted';
      session.clearedNodes = [...new Set([...session.clearedNodes, ...chosen])];
      session.resubmitInfo = { nodes_to_resubmit: chosen, reasons: Object.fromEntries(chosen.map((n) => [n, reason])) };
    } else {
      session.status = target;
      delete session.resubmitInfo;
    }
    void this.emit(session);
    sendJson(res, 200, { session_id: session.sessionId, session_kind: 'user' });
  }

  // ---------------------------------------------------------------- hosted page

  private async openPage(res: http.ServerResponse, token: string): Promise<void> {
    const session = this.byToken.get(token);
    if (session === undefined) {
      sendHtml(res, 404, renderMessagePage('Verification not found', 'This verification link is not valid.'));
      return;
    }
    if (session.status === 'Not Started' || session.status === 'Resubmitted') {
      session.status = 'In Progress';
      void this.emit(session);
    }
    if (session.status === 'In Progress') {
      sendHtml(res, 200, renderSessionPage(session));
      return;
    }
    if (session.status === 'Expired') {
      sendHtml(res, 410, renderMessagePage('Verification expired', 'This verification link has expired. Please start again.'));
      return;
    }
    sendHtml(res, 200, renderMessagePage('Verification finished', `This verification is finished (status: ${session.status}). You can close this window.`));
  }

  private async submitPage(req: http.IncomingMessage, res: http.ServerResponse, token: string): Promise<void> {
    let raw: Buffer;
    try {
      raw = await readBody(req, MAX_FORM_BYTES);
    } catch {
      sendHtml(res, 413, renderMessagePage('Request too large', 'The form data is too large.'), { connection: 'close' });
      return;
    }
    const session = this.byToken.get(token);
    if (session === undefined) {
      sendHtml(res, 404, renderMessagePage('Verification not found', 'This verification link is not valid.'));
      return;
    }
    const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
    if (type !== 'application/x-www-form-urlencoded') {
      sendHtml(res, 415, renderMessagePage('Unsupported form', 'Submit the verification form from its page.'));
      return;
    }
    const form = new URLSearchParams(raw.toString('utf8'));
    const statusByButton: Record<string, SessionStatus> = { approve: 'Approved', decline: 'Declined', review: 'In Review' };
    const status = statusByButton[form.get('decision') ?? ''];
    const scenario = parseScenario(form);
    if (status === undefined || typeof scenario === 'string') {
      sendHtml(res, 400, renderMessagePage('Invalid choice', typeof scenario === 'string' ? scenario : 'Choose Approve, Decline or Send to review.'));
      return;
    }
    if (!UNFINISHED.has(session.status) || session.status === 'Awaiting User') {
      sendHtml(res, 409, renderMessagePage('Verification finished', `This verification is already finished (status: ${session.status}).`));
      return;
    }
    if (session.status !== 'In Progress') {
      session.status = 'In Progress';
      void this.emit(session);
    }
    this.applyStatus(session, status, scenario);
    void this.emit(session);
    this.log.info({ sessionId: session.sessionId, status }, 'sandbox session decided on the hosted page');
    if (session.callback === null) {
      sendHtml(res, 200, renderMessagePage('Verification finished', `Result: ${status}. You can close this window.`));
      return;
    }
    res.writeHead(302, { location: callbackUrl(session.callback, session.sessionId, status), 'cache-control': 'no-store', 'content-length': '0' });
    res.end();
  }
}

function snapshot(s: MutableSession): SandboxSession {
  const { chain: _chain, ...rest } = s;
  return structuredClone(rest);
}

/** Appends `verificationSessionId` and `status` to the callback, keeping its query and fragment as they are. */
export function callbackUrl(callback: string, sessionId: string, status: SessionStatus): string {
  const hash = callback.indexOf('#');
  const base = hash < 0 ? callback : callback.slice(0, hash);
  const fragment = hash < 0 ? '' : callback.slice(hash);
  const sep = !base.includes('?') ? '?' : base.endsWith('?') || base.endsWith('&') ? '' : '&';
  return `${base}${sep}verificationSessionId=${encodeURIComponent(sessionId)}&status=${encodeURIComponent(status)}${fragment}`;
}

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

function isHttpUrl(value: string): boolean {
  try {
    const u = new URL(value);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
  } catch {
    return false;
  }
}

function rateHeaders(state: ScopeState): Record<string, string> {
  return {
    'x-ratelimit-limit': String(state.limit),
    'x-ratelimit-remaining': String(state.remaining),
    'x-ratelimit-reset': String(Math.ceil(state.resetAt / 1000)),
  };
}

function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) });
  res.end(text);
}

function sendHtml(res: http.ServerResponse, status: number, html: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, {
    ...headers,
    'content-type': 'text/html; charset=utf-8',
    'content-length': String(Buffer.byteLength(html)),
    'cache-control': 'no-store',
    // No form-action: Chrome applies it to the redirect after the form post, which goes to the callback's origin.
    'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'",
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
  });
  res.end(html);
}

function drain(req: http.IncomingMessage): void {
  req.resume();
}

function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      req.resume();
      reject(new HttpError(413, { detail: 'Request body too large.' }));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        reject(new HttpError(413, { detail: 'Request body too large.' }));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
