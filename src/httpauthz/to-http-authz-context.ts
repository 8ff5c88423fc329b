import { buildRequestContext, collectHeaders, type RequestLimits } from '../core/build-request-context.js';
import type { RequestContext } from '../core/request-context.js';
import type { CidrSet } from '../net/create-cidr-set.js';
import { resolveClientAddress } from '../net/resolve-client-address.js';

/**
 * Which proxy convention an HTTP authorization request followed:
 * - `envoy`: Envoy `http_service` — the request *is* the original (method, `path_prefix` + path, host);
 * - `nginx`: nginx `auth_request` — the original is described by `X-Original-URI` (+ method, host, proto);
 * - `forward_auth`: Traefik ForwardAuth (and compatible proxies) — described by `X-Forwarded-Uri`.
 */
export type HttpAuthzFlavor = 'envoy' | 'nginx' | 'forward_auth';

/** The parts of an incoming node:http request the mapping reads. */
export interface HttpAuthzRequest {
  readonly method: string;
  /** The request target as received (`req.url`). */
  readonly target: string;
  /** `req.rawHeaders`: alternating names and values, as received. */
  readonly rawHeaders: readonly string[];
  /** The socket's remote address (`::ffff:` IPv4-mapped form tolerated). */
  readonly peer: string;
  /** `1.1`, `2.0`… (`req.httpVersion`). */
  readonly httpVersion: string;
}

/** Options of {@link toHttpAuthzContext}; built once at startup. */
export interface ToHttpAuthzContextOptions {
  /** Envoy `http_service.path_prefix`; `/` or `''` = none. */
  readonly pathPrefix: string;
  /** Peers whose forwarded/original-request headers are believed. Empty = none. */
  readonly trustedProxies: CidrSet;
  readonly limits?: RequestLimits;
}

/** `ok: false` → the front end answers 400 `request_invalid` with `error` as the detail. */
export type ToHttpAuthzContextResult =
  | { readonly ok: true; readonly ctx: RequestContext; readonly flavor: HttpAuthzFlavor }
  | { readonly ok: false; readonly error: string };

/** Headers that describe the original request on behalf of a proxy (nginx, Traefik, Envoy's XFP). */
export const DESCRIBING_HEADERS: readonly string[] = [
  'x-original-uri',
  'x-forwarded-uri',
  'x-original-method',
  'x-forwarded-method',
  'x-forwarded-host',
  'x-forwarded-proto',
];
const DESCRIBING = new Set(DESCRIBING_HEADERS);

/** Hop-by-hop and framing headers that describe the authorization sub-request, not the original request. */
const SKIP_HEADERS = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'content-length', 'te', 'trailer', 'proxy-connection']);

const METHOD = /^[A-Za-z]{1,20}$/;
const SCHEMES: Readonly<Record<string, string>> = { http: 'http', https: 'https', ws: 'http', wss: 'https' };

/**
 * Maps one HTTP authorization request to the engine's {@link RequestContext}.
 *
 * Forwarded mode (nginx / Traefik), when `X-Original-URI` or `X-Forwarded-Uri` is present: method from
 * `X-Forwarded-Method`/`X-Original-Method` (else the request's), target from the URI header, host from
 * `X-Forwarded-Host` (else `Host`), scheme from `X-Forwarded-Proto`. Envoy mode otherwise: the request's
 * own method, target (with `pathPrefix` stripped) and `Host`; scheme from `X-Forwarded-Proto` if sent, else
 * unknown (`''`). The describing headers are removed from the headers the policy sees; `:authority`,
 * `:method`, `:path` (and `:scheme`) are set as Envoy's gRPC API would.
 *
 * Trust: any describing header from a peer outside `trustedProxies` is an error, never silently ignored,
 * so a misconfigured proxy is loud and a client talking to this port directly cannot describe a request it
 * did not make. The client address is resolved with the same right-to-left `X-Forwarded-For` rule as the
 * gRPC front end.
 *
 * @returns `{ ok: false, error }` for: describing headers from an untrusted peer; a describing header sent
 *   twice; `X-Original-URI` and `X-Forwarded-Uri` (or the two method headers) that disagree; a method or
 *   host header without a URI header; an empty URI; an invalid method or proto; an Envoy-mode path outside
 *   `pathPrefix`; header limits exceeded. Bad paths are not errors here: they map to `pathError`
 *   (the engine denies `path_invalid`). Never throws.
 */
export function toHttpAuthzContext(
  request: HttpAuthzRequest,
  options: ToHttpAuthzContextOptions,
  now: number,
): ToHttpAuthzContextResult {
  const peer = stripMapped(request.peer);
  const trusted = options.trustedProxies;
  const peerTrusted = trusted.size > 0 && trusted.contains(peer);

  // A null-prototype record, so names such as `__proto__` are just headers.
  const headers: Record<string, string> = Object.create(null) as Record<string, string>;
  let describing = false;
  const raw = request.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    if (SKIP_HEADERS.has(name)) continue;
    const value = raw[i + 1] as string;
    const prev = headers[name];
    if (DESCRIBING.has(name)) {
      describing = true;
      // Two copies mean two parties described the request (typically the client and the proxy).
      if (prev !== undefined) return { ok: false, error: `${name} sent more than once` };
    }
    headers[name] = prev === undefined ? value : `${prev}${name === 'cookie' ? '; ' : ','}${value}`;
  }
  if (describing && !peerTrusted) {
    return {
      ok: false,
      error: 'x-original-*/x-forwarded-{uri,method,host,proto} headers are only accepted from trusted proxies (network.trustedProxies)',
    };
  }

  const originalUri = headers['x-original-uri'];
  const forwardedUri = headers['x-forwarded-uri'];
  const forwardedMethod = headers['x-forwarded-method'];
  const originalMethod = headers['x-original-method'];
  const forwardedHost = headers['x-forwarded-host'];
  const forwardedProto = headers['x-forwarded-proto'];

  let scheme = '';
  if (forwardedProto !== undefined) {
    const mapped = SCHEMES[forwardedProto.trim().toLowerCase()];
    if (mapped === undefined) return { ok: false, error: 'x-forwarded-proto must be http or https' };
    scheme = mapped;
  }

  let flavor: HttpAuthzFlavor;
  let method: string;
  let target: string;
  let host: string;
  if (originalUri !== undefined || forwardedUri !== undefined) {
    if (originalUri !== undefined && forwardedUri !== undefined && originalUri !== forwardedUri) {
      return { ok: false, error: 'x-original-uri and x-forwarded-uri disagree' };
    }
    flavor = originalUri !== undefined ? 'nginx' : 'forward_auth';
    target = (originalUri ?? forwardedUri ?? '').trim();
    if (target === '') return { ok: false, error: 'the original request URI is empty' };
    if (forwardedMethod !== undefined && originalMethod !== undefined && forwardedMethod.trim() !== originalMethod.trim()) {
      return { ok: false, error: 'x-forwarded-method and x-original-method disagree' };
    }
    method = (forwardedMethod ?? originalMethod ?? request.method).trim();
    host = (forwardedHost ?? headers['host'] ?? '').trim();
  } else {
    if (forwardedMethod !== undefined || originalMethod !== undefined || forwardedHost !== undefined) {
      return { ok: false, error: 'x-forwarded-method/-host describe a forwarded request but no x-original-uri or x-forwarded-uri was sent' };
    }
    flavor = 'envoy';
    method = request.method;
    host = headers['host'] ?? '';
    const stripped = stripPrefix(request.target, options.pathPrefix);
    if (stripped === undefined) {
      return { ok: false, error: `the path does not start with the configured path prefix ${options.pathPrefix}` };
    }
    target = stripped;
  }
  if (!METHOD.test(method)) return { ok: false, error: 'invalid method' };
  if (host.includes(',')) return { ok: false, error: 'more than one host' };

  // The request as the upstream will see it: drop what only described the sub-request.
  for (const name of DESCRIBING_HEADERS) delete headers[name];
  delete headers['host'];
  headers[':authority'] = host;
  headers[':method'] = method.toUpperCase();
  headers[':path'] = target;
  if (scheme !== '') headers[':scheme'] = scheme;

  const client = resolveClientAddress({ peer, xForwardedFor: headers['x-forwarded-for'], trustedProxies: trusted });
  const collected = collectHeaders(headers, options.limits ?? {});
  if (typeof collected === 'string') return { ok: false, error: collected };
  const mapped = buildRequestContext({
    method,
    scheme,
    host,
    path: target,
    headers: collected,
    sourceAddress: client,
    sourcePrincipal: '',
    requestId: '',
    protocol: `HTTP/${request.httpVersion}`,
    receivedAt: now,
  });
  return mapped.ok ? { ok: true, ctx: mapped.value, flavor } : { ok: false, error: mapped.error };
}

/**
 * `/check/api/x?y` → `/api/x?y`; `/check` → `/`; `/check?y` → `/?y`. undefined when the target is not
 * under the prefix: such a request did not come through the configured `path_prefix`, and guessing would
 * let an application path that happens to start with the prefix be matched as a shorter one.
 */
function stripPrefix(target: string, prefix: string): string | undefined {
  if (prefix === '' || prefix === '/') return target;
  if (target === prefix) return '/';
  if (!target.startsWith(prefix)) return undefined;
  const rest = target.slice(prefix.length);
  if (rest.startsWith('/')) return rest;
  if (rest.startsWith('?')) return `/${rest}`;
  return undefined;
}

/** `::ffff:1.2.3.4` → `1.2.3.4` (Node reports IPv4 peers that way on dual-stack sockets). */
function stripMapped(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}
