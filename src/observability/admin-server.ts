import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, OutgoingHttpHeaders, Server, ServerResponse } from 'node:http';
import { createHttpServer } from '../http/create-http-server.js';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { applyServerHardening, hardenedServerOptions } from '../http/apply-server-hardening.js';
import { closeServer, listenServer } from '../http/server-lifecycle.js';
import { HttpBodyError, readBody } from '../http/read-body.js';
import { sendJson } from '../http/send-json.js';
import { sendProblem } from '../http/send-problem.js';
import { MIN_ADMIN_TOKEN_LENGTH } from '../config/config-schema.js';

/** One named readiness check. `detail` is shown to operators: no secrets. */
export interface ReadinessCheck {
  readonly ok: boolean;
  readonly detail?: string;
}

/** What the readiness callback reports; `/readyz` answers 200 only when `ready` is true. */
export interface ReadinessReport {
  readonly ready: boolean;
  readonly checks: Readonly<Record<string, ReadinessCheck>>;
}

/** An admin API handler's answer, sent as JSON. */
export interface AdminRouteResult {
  readonly status: number;
  readonly json?: unknown;
  readonly headers?: OutgoingHttpHeaders;
}

/** HTTP methods an admin route may use. */
export type AdminMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/**
 * A token-protected admin API route. `path` is exact (`/admin/reload`) or has `:name` segments
 * (`/admin/verdicts/:subject/:workflow`) whose percent-decoded values arrive in `params`.
 * A thrown error becomes a 500 problem (logged, never echoed).
 */
export interface AdminRoute {
  readonly method: AdminMethod;
  readonly path: string;
  handler(
    req: IncomingMessage,
    body: Buffer,
    params: Readonly<Record<string, string>>,
  ): AdminRouteResult | Promise<AdminRouteResult>;
}

/** Server limits; every field has a default (see {@link DEFAULT_ADMIN_LIMITS}). */
export interface AdminServerLimits {
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly maxHeaderSize: number;
  readonly maxBodyBytes: number;
  readonly bodyTimeoutMs: number;
  /** Longest wait for the readiness callback before answering 503. */
  readonly readinessTimeoutMs: number;
  /** How long `close()` lets in-flight requests finish before cutting connections. */
  readonly closeGraceMs: number;
}

/** Defaults: 10 s headers, 30 s request, 5 s keep-alive, 16 KiB headers, 64 KiB body, 2 s readiness. */
export const DEFAULT_ADMIN_LIMITS: AdminServerLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  maxHeaderSize: 16 * 1024,
  maxBodyBytes: 64 * 1024,
  bodyTimeoutMs: 10_000,
  readinessTimeoutMs: 2_000,
  closeGraceMs: 5_000,
};

/** Shortest admin token accepted (checked by the config schema too, so `idgate validate` reports it). */
export { MIN_ADMIN_TOKEN_LENGTH };

/** Dependencies and options of {@link createAdminServer}. */
export interface CreateAdminServerOptions {
  readonly logger: Logger;
  /** Where `/metrics` text comes from (a prom-client Registry, or a cluster aggregator). */
  readonly registry: Pick<Registry, 'metrics' | 'contentType'>;
  readonly readiness: () => ReadinessReport | Promise<ReadinessReport>;
  /** Bearer token for the admin API; without it every admin route answers 404. */
  readonly adminToken?: string;
  readonly routes?: readonly AdminRoute[];
  readonly limits?: Partial<AdminServerLimits>;
}

interface CompiledRoute {
  readonly route: AdminRoute;
  /** Literal segment, or `null` for a `:param` at that position. */
  readonly segments: readonly (string | null)[];
  readonly paramNames: readonly (string | undefined)[];
}

const BUILT_IN_PATHS = new Set(['/metrics', '/healthz', '/readyz']);
const ADMIN_METHODS = new Set<string>(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']);

function compileRoute(route: AdminRoute): CompiledRoute {
  if (!ADMIN_METHODS.has(route.method)) throw new TypeError(`admin route ${route.path}: unsupported method ${route.method}`);
  if (!route.path.startsWith('/') || route.path.length < 2 || route.path.endsWith('/') || route.path.includes('//')) {
    throw new TypeError(`admin route path must look like /a/b or /a/:param, got ${JSON.stringify(route.path)}`);
  }
  if (BUILT_IN_PATHS.has(route.path)) throw new TypeError(`admin route ${route.path} collides with a built-in endpoint`);
  const parts = route.path.slice(1).split('/');
  const seen = new Set<string>();
  const paramNames = parts.map((part) => {
    if (!part.startsWith(':')) return undefined;
    const name = part.slice(1);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) || seen.has(name)) {
      throw new TypeError(`admin route ${route.path}: bad or duplicate parameter ${JSON.stringify(part)}`);
    }
    seen.add(name);
    return name;
  });
  return { route, segments: parts.map((part) => (part.startsWith(':') ? null : part)), paramNames };
}

/** Matches raw (still percent-encoded) path segments; undefined = no match, null = undecodable param. */
function matchRoute(compiled: CompiledRoute, parts: readonly string[]): Record<string, string> | undefined | null {
  if (parts.length !== compiled.segments.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] as string;
    const literal = compiled.segments[i];
    if (literal === null) {
      if (part.length === 0) return undefined;
      try {
        params[compiled.paramNames[i] as string] = decodeURIComponent(part);
      } catch {
        return null;
      }
    } else if (literal !== part) {
      return undefined;
    }
  }
  return params;
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * The admin HTTP listener (default port 9090): `/metrics` (Prometheus text), `/healthz` (liveness:
 * 200 while the process runs), `/readyz` (readiness: 200/503 with the checks; 503 once draining), and
 * token-protected admin API routes. Everything else is a 404/405 problem document.
 *
 * Admin API authentication: `Authorization: Bearer <token>`, compared as SHA-256 digests with
 * `timingSafeEqual` so neither content nor length leaks through timing. Missing or wrong → 401.
 */
export class AdminServer {
  private readonly server: Server;
  private readonly logger: Logger;
  private readonly registry: Pick<Registry, 'metrics' | 'contentType'>;
  private readonly readiness: CreateAdminServerOptions['readiness'];
  private readonly tokenDigest: Buffer | undefined;
  private readonly routes: readonly CompiledRoute[];
  private readonly limits: AdminServerLimits;
  private isDraining = false;
  private listening = false;

  /** Use {@link createAdminServer}. */
  constructor(options: CreateAdminServerOptions) {
    this.logger = options.logger.child({ component: 'admin' });
    this.registry = options.registry;
    this.readiness = options.readiness;
    this.limits = { ...DEFAULT_ADMIN_LIMITS, ...options.limits };
    if (options.adminToken !== undefined && options.adminToken.length < MIN_ADMIN_TOKEN_LENGTH) {
      throw new TypeError(`admin token must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters`);
    }
    this.tokenDigest = options.adminToken === undefined ? undefined : digest(options.adminToken);
    this.routes = (options.routes ?? []).map(compileRoute);
    const keys = new Set<string>();
    for (const { route } of this.routes) {
      const key = `${route.method} ${route.path}`;
      if (keys.has(key)) throw new TypeError(`duplicate admin route ${key}`);
      keys.add(key);
    }
    for (const name of ['maxBodyBytes', 'bodyTimeoutMs', 'readinessTimeoutMs', 'closeGraceMs'] as const) {
      const value = this.limits[name];
      if (!Number.isSafeInteger(value) || value <= 0) throw new TypeError(`${name} must be a positive integer, got ${String(value)}`);
    }

    this.server = createHttpServer(
      hardenedServerOptions({
        maxHeaderSize: this.limits.maxHeaderSize,
        connectionsCheckingIntervalMs: Math.min(1_000, this.limits.headersTimeoutMs),
      }),
      (req, res) => {
        this.handle(req, res).catch((error: unknown) => {
          this.logger.error({ err: error }, 'admin request failed');
          sendProblem(res, { status: 500, code: 'internal_error', title: 'Internal error' });
        });
      },
    );
    applyServerHardening(this.server, this.limits);
  }

  /** True after `setDraining(true)`: `/readyz` answers 503 so load balancers stop sending traffic. */
  get draining(): boolean {
    return this.isDraining;
  }

  /** Marks the process as draining (shutdown started) or not. */
  setDraining(draining: boolean): void {
    this.isDraining = draining;
  }

  /**
   * Starts listening. @returns the bound port (useful with port 0).
   * @throws Error if already listening, or the listen error (e.g. `EADDRINUSE`).
   */
  listen(host: string, port: number): Promise<number> {
    if (this.listening) return Promise.reject(new Error('admin server is already listening'));
    this.listening = true;
    return listenServer(this.server, host, port).then(
      (bound) => {
        this.logger.info({ host, port: bound }, 'admin server listening');
        return bound;
      },
      (error: unknown) => {
        this.listening = false;
        throw error;
      },
    );
  }

  /**
   * Stops accepting connections, lets in-flight requests finish for `closeGraceMs`, then cuts the rest.
   * Marks the server draining first. Resolves once the listener is closed; safe to call twice.
   */
  async close(): Promise<void> {
    this.isDraining = true;
    await closeServer(this.server, this.limits.closeGraceMs);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '';
    const query = url.indexOf('?');
    const path = query < 0 ? url : url.slice(0, query);
    const method = req.method ?? '';

    if (BUILT_IN_PATHS.has(path)) {
      if (method !== 'GET' && method !== 'HEAD') {
        sendProblem(res, {
          status: 405,
          code: 'method_not_allowed',
          title: 'Method not allowed',
          headers: { allow: 'GET, HEAD' },
        });
        return;
      }
      switch (path) {
        case '/healthz':
          sendJson(res, 200, { status: 'ok' });
          return;
        case '/readyz':
          await this.handleReadiness(res);
          return;
        default:
          await this.handleMetrics(res);
          return;
      }
    }
    await this.handleAdminRoute(req, res, method, path);
  }

  private async handleMetrics(res: ServerResponse): Promise<void> {
    const text = await this.registry.metrics();
    res.statusCode = 200;
    res.setHeader('content-type', this.registry.contentType);
    res.setHeader('cache-control', 'no-store');
    res.setHeader('content-length', Buffer.byteLength(text));
    res.end(text);
  }

  private async handleReadiness(res: ServerResponse): Promise<void> {
    if (this.isDraining) {
      sendJson(res, 503, { status: 'draining', checks: { draining: { ok: false, detail: 'shutting down' } } });
      return;
    }
    let report: ReadinessReport;
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('readiness check timed out')), this.limits.readinessTimeoutMs);
      });
      report = await Promise.race([Promise.resolve().then(() => this.readiness()), timeout]);
    } catch (error) {
      this.logger.error({ err: error }, 'readiness check failed');
      sendJson(res, 503, { status: 'not_ready', checks: { readiness: { ok: false, detail: 'readiness check failed' } } });
      return;
    } finally {
      clearTimeout(timer);
    }
    // A malformed report counts as not ready; draining may have started while the checks ran.
    const valid = typeof report === 'object' && report !== null;
    const ready = valid && report.ready === true && !this.isDraining;
    const checks = valid && typeof report.checks === 'object' && report.checks !== null ? report.checks : {};
    sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'not_ready', checks });
  }

  private async handleAdminRoute(req: IncomingMessage, res: ServerResponse, method: string, path: string): Promise<void> {
    const notFound = (): void => sendProblem(res, { status: 404, code: 'not_found', title: 'Not found' });
    if (this.tokenDigest === undefined || this.routes.length === 0 || !path.startsWith('/')) {
      notFound();
      return;
    }
    const parts = path.slice(1).split('/');
    const candidates: { compiled: CompiledRoute; params: Record<string, string> | null }[] = [];
    for (const compiled of this.routes) {
      const params = matchRoute(compiled, parts);
      if (params !== undefined) candidates.push({ compiled, params });
    }
    if (candidates.length === 0) {
      notFound();
      return;
    }
    if (!this.authorized(req)) {
      this.logger.warn({ method, route: candidates[0]?.compiled.route.path, remoteAddress: req.socket.remoteAddress }, 'admin authentication failed');
      sendProblem(res, {
        status: 401,
        code: 'unauthorized',
        title: 'Unauthorized',
        detail: 'A valid admin bearer token is required.',
        headers: { 'www-authenticate': 'Bearer realm="idgate-admin"' },
      });
      return;
    }
    const match = candidates.find((candidate) => candidate.compiled.route.method === method);
    if (match === undefined) {
      const allow = [...new Set(candidates.map((candidate) => candidate.compiled.route.method))].join(', ');
      sendProblem(res, { status: 405, code: 'method_not_allowed', title: 'Method not allowed', headers: { allow } });
      return;
    }
    if (match.params === null) {
      sendProblem(res, { status: 400, code: 'path_invalid', title: 'Bad request', detail: 'A path parameter is not valid percent-encoding.' });
      return;
    }

    let body: Buffer;
    try {
      body = await readBody(req, { limitBytes: this.limits.maxBodyBytes, timeoutMs: this.limits.bodyTimeoutMs });
    } catch (error) {
      if (!(error instanceof HttpBodyError)) throw error;
      if (error.code === 'aborted') {
        res.destroy();
        return;
      }
      sendProblem(res, {
        status: error.status,
        code: error.code === 'too_large' ? 'body_too_large' : 'body_timeout',
        title: error.code === 'too_large' ? 'Payload too large' : 'Request timeout',
        detail: error.message,
        // The unread rest of the body must not be parsed as a next request on this connection.
        headers: { connection: 'close' },
      });
      return;
    }

    const route = match.compiled.route;
    let result: AdminRouteResult;
    try {
      result = await route.handler(req, body, match.params);
    } catch (error) {
      this.logger.error({ err: error, method, route: route.path }, 'admin route failed');
      sendProblem(res, { status: 500, code: 'internal_error', title: 'Internal error' });
      return;
    }
    this.logger.info({ method, route: route.path, status: result.status }, 'admin request');
    if (result.json === undefined) {
      res.statusCode = result.status;
      res.setHeader('cache-control', 'no-store');
      for (const [name, value] of Object.entries(result.headers ?? {})) if (value !== undefined) res.setHeader(name, value);
      res.end();
      return;
    }
    sendJson(res, result.status, result.json, result.headers);
  }

  private authorized(req: IncomingMessage): boolean {
    const expected = this.tokenDigest;
    if (expected === undefined) return false;
    const header = req.headers.authorization;
    if (header === undefined) return false;
    const match = /^Bearer +([^\s]+) *$/i.exec(header);
    if (match === null) return false;
    return timingSafeEqual(digest(match[1] as string), expected);
  }
}

/**
 * Creates the admin server (not listening yet; call `listen`).
 *
 * @throws TypeError for an admin token shorter than {@link MIN_ADMIN_TOKEN_LENGTH}, an invalid or
 *   duplicate route, or an invalid limit.
 */
export function createAdminServer(options: CreateAdminServerOptions): AdminServer {
  return new AdminServer(options);
}
