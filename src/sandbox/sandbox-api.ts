import { randomUUID, timingSafeEqual } from 'node:crypto';
import type * as http from 'node:http';
import { HttpBodyError, readBody } from '../http/read-body.js';
import { buildSandboxDecision } from './build-sandbox-decision.js';
import { playApiFault, type SandboxFaults } from './sandbox-faults.js';
import { reuseSession, startSession, updateSessionStatus, type SandboxSession } from './sandbox-session.js';
import type { SandboxContext } from './sandbox-context.js';
import { sendDiditJson } from './send-didit-json.js';
import { SlidingWindowLimiter, type ScopeState } from './sliding-window-limiter.js';
import { validateCreateRequest, validateUpdateRequest } from './validate-session-request.js';

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

/** What {@link SandboxApi} needs beside the shared sandbox context. */
export interface SandboxApiOptions {
  /** The one API key accepted in `x-api-key`. */
  readonly apiKey: string;
  readonly limits: SandboxRateLimits;
  readonly faults: SandboxFaults;
  /** Largest request body, bytes. */
  readonly maxBodyBytes: number;
}

const NO_PERMISSION = { detail: 'You do not have permission to perform this action.' };
const NOT_FOUND = { detail: 'Not found.' };
const WINDOW_MS = 60_000;
/** As the server's request timeout: a body that has not arrived by then never will. */
const BODY_TIMEOUT_MS = 30_000;

/** An answer in Didit's words, thrown by a route and written by {@link SandboxApi.handle}. */
class ApiError extends Error {
  constructor(readonly status: number, readonly body: unknown) {
    super(`HTTP ${status}`);
  }
}

type Route = { allow: string; scopes: { scope: string; limit: number }[]; run: () => Promise<void> };

/**
 * The v3 session API (every path under `/v3/`), in the order Didit checks a request: injected fault,
 * trailing slash (301, as Django's APPEND_SLASH), route (404), `x-api-key` (403), method (405), rate
 * limits (429 with `X-RateLimit-*` and `Retry-After`), then the endpoint.
 */
export class SandboxApi {
  private readonly limiter = new SlidingWindowLimiter(WINDOW_MS);
  private requests = 0;

  constructor(
    private readonly ctx: SandboxContext,
    private readonly options: SandboxApiOptions,
  ) {}

  /** How many API requests arrived so far, faulted ones included. */
  get requestCount(): number {
    return this.requests;
  }

  /** Clears all rate-limit counters. */
  resetRateLimits(): void {
    this.limiter.reset();
  }

  async handle(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    this.requests += 1;
    const fault = this.options.faults.take();
    if (fault !== undefined && (await playApiFault(fault, this.options.faults, req, res, this.options.limits.create, this.ctx.clock))) return;

    const path = url.pathname;
    if (!path.endsWith('/')) {
      res.writeHead(301, { location: path + '/' + url.search, 'content-length': '0' });
      res.end();
      return;
    }
    const route = this.route(req, res, path);
    if (route === undefined) {
      sendDiditJson(res, 404, NOT_FOUND);
      return;
    }
    if (!this.authorised(req)) {
      req.resume();
      sendDiditJson(res, 403, NO_PERMISSION);
      return;
    }
    const method = req.method ?? 'GET';
    if (method !== route.allow) {
      req.resume();
      sendDiditJson(res, 405, { detail: `Method "${method}" not allowed.` }, { allow: route.allow });
      return;
    }
    const clock = this.ctx.clock;
    const taken = this.limiter.take(this.options.apiKey, route.scopes, clock());
    if (!taken.allowed) {
      req.resume();
      const state = taken.refused;
      const retryAfter = Math.max(1, Math.ceil((state.resetAt - clock()) / 1000));
      sendDiditJson(res, 429, { detail: `Request was throttled. Expected available in ${retryAfter} seconds.` }, {
        ...rateHeaders(state),
        'retry-after': String(retryAfter),
      });
      return;
    }
    for (const [name, value] of Object.entries(rateHeaders(taken.tightest))) res.setHeader(name, value);
    try {
      await route.run();
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      sendDiditJson(res, err.status, err.body, err.status === 413 || err.status === 408 ? { connection: 'close' } : {});
    }
  }

  private route(req: http.IncomingMessage, res: http.ServerResponse, path: string): Route | undefined {
    if (path === '/v3/session/') {
      return {
        allow: 'POST',
        scopes: this.scopes('create', 'POST'),
        run: async () => {
          const delay = this.options.faults.createDelayMs;
          if (delay > 0) {
            await this.options.faults.pause(delay);
            if (res.destroyed) return;
          }
          await this.createSession(req, res);
        },
      };
    }
    let m: RegExpExecArray | null;
    if ((m = /^\/v3\/session\/([^/]+)\/decision\/$/.exec(path)) !== null) {
      const id = m[1] as string;
      return { allow: 'GET', scopes: this.scopes('decision', 'GET'), run: async () => this.getDecision(res, id) };
    }
    if ((m = /^\/v3\/session\/([^/]+)\/update-status\/$/.exec(path)) !== null) {
      const id = m[1] as string;
      return { allow: 'PATCH', scopes: this.scopes(undefined, 'PATCH'), run: () => this.updateStatus(req, res, id) };
    }
    if ((m = /^\/v3\/session\/([^/]+)\/delete\/$/.exec(path)) !== null) {
      const id = m[1] as string;
      return { allow: 'DELETE', scopes: this.scopes(undefined, 'DELETE'), run: async () => this.deleteSession(res, id) };
    }
    return undefined;
  }

  private scopes(endpoint: 'create' | 'decision' | undefined, method: string): { scope: string; limit: number }[] {
    const limits = this.options.limits;
    const scopes: { scope: string; limit: number }[] = [];
    if (endpoint === 'create') scopes.push({ scope: 'session-v2-create', limit: limits.create });
    if (endpoint === 'decision') scopes.push({ scope: 'session-decision', limit: limits.decision });
    if (method === 'GET') scopes.push({ scope: 'generic-get', limit: limits.genericGet });
    else scopes.push({ scope: 'generic-write', limit: limits.genericWrite });
    return scopes;
  }

  private authorised(req: http.IncomingMessage): boolean {
    const given = req.headers['x-api-key'];
    if (typeof given !== 'string') return false;
    const a = Buffer.from(given, 'utf8');
    const b = Buffer.from(this.options.apiKey, 'utf8');
    return a.length === b.length && timingSafeEqual(a, b);
  }

  /** Reads the whole body first, then checks its type: Django answers 415 only after reading. */
  private async readJsonObject(req: http.IncomingMessage): Promise<Record<string, unknown>> {
    const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
    let raw: Buffer;
    try {
      raw = await readBody(req, { limitBytes: this.options.maxBodyBytes, timeoutMs: BODY_TIMEOUT_MS });
    } catch (err) {
      if (!(err instanceof HttpBodyError) || err.code === 'aborted') throw err;
      throw new ApiError(err.status, { detail: err.code === 'too_large' ? 'Request body too large.' : 'Request timeout.' });
    }
    if (type !== 'application/json') {
      throw new ApiError(415, { detail: `Unsupported media type "${type}" in request.` });
    }
    let json: unknown;
    try {
      json = JSON.parse(raw.toString('utf8'));
    } catch (err) {
      throw new ApiError(400, { detail: `JSON parse error - ${(err as Error).message}` });
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) {
      throw new ApiError(400, { non_field_errors: [`Invalid data. Expected a dictionary, but got ${Array.isArray(json) ? 'list' : typeof json}.`] });
    }
    return json as Record<string, unknown>;
  }

  private async createSession(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const checked = validateCreateRequest(await this.readJsonObject(req));
    if (!checked.ok) throw new ApiError(400, checked.errors);
    const request = checked.request;
    const sessions = this.ctx.sessions;
    const version = sessions.workflowVersion(request.workflowId);
    if (version === undefined) throw new ApiError(404, { detail: 'Workflow not found.' });

    if (request.vendorData !== undefined && request.vendorData !== '') {
      const open = sessions.findReusable(request.vendorData, request.workflowId, version);
      if (open !== undefined) {
        const reused = reuseSession(open, request.callback, request.metadata);
        sessions.put(reused);
        this.ctx.log.info({ sessionId: reused.sessionId }, 'sandbox session reused (vendor_data idempotency)');
        sendDiditJson(res, 201, createdBody(reused));
        return;
      }
    }

    const sessionToken = sessions.newToken();
    const session = startSession(
      {
        ...request,
        sessionId: randomUUID(),
        sessionNumber: sessions.takeNumber(),
        sessionToken,
        url: `${this.ctx.baseUrl()}/session/${sessionToken}`,
        workflowVersion: version,
      },
      this.ctx.clock(),
    );
    sessions.put(session);
    this.ctx.log.info({ sessionId: session.sessionId }, 'sandbox session created');
    sendDiditJson(res, 201, createdBody(session));
  }

  private getDecision(res: http.ServerResponse, id: string): void {
    const session = this.ctx.sessions.get(id);
    if (session === undefined) throw new ApiError(404, NOT_FOUND);
    sendDiditJson(res, 200, buildSandboxDecision(session));
  }

  private deleteSession(res: http.ServerResponse, id: string): void {
    if (!this.ctx.sessions.delete(id)) throw new ApiError(404, NOT_FOUND);
    res.writeHead(204);
    res.end();
  }

  private async updateStatus(req: http.IncomingMessage, res: http.ServerResponse, id: string): Promise<void> {
    const body = await this.readJsonObject(req);
    const session = this.ctx.sessions.get(id);
    if (session === undefined) throw new ApiError(404, NOT_FOUND);
    const checked = validateUpdateRequest(body);
    if (!checked.ok) throw new ApiError(400, checked.errors);
    const { target, ...details } = checked.request;
    const moved = updateSessionStatus(session, target, details);
    if (!moved.ok) throw new ApiError(400, { detail: moved.detail });
    this.ctx.sessions.put(moved.session);
    for (const step of moved.steps) void this.ctx.notify(step);
    sendDiditJson(res, 200, { session_id: moved.session.sessionId, session_kind: 'user' });
  }
}

/** The 201 body of a session creation (new or reused). */
function createdBody(s: SandboxSession): Record<string, unknown> {
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

function rateHeaders(state: ScopeState): Record<string, string> {
  return {
    'x-ratelimit-limit': String(state.limit),
    'x-ratelimit-remaining': String(state.remaining),
    'x-ratelimit-reset': String(Math.ceil(state.resetAt / 1000)),
  };
}
