import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Decision } from '../core/decision.js';
import type { Decider } from '../core/decider.js';
import type { RequestContext } from '../core/request-context.js';
import { compileRenderOptions, renderDecision, type CompiledRenderOptions, type RenderOptions, type RenderedVerdict } from '../core/render-decision.js';
import { toRequestContext, type CheckRequestMessage } from '../extauthz/to-request-context.js';
import { applyServerHardening, hardenedServerOptions } from '../http/apply-server-hardening.js';
import type { CidrSet } from '../net/create-cidr-set.js';
import { resolveClientAddress } from '../net/resolve-client-address.js';

export interface HttpAuthzServerOptions {
  /** Envoy `http_service.path_prefix` that is stripped from the path (default `/check`). */
  readonly pathPrefix: string;
  /** Proxies whose `x-forwarded-*` / `x-original-*` headers are believed. */
  readonly trustedProxies: CidrSet;
  readonly render?: RenderOptions;
  /** Decision budget per request, ms (default 250). */
  readonly decisionTimeoutMs?: number;
  readonly maxHeaderBytes?: number;
}

/** Headers a forward-auth proxy (nginx, Traefik) uses to describe the original request. */
const FORWARD_HEADERS = ['x-original-uri', 'x-forwarded-uri', 'x-forwarded-method', 'x-original-method', 'x-forwarded-host'];

/** Hop-by-hop and framing headers that must not be treated as request attributes. */
const SKIP_HEADERS = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'content-length', 'te', 'trailer']);

/**
 * The HTTP authorization mode: the same engine behind Envoy's `http_service`, nginx `auth_request` and
 * Traefik ForwardAuth.
 *
 * - Envoy `http_service`: the original method, `path_prefix` + path and host arrive as the request itself.
 *   Allow is **200** (Envoy treats any other 2xx as a denial) with the identity headers in the response
 *   (configure `allowed_upstream_headers`) and `x-envoy-auth-headers-to-remove` listing what to strip.
 * - nginx / Traefik: the original request is described by `X-Original-URI` / `X-Forwarded-Uri`,
 *   `X-Forwarded-Method`, `X-Forwarded-Host`, `X-Forwarded-Proto` — believed **only** from a trusted proxy
 *   address; from anyone else such headers are a 400 `request_invalid` (never silently ignored).
 *   nginx cannot relay a 302 from `auth_request`, so when `X-Original-URI` is present a step-up redirect is
 *   sent as 401 with `x-idgate-location` (use `auth_request_set` + `error_page 401`, see examples/nginx).
 *
 * Fail closed: any fault answers 503 with a problem body; a decision past the budget answers 503
 * `deadline_exceeded`.
 */
export class HttpAuthzServer {
  readonly #decider: Decider;
  readonly #logger: Logger;
  readonly #options: HttpAuthzServerOptions;
  readonly #render: CompiledRenderOptions;
  readonly #server: Server;
  readonly #budgetMs: number;

  constructor(deps: { decider: Decider; logger: Logger }, options: HttpAuthzServerOptions) {
    this.#decider = deps.decider;
    this.#logger = deps.logger;
    this.#options = options;
    this.#render = compileRenderOptions(options.render);
    this.#budgetMs = options.decisionTimeoutMs ?? 250;
    this.#server = createServer(
      hardenedServerOptions({ maxHeaderSize: options.maxHeaderBytes ?? 64 * 1024, connectionsCheckingIntervalMs: 1_000 }),
      (req, res) => this.#handle(req, res),
    );
    applyServerHardening(this.#server, { headersTimeoutMs: 5_000, requestTimeoutMs: 10_000, keepAliveTimeoutMs: 65_000 });
  }

  async listen(host: string, port: number): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    return (this.#server.address() as AddressInfo).port;
  }

  async close(graceMs = 5_000): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeIdleConnections();
    const timer = setTimeout(() => this.#server.closeAllConnections(), graceMs);
    timer.unref();
    await closed;
    clearTimeout(timer);
  }

  /** Maps an HTTP authorization request to the engine's RequestContext (exposed for the shared test table). */
  toContext(req: IncomingMessage, now: number): { ok: true; ctx: RequestContext; nginx: boolean } | { ok: false; error: string } {
    const peer = req.socket.remoteAddress ?? '';
    const trusted = this.#options.trustedProxies;
    const peerTrusted = trusted.size > 0 && trusted.contains(stripMapped(peer));
    const headers: Record<string, string> = {};
    const raw = req.rawHeaders;
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const name = raw[i]!.toLowerCase();
      if (SKIP_HEADERS.has(name)) continue;
      const prev = headers[name];
      headers[name] = prev === undefined ? raw[i + 1]! : `${prev},${raw[i + 1]!}`;
    }
    const forwarded = FORWARD_HEADERS.some((h) => headers[h] !== undefined);
    if (forwarded && !peerTrusted) {
      return { ok: false, error: 'x-forwarded-*/x-original-* request headers are only accepted from trusted proxies' };
    }
    let method = req.method ?? '';
    let target = req.url ?? '/';
    let host = headers.host ?? '';
    let scheme = 'http';
    const nginx = headers['x-original-uri'] !== undefined;
    if (forwarded) {
      method = headers['x-forwarded-method'] ?? headers['x-original-method'] ?? method;
      target = headers['x-original-uri'] ?? headers['x-forwarded-uri'] ?? '/';
      host = headers['x-forwarded-host'] ?? host;
      scheme = headers['x-forwarded-proto'] ?? scheme;
    } else {
      const prefix = this.#options.pathPrefix;
      if (prefix !== '' && prefix !== '/') {
        if (target === prefix) target = '/';
        else if (target.startsWith(`${prefix}/`) || target.startsWith(`${prefix}?`)) target = target.slice(prefix.length);
        if (!target.startsWith('/')) target = `/${target}`;
      }
      if (peerTrusted && headers['x-forwarded-proto']) scheme = headers['x-forwarded-proto'];
    }
    // The request as the upstream will see it: drop what only described the sub-request.
    for (const h of FORWARD_HEADERS) delete headers[h];
    headers[':authority'] = host;
    headers[':method'] = method;
    headers[':path'] = target;
    headers[':scheme'] = scheme;
    const client = resolveClientAddress({ peer, xForwardedFor: headers['x-forwarded-for'], trustedProxies: trusted });
    const message: CheckRequestMessage = {
      attributes: {
        source: { address: { socket_address: { address: client } } },
        request: {
          http: { method, path: target, host, scheme, headers, protocol: `HTTP/${req.httpVersion}` },
        },
      },
    };
    const mapped = toRequestContext(message, now);
    return mapped.ok ? { ok: true, ctx: mapped.value, nginx } : { ok: false, error: mapped.error };
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    // The authorization request carries no body we use; drain whatever was sent.
    req.resume();
    const now = Date.now();
    const mapped = this.toContext(req, now);
    if (!mapped.ok) {
      this.#reply(res, this.#renderSafe({ kind: 'deny', status: 400, code: 'request_invalid', message: mapped.error }, undefined), false);
      return;
    }
    const { ctx, nginx } = mapped;
    const deadlineAt = now + this.#budgetMs;
    let settled = false;
    const finish = (decision: Decision) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      this.#reply(res, this.#renderSafe(decision, ctx), nginx);
    };
    const timer = setTimeout(
      () => finish({ kind: 'deny', status: 503, code: 'deadline_exceeded', message: 'the authorization decision took too long' }),
      this.#budgetMs,
    );
    this.#decider.decide(ctx, deadlineAt).then(finish, (err: unknown) => {
      this.#logger.error({ err, requestId: ctx.requestId }, 'decider failed; denying');
      finish({ kind: 'deny', status: 503, code: 'internal_error', message: 'internal error' });
    });
  }

  #renderSafe(decision: Decision, ctx: RequestContext | undefined): RenderedVerdict {
    try {
      return renderDecision(decision, ctx ?? EMPTY_CONTEXT, this.#render);
    } catch (err) {
      this.#logger.error({ err }, 'rendering a decision failed');
      return renderDecision({ kind: 'deny', status: 503, code: 'internal_error', message: 'internal error' }, EMPTY_CONTEXT, this.#render);
    }
  }

  #reply(res: ServerResponse, verdict: RenderedVerdict, nginx: boolean): void {
    if (res.headersSent) return;
    if (verdict.allow) {
      const headers: Record<string, string> = { 'cache-control': 'no-store' };
      for (const [name, value] of verdict.upstreamHeaders) headers[name] = value;
      if (verdict.removeHeaders.length > 0) headers['x-envoy-auth-headers-to-remove'] = verdict.removeHeaders.join(',');
      res.writeHead(200, { ...headers, 'content-length': 0 });
      res.end();
      return;
    }
    let status: number = verdict.status;
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of verdict.headers) {
      const prev = headers[name];
      headers[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
    }
    if (status === 302 && nginx) {
      // nginx's auth_request turns any 3xx into a 500; hand the target over in a header instead.
      const location = headers.location;
      delete headers.location;
      if (typeof location === 'string') headers['x-idgate-location'] = location;
      headers['www-authenticate'] = 'Bearer realm="idgate", error="insufficient_user_authentication"';
      status = 401;
    }
    res.writeHead(status, { ...headers, 'content-length': Buffer.byteLength(verdict.body) });
    res.end(verdict.body);
  }
}

const EMPTY_CONTEXT: RequestContext = {
  method: '',
  scheme: '',
  host: '',
  path: '',
  rawPath: '',
  query: '',
  headers: {},
  sourceAddress: '',
  sourcePrincipal: '',
  contextExtensions: {},
  metadata: {},
  requestId: '',
  protocol: '',
  receivedAt: 0,
};

/** `::ffff:1.2.3.4` → `1.2.3.4` (Node reports IPv4 peers that way on dual-stack sockets). */
function stripMapped(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}
