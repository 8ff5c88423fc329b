/**
 * The one shape every front end (gRPC ext_authz, HTTP authz mode, `idgate explain`) turns an incoming
 * authorization question into, and the only input the engine and the policy read.
 *
 * Built once per request by the front end; treated as immutable afterwards.
 */
export interface RequestContext {
  /** Upper-case HTTP method (`GET`, `POST`…). Empty when the proxy did not say (a deny later). */
  readonly method: string;
  /** `http` or `https` as the proxy reported it (lower-case); empty if unknown. */
  readonly scheme: string;
  /** Host as sent by the client, lower-case, without port. */
  readonly host: string;
  /** Port from the authority, when one was present. */
  readonly port?: number;
  /**
   * The canonical path every matcher sees: query split off, percent-decoding of unreserved characters,
   * duplicate slashes merged, dot segments resolved. Empty string when {@link pathError} is set.
   */
  readonly path: string;
  /** The request target exactly as received (path plus query), for logs and return URLs. */
  readonly rawPath: string;
  /** The raw query string without the leading `?` (not decoded). */
  readonly query: string;
  /**
   * Set when the path cannot be canonicalised safely (encoded slash, `..;`, NUL, bad percent-encoding,
   * dot segments above the root…). The engine denies such a request with code `path_invalid`.
   */
  readonly pathError?: string;
  /**
   * Set when the path carried `;` path parameters (see `canonicalizePath`): `raw` — {@link path} has them
   * stripped from each segment, as servlet containers route; `encoded` — an escaped `;` is in the path. The
   * policy denies both with `request_invalid` unless `policy.pathParameters: strip` (raw ones only).
   */
  readonly pathParameters?: 'raw' | 'encoded';
  /**
   * Request headers with lower-case names, including HTTP/2 pseudo-headers (`:authority`, `:path`…)
   * when the proxy sent them. Repeated headers are joined with `,` as Envoy does.
   */
  readonly headers: Readonly<Record<string, string>>;
  /**
   * The names of {@link headers} in `for…in` order, each once, when the front end had them without
   * enumerating the dictionary (the gRPC codec lists them as it decodes). Read it with
   * {@link headerNamesOf}, which trusts it only for the very `headers` object it was listed for.
   */
  readonly headerNames?: HeaderNames;
  /**
   * Trace-context headers (`traceparent`, `b3`…) of the proxy's own call to idgate — the gRPC metadata Envoy's
   * tracer sets on its Check call — when there were any. Unlike {@link headers}, no end user can set these,
   * so tracing always continues them (see docs/deployment.md, "Tracing").
   */
  readonly traceContext?: Readonly<Record<string, string>>;
  /** The immediate peer address the proxy reported (IPv4 or IPv6 text form, no port); empty if unknown. */
  readonly sourceAddress: string;
  /** The peer's mTLS principal (SPIFFE id in Istio), empty if none. */
  readonly sourcePrincipal: string;
  /** Envoy `check_settings.context_extensions` of the matched Envoy route (empty object if none). */
  readonly contextExtensions: Readonly<Record<string, string>>;
  /**
   * Envoy dynamic metadata forwarded in `metadata_context.filter_metadata`, as plain JSON values,
   * keyed by namespace (e.g. `envoy.filters.http.jwt_authn`).
   */
  readonly metadata: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  /** Correlation id: the `x-request-id` header when present, else the proxy's request id. */
  readonly requestId: string;
  /** `HTTP/1.1`, `HTTP/2`… as reported; empty if unknown. */
  readonly protocol: string;
  /** When the request was received, in epoch milliseconds. */
  readonly receivedAt: number;
  /** The request body when the proxy forwarded one (Envoy `with_request_body`), else undefined. */
  readonly body?: Uint8Array;
}

/** The names of one headers record (see {@link RequestContext.headerNames}). */
export interface HeaderNames {
  /** The record they were listed for. */
  readonly of: Readonly<Record<string, string>>;
  readonly names: readonly string[];
}

/**
 * The names of `ctx.headers` in `for…in` order without enumerating it (a `for…in` over the null-prototype
 * dictionary collects and sorts its keys: ~1 µs per Check for ~20 headers), or undefined when the front end
 * did not list them — or listed them for another record (a context copied with other headers).
 */
export function headerNamesOf(ctx: RequestContext): readonly string[] | undefined {
  const listed = ctx.headerNames;
  return listed !== undefined && listed.of === ctx.headers ? listed.names : undefined;
}

/** The first name of `ctx.headers` (in `for…in` order) that `matches`, read by {@link headerNamesOf} when listed. */
export function firstHeaderName(ctx: RequestContext, matches: (name: string) => boolean): string | undefined {
  const names = headerNamesOf(ctx);
  if (names === undefined) {
    for (const name in ctx.headers) if (matches(name)) return name;
    return undefined;
  }
  for (let i = 0; i < names.length; i++) if (matches(names[i] as string)) return names[i];
  return undefined;
}

/**
 * The context used to render a deny for a request too garbled to build a real one from (no headers, no
 * request id): frozen, shared by the front ends.
 */
export const EMPTY_REQUEST_CONTEXT: RequestContext = Object.freeze({
  method: '',
  scheme: '',
  host: '',
  path: '',
  rawPath: '',
  query: '',
  headers: Object.freeze({}),
  sourceAddress: '',
  sourcePrincipal: '',
  contextExtensions: Object.freeze({}),
  metadata: Object.freeze({}),
  requestId: '',
  protocol: '',
  receivedAt: 0,
});
