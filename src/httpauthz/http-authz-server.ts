import { createHttpServer } from '../http/create-http-server.js';
import { ListeningHttpServer } from '../http/listening-http-server.js';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { PeerCertificate, SecureContextOptions, TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { RequestLimits } from '../core/build-request-context.js';
import type { Decider } from '../core/decider.js';
import type { Decision } from '../core/decision.js';
import { compileRenderOptions, renderDecision, type CompiledRenderOptions, type RenderOptions, type RenderedVerdict } from '../core/render-decision.js';
import { EMPTY_REQUEST_CONTEXT, firstHeaderName, type RequestContext } from '../core/request-context.js';
import { CheckLifecycle, INTERNAL_ERROR_DENY } from '../engine/check-lifecycle.js';
import { applyServerHardening, hardenedServerOptions } from '../http/apply-server-hardening.js';
import type { CidrSet } from '../net/create-cidr-set.js';
import { toHttpAuthzContext, type HttpAuthzFlavor } from './to-http-authz-context.js';
import { toHttpAuthzReply, type HttpAuthzReply } from './to-http-authz-reply.js';

/** Options of {@link HttpAuthzServer}. */
export interface HttpAuthzServerOptions {
  /** Envoy `http_service.path_prefix` that is stripped from the path (`/` = none). */
  readonly pathPrefix: string;
  /** Proxies whose `x-forwarded-*` / `x-original-*` headers are believed; from anyone else they are a 400. */
  readonly trustedProxies: CidrSet;
  readonly render?: RenderOptions;
  /** Decision budget per request, ms (default 250). */
  readonly decisionTimeoutMs?: number;
  /** Largest request header block, bytes (default 64 KiB; Node answers 431 above it). */
  readonly maxHeaderBytes?: number;
  /** Header count/size bounds for the mapped request (defaults as the gRPC front end). */
  readonly requestLimits?: RequestLimits;
  /**
   * Largest request body read and discarded, bytes (default 64 KiB). The body is never evaluated; a larger
   * one (Envoy `with_request_body` misconfigured, or a client on the wrong port) closes the connection.
   */
  readonly maxBodyBytes?: number;
  /** How long before Envoy's `x-envoy-expected-rq-timeout-ms` the deadline deny is sent, ms (default 20). */
  readonly deadlineMarginMs?: number;
  /** Epoch-ms clock (default `Date.now`). */
  readonly now?: () => number;
  /**
   * Serve HTTPS. With `requestCert` a client certificate chaining to the context's `ca` is required at the
   * handshake; `peerAllowed` (the SAN allow list) is checked right after it, and a refused peer's
   * connection is closed before any request on it is read.
   */
  readonly tls?: {
    readonly context: SecureContextOptions;
    readonly requestCert: boolean;
    readonly peerAllowed?: (peer: PeerCertificate | undefined) => boolean;
  };
}

/** Largest `x-envoy-expected-rq-timeout-ms` honoured; anything else (absent, garbled) leaves the budget as is. */
const MAX_EXPECTED_TIMEOUT_MS = 60_000;

/** Where one Check's answer goes. */
interface HttpAuthzTarget {
  readonly res: ServerResponse;
  readonly flavor: HttpAuthzFlavor;
}

/**
 * The HTTP authorization mode: the same engine behind Envoy's `http_service`, nginx `auth_request` and
 * Traefik ForwardAuth (see {@link toHttpAuthzContext} for how each is recognised and mapped, and
 * {@link toHttpAuthzReply} for the answers).
 *
 * - Envoy `http_service`: allow is **200** only, identity headers in the response (configure
 *   `allowed_upstream_headers`) plus `x-envoy-auth-headers-to-remove`; denials are relayed as they are.
 *   idgate's 5xx answers are "errors" to Envoy: keep `failure_mode_allow: false`.
 * - nginx `auth_request`: 200 allow, 401/403 deny; a step-up redirect becomes a 401 with
 *   `x-idgate-location` (see examples/nginx/idgate.conf). Other statuses become a 500 in nginx.
 * - Traefik ForwardAuth: 200 allow; any other answer, 302 included, is returned to the client.
 *
 * Forged identity headers: Envoy is told to remove client copies (`x-envoy-auth-headers-to-remove`);
 * nginx and Traefik cannot be, so in those flavors a request carrying any header that folds to an identity
 * header (`X-Idgate-Roles`, `x_idgate_roles`, a `headers.strip` name…) is a 400 `request_invalid`, on
 * public routes too: idgate never answers 200 to a request the proxy would pass on with a forged identity.
 *
 * Fail closed: forwarded headers from an untrusted peer or a garbled request → 400 `request_invalid`; a
 * decider fault or a throw → 503 `internal_error`; no decision within the budget (`decisionTimeoutMs`, or
 * Envoy's `x-envoy-expected-rq-timeout-ms` minus the margin when shorter) → 503 `deadline_exceeded` (a late
 * decision is dropped). Every answer carries `cache-control: no-store`.
 */
export class HttpAuthzServer extends ListeningHttpServer {
  readonly #lifecycle: CheckLifecycle<HttpAuthzTarget>;
  readonly #logger: Logger;
  readonly #options: HttpAuthzServerOptions;
  #trustedProxies: CidrSet;
  readonly #render: CompiledRenderOptions;
  protected readonly httpServer: Server;
  readonly #maxBodyBytes: number;
  readonly #now: () => number;
  /** The static 503 `internal_error` reply, rendered once: what a reply that cannot be written becomes. */
  readonly #fallback: HttpAuthzReply;

  /**
   * @throws TypeError for invalid render options or a non-positive limit.
   */
  constructor(deps: { decider: Decider; logger: Logger }, options: HttpAuthzServerOptions) {
    super();
    this.#logger = deps.logger;
    this.#options = options;
    this.#trustedProxies = options.trustedProxies;
    this.#render = compileRenderOptions(options.render);
    const decisionTimeoutMs = options.decisionTimeoutMs ?? 250;
    this.#maxBodyBytes = options.maxBodyBytes ?? 64 * 1024;
    if (!(decisionTimeoutMs > 0) || !(this.#maxBodyBytes >= 0) || !((options.deadlineMarginMs ?? 0) >= 0)) {
      throw new TypeError('decisionTimeoutMs must be positive; maxBodyBytes and deadlineMarginMs non-negative');
    }
    this.#lifecycle = new CheckLifecycle<HttpAuthzTarget>({
      decider: deps.decider,
      logger: deps.logger,
      decisionTimeoutMs,
      deadlineMarginMs: options.deadlineMarginMs ?? 20,
      answer: (target, ctx, decision) => this.#answer(target, ctx, decision),
      logLateFaults: true,
    });
    this.#fallback = toHttpAuthzReply(renderDecision(INTERNAL_ERROR_DENY, EMPTY_REQUEST_CONTEXT, this.#render), 'envoy', this.#render.prefix, this.#render.realm);
    this.#now = options.now ?? Date.now;
    const serverOptions = hardenedServerOptions({ maxHeaderSize: options.maxHeaderBytes ?? 64 * 1024, connectionsCheckingIntervalMs: 1_000 });
    const handler = (req: IncomingMessage, res: ServerResponse): void => this.#handle(req, res);
    const tls = options.tls;
    if (tls === undefined) {
      this.httpServer = createHttpServer(serverOptions, handler);
    } else {
      const https: HttpsServer = createHttpsServer(
        // handshakeTimeout: a client that stalls the TLS handshake is dropped after 5 s (node's default is 120 s).
        { ...serverOptions, ...tls.context, requestCert: tls.requestCert, rejectUnauthorized: tls.requestCert, handshakeTimeout: 5_000 },
        handler,
      );
      const peerAllowed = tls.peerAllowed;
      if (peerAllowed !== undefined) {
        // Before the HTTP parser is attached to the socket, so nothing sent on a refused connection is read.
        https.prependListener('secureConnection', (socket: TLSSocket) => {
          if (!peerAllowed(socket.getPeerCertificate())) {
            this.#logger.warn({ remoteAddress: socket.remoteAddress }, 'HTTP authz client certificate not in allowedSans; closing');
            socket.destroy();
          }
        });
      }
      // Handshake failures (no/untrusted client certificate) are the client's problem, not a fault to log.
      https.on('tlsClientError', () => {});
      this.httpServer = https as unknown as Server;
    }
    applyServerHardening(this.httpServer, { headersTimeoutMs: 5_000, requestTimeoutMs: 10_000, keepAliveTimeoutMs: 65_000 });
  }

  /** Replaces the certificate/key/CA for new connections (rotation); open connections keep theirs. */
  setSecureContext(context: SecureContextOptions): void {
    if (this.#options.tls === undefined) throw new Error('the HTTP authz listener does not serve TLS');
    (this.httpServer as unknown as HttpsServer).setSecureContext(context);
  }

  /** Replaces the trusted proxy set (`network.trustedProxies` changed by a config reload). */
  setTrustedProxies(trustedProxies: CidrSet): void {
    this.#trustedProxies = trustedProxies;
  }


  #handle(req: IncomingMessage, res: ServerResponse): void {
    try {
      this.#discardBody(req);
      const now = this.#now();
      const mapped = toHttpAuthzContext(
        {
          method: req.method ?? '',
          target: req.url ?? '/',
          rawHeaders: req.rawHeaders,
          peer: req.socket.remoteAddress ?? '',
          httpVersion: req.httpVersion,
        },
        {
          pathPrefix: this.#options.pathPrefix,
          trustedProxies: this.#trustedProxies,
          ...(this.#options.requestLimits !== undefined ? { limits: this.#options.requestLimits } : {}),
        },
        now,
      );
      if (!mapped.ok) {
        this.#logger.info({ peer: req.socket.remoteAddress, reason: mapped.error }, 'invalid authorization request; denying');
        this.#send(res, this.#reply({ kind: 'deny', status: 400, code: 'request_invalid', message: mapped.error }, undefined, 'envoy'));
        return;
      }
      const { ctx, flavor } = mapped;
      const forged = flavor === 'envoy' ? undefined : this.#clientIdentityHeader(ctx);
      if (forged !== undefined) {
        // nginx auth_request and Traefik ForwardAuth can only overwrite the headers their config names, so
        // a client copy idgate cannot order removed is refused rather than blessed with a 200.
        this.#logger.info({ requestId: ctx.requestId, header: forged }, 'client-sent identity header; denying');
        const message = `the request carries a client-sent identity header (${forged}); only idgate may set it`;
        this.#send(res, this.#reply({ kind: 'deny', status: 400, code: 'request_invalid', message }, ctx, flavor));
        return;
      }
      this.#lifecycle.run(ctx, now, this.#proxyDeadline(req, now), { res, flavor });
    } catch (err) {
      this.#logger.error({ err }, 'authorization request handling failed; denying');
      this.#send(res, this.#reply(INTERNAL_ERROR_DENY, undefined, 'envoy'));
    }
  }

  /** The lifecycle's answer. Runs in a promise callback or a timer: a throw here would escape the handler. */
  #answer(target: HttpAuthzTarget, ctx: RequestContext, decision: Decision): void {
    try {
      this.#send(target.res, this.#reply(decision, ctx, target.flavor));
    } catch (err) {
      this.#logger.error({ err, requestId: ctx.requestId }, 'answering the authorization request failed');
      target.res.destroy();
    }
  }

  /**
   * When Envoy gives up on this call (`x-envoy-expected-rq-timeout-ms` from now; Infinity when absent, 0,
   * garbled or above a minute), so idgate answers a deadline deny before Envoy applies `status_on_error`.
   */
  #proxyDeadline(req: IncomingMessage, now: number): number {
    const expected = req.headers['x-envoy-expected-rq-timeout-ms'];
    if (typeof expected !== 'string' || !/^[0-9]{1,6}$/.test(expected)) return Infinity;
    const ms = Number(expected);
    if (ms === 0 || ms > MAX_EXPECTED_TIMEOUT_MS) return Infinity;
    return now + ms;
  }

  /** The first request header that folds to an identity header (any case, `-` or `_`), if any. */
  #clientIdentityHeader(ctx: RequestContext): string | undefined {
    return firstHeaderName(ctx, this.#render.isIdentityHeader);
  }

  /** The body is never evaluated; read it (bounded) so the connection can be reused. */
  #discardBody(req: IncomingMessage): void {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > this.#maxBodyBytes) {
      req.socket.destroy();
      return;
    }
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > this.#maxBodyBytes) req.socket.destroy();
    });
  }

  #reply(decision: Decision, ctx: RequestContext | undefined, flavor: HttpAuthzFlavor): HttpAuthzReply {
    let verdict: RenderedVerdict;
    try {
      verdict = renderDecision(decision, ctx ?? EMPTY_REQUEST_CONTEXT, this.#render);
    } catch (err) {
      this.#logger.error({ err }, 'rendering a decision failed');
      verdict = renderDecision(INTERNAL_ERROR_DENY, EMPTY_REQUEST_CONTEXT, this.#render);
    }
    return toHttpAuthzReply(verdict, flavor, this.#render.prefix, this.#render.realm);
  }

  /**
   * Writes a reply. Last resort: nothing thrown here (Node refuses a header value it cannot write, a
   * destroyed socket…) may escape, since this runs in promise callbacks and timers where an escaping
   * throw would end the process. A reply that cannot be written becomes the static 503 `internal_error`
   * deny while headers are unsent, else the connection is dropped (the proxy then fails closed).
   */
  #send(res: ServerResponse, reply: HttpAuthzReply): void {
    if (res.headersSent || res.destroyed) return;
    try {
      res.writeHead(reply.status, { ...reply.headers, 'content-length': Buffer.byteLength(reply.body) });
      res.end(reply.body);
    } catch (err) {
      this.#logger.error({ err }, 'writing the authorization reply failed; denying');
      try {
        if (!res.headersSent) {
          const fallback = this.#fallback;
          res.writeHead(fallback.status, { ...fallback.headers, 'content-length': Buffer.byteLength(fallback.body) });
          res.end(fallback.body);
        } else {
          res.destroy();
        }
      } catch {
        res.destroy();
      }
    }
  }
}

/** Dependencies and options of {@link createHttpAuthzServer}. */
export interface CreateHttpAuthzServerOptions extends HttpAuthzServerOptions {
  /** The engine. */
  readonly decider: Decider;
  readonly logger: Logger;
}

/**
 * Creates the HTTP authorization server (not yet listening; {@link HttpAuthzServer.listen} binds it).
 * @throws TypeError for invalid render options or a non-positive limit.
 */
export function createHttpAuthzServer(options: CreateHttpAuthzServerOptions): HttpAuthzServer {
  return new HttpAuthzServer({ decider: options.decider, logger: options.logger }, options);
}
