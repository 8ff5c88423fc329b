import { randomUUID } from 'node:crypto';
import * as http from 'node:http';
import { listenServer } from '../http/server-lifecycle.js';
import type { Logger } from 'pino';
import type { SessionStatus } from '../core/verdict.js';
import type { SandboxScenario } from './build-sandbox-decision.js';
import { buildStatusWebhook } from './build-status-webhook.js';
import { HostedPage } from './hosted-page.js';
import { SandboxApi, type SandboxRateLimits } from './sandbox-api.js';
import type { SandboxContext } from './sandbox-context.js';
import { SandboxFaults, type SandboxApiFault } from './sandbox-faults.js';
import { setSessionStatus, type SandboxSession } from './sandbox-session.js';
import { sendDiditJson } from './send-didit-json.js';
import { SessionRegistry } from './session-registry.js';
import { WebhookDispatcher, type SandboxDelivery } from './webhook-dispatcher.js';

export { callbackUrl } from './hosted-page.js';
export type { SandboxRateLimits } from './sandbox-api.js';
export type { SandboxApiFault } from './sandbox-faults.js';
export type { SandboxSession } from './sandbox-session.js';

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
 *
 * This class only composes the parts: `sandbox-api.ts` (the API routes), `hosted-page.ts` (the page
 * routes), `sandbox-session.ts` (the pure session state machine), `session-registry.ts` (the sessions in
 * memory), `sandbox-faults.ts` (injected faults and delays), `render-session-page.ts` (the HTML) and
 * `webhook-dispatcher.ts` (signed deliveries and retries).
 */
export class DiditSandbox {
  private readonly log: Logger;
  private readonly server: http.Server;
  private readonly clock: () => number;
  private readonly registry: SessionRegistry;
  private readonly faults = new SandboxFaults();
  private readonly api: SandboxApi;
  private readonly page: HostedPage;
  private readonly dispatcher: WebhookDispatcher;
  private readonly deliveryLog: SandboxDelivery[] = [];
  private readonly waiters = new Set<() => void>();
  private readonly applicationId = randomUUID();
  private webhookUrl: string | undefined;
  private baseUrl: string | undefined;

  /** Use {@link createDiditSandbox}. */
  constructor(private readonly options: DiditSandboxOptions) {
    this.log = options.logger.child({ component: 'didit-sandbox' });
    this.clock = options.clock ?? Date.now;
    if (options.createDelayMs !== undefined) this.setCreateDelay(options.createDelayMs);
    this.webhookUrl = options.webhookUrl;
    this.registry = new SessionRegistry(options.workflows);
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
    const ctx: SandboxContext = {
      log: this.log,
      clock: this.clock,
      sessions: this.registry,
      baseUrl: () => this.url,
      notify: (session) => this.notify(session),
    };
    this.api = new SandboxApi(ctx, {
      apiKey: options.apiKey,
      limits: { create: 600, decision: 100, genericGet: 600, genericWrite: 300, ...options.rateLimits },
      faults: this.faults,
      maxBodyBytes: options.maxBodyBytes ?? 2 * 1024 * 1024,
    });
    this.page = new HostedPage(ctx);
    this.server = http.createServer({ requestTimeout: 30_000, headersTimeout: 10_000, maxHeaderSize: 16 * 1024 }, (req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        this.log.error({ err }, 'sandbox request failed');
        // sendJson destroys a response that already started.
        sendDiditJson(res, 500, { detail: 'Internal server error.' });
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
    this.faults.close();
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  /** Snapshots of every session, oldest first. */
  sessions(): SandboxSession[] {
    return this.registry.all().map((s) => structuredClone(s));
  }

  /** How many API requests (under `/v3/`) arrived so far, faulted ones included: attempts as Didit counts them. */
  apiRequests(): number {
    return this.api.requestCount;
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
    this.faults.setCreateDelay(ms);
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
    this.faults.inject(fault);
  }

  /** Publishes a new version of a workflow: open sessions on the old version are no longer reused. @returns the new version. */
  publishWorkflow(workflowId: string): number {
    return this.registry.publishWorkflow(workflowId);
  }

  /** Clears all rate-limit counters. */
  resetRateLimits(): void {
    this.api.resetRateLimits();
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
    const session = this.registry.get(sessionId);
    if (session === undefined) throw new Error(`unknown sandbox session ${sessionId}`);
    const next = setSessionStatus(session, status, scenario, this.clock());
    this.registry.put(next);
    return this.notify(next);
  }

  /** Queues the `status.updated` webhook for this state of the session, after the session's earlier ones. */
  private notify(session: SandboxSession): Promise<SandboxDelivery | undefined> {
    const url = this.webhookUrl;
    if (url === undefined) return Promise.resolve(undefined);
    const payload = buildStatusWebhook(session, this.applicationId);
    return this.registry.enqueue(session.sessionId, () => this.dispatcher.dispatch(url, payload));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sandbox.invalid');
    const path = url.pathname;
    if (path === '/v3' || path.startsWith('/v3/')) {
      await this.api.handle(req, res, url);
      return;
    }
    if (path === '/system/healthcheck' || path === '/system/healthcheck/') {
      sendDiditJson(res, 200, { status: 'ok' });
      return;
    }
    await this.page.handle(req, res, path);
  }
}
