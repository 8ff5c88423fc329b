import { canonicalizePath } from './canonical-path.js';
import { parseAuthority } from './parse-authority.js';
import type { RequestContext } from './request-context.js';

/** Work bounds for one request; beyond them the request is refused (`request_invalid`), not processed. */
export interface RequestLimits {
  /** Most header entries considered (default 200). */
  readonly maxHeaders?: number;
  /** Most total header name + value length, in characters/bytes (default 64 KiB). */
  readonly maxHeaderBytes?: number;
  /** Deepest Struct nesting converted from Envoy metadata; deeper values are dropped (default 16). */
  readonly maxMetadataDepth?: number;
}

export const DEFAULT_MAX_HEADERS = 200;
export const DEFAULT_MAX_HEADER_BYTES = 64 * 1024;

/**
 * One request as a front end read it, in plain fields, before validation: what the gRPC front end decodes
 * from a CheckRequest, what HTTP mode reads from the sub-request, what `idgate explain` reads from its JSON.
 */
export interface RequestFields {
  /** As received, any case; `''` = not said (the `:method` header is used). */
  readonly method: string;
  /** As received; `''` = not said (the `:scheme` header is used). */
  readonly scheme: string;
  /** The authority as received (may carry a port); `''` = not said (`:authority`, then `host`). */
  readonly host: string;
  /** The request target as received (path and query, not decoded); `''` = not said (`:path`). */
  readonly path: string;
  /** Collected by {@link collectHeaders} (or a front end's own collector with the same rules and limits). */
  readonly headers: Record<string, string>;
  /** The names of `headers` in `for…in` order, each once, when the front end listed them (see `headerNamesOf`). */
  readonly headerNames?: readonly string[] | null | undefined;
  readonly sourceAddress: string;
  readonly sourcePrincipal: string;
  /** Copied; entries that are not strings are dropped. */
  readonly contextExtensions?: Readonly<Record<string, unknown>> | null;
  /** Already plain JSON per namespace (default none). */
  readonly metadata?: Record<string, Record<string, unknown>>;
  /** The proxy's own request id; an `x-request-id` header wins over it. */
  readonly requestId: string;
  readonly protocol: string;
  readonly receivedAt: number;
  readonly body?: Uint8Array | undefined;
}

/** `ok: false` means the request is too garbled (or too large) to evaluate; the front end denies it (400). */
export type BuildRequestContextResult =
  | { readonly ok: true; readonly value: RequestContext }
  | { readonly ok: false; readonly error: string };

/**
 * What a request without context extensions or dynamic metadata carries: one frozen null-prototype empty
 * record each, shared (nothing writes into a request context), instead of two new dictionaries per Check.
 */
const NO_STRINGS: Readonly<Record<string, string>> = Object.freeze(Object.create(null) as Record<string, string>);
const NO_METADATA: Readonly<Record<string, Record<string, unknown>>> = Object.freeze(Object.create(null) as Record<string, Record<string, unknown>>);

/**
 * The validation and canonicalisation every front end shares: method upper-cased (else `:method`; empty is
 * an error); host from the authority (else `:authority`, else `host`), lower-cased, port split off
 * (`[::1]:8080` → host `[::1]`, port 8080), one trailing dot dropped, and it must be valid authority syntax
 * ({@link parseAuthority}); path canonicalised with {@link canonicalizePath} — a bad path is not an error
 * here but sets `pathError` (the engine denies `path_invalid`); scheme lower-cased (else `:scheme`);
 * `requestId` is `x-request-id`, else the proxy's id. Never throws.
 */
export function buildRequestContext(fields: RequestFields): BuildRequestContextResult {
  const headers = fields.headers;
  const method = upperCased(nonEmpty(fields.method) ?? headers[':method'] ?? '');
  if (method === '') return { ok: false, error: 'missing method' };

  const rawPath = nonEmpty(fields.path) ?? headers[':path'] ?? '';
  const canonical = canonicalizePath(rawPath);
  const authority = parseAuthority(nonEmpty(fields.host) ?? headers[':authority'] ?? headers['host'] ?? '');
  if ('error' in authority) return { ok: false, error: authority.error };

  const ctx: {
    -readonly [K in keyof RequestContext]: RequestContext[K];
  } = {
    method,
    scheme: lowerCased(nonEmpty(fields.scheme) ?? headers[':scheme'] ?? ''),
    host: authority.host,
    path: canonical.ok ? canonical.path : '',
    rawPath,
    query: canonical.ok ? canonical.query : rawQuery(rawPath),
    headers,
    sourceAddress: fields.sourceAddress,
    sourcePrincipal: fields.sourcePrincipal,
    contextExtensions: copyStringMap(fields.contextExtensions),
    metadata: fields.metadata ?? NO_METADATA,
    requestId: headers['x-request-id'] ?? nonEmpty(fields.requestId) ?? '',
    protocol: fields.protocol,
    receivedAt: fields.receivedAt,
  };
  if (fields.headerNames != null) ctx.headerNames = { of: headers, names: fields.headerNames };
  if (authority.port !== undefined) ctx.port = authority.port;
  if (!canonical.ok) ctx.pathError = canonical.reason;
  else if (canonical.pathParameters !== undefined) ctx.pathParameters = canonical.pathParameters;
  if (fields.body !== undefined) ctx.body = fields.body;
  return { ok: true, value: ctx };
}

/**
 * Headers for {@link RequestFields.headers} from a name → value record: names lower-cased, values that are
 * not strings skipped, names that meet after lower-casing joined with `,`, into a null-prototype record (so
 * `constructor` or `__proto__` are just headers).
 *
 * With `reuseNullPrototype`, a null-prototype `record` the caller owns and will not change (the gRPC
 * codec's fresh map) is returned itself as long as nothing in it needs changing — Envoy sends lower-case
 * names, so on the hot path no second dictionary is built per Check; the copy starts at the first entry
 * that does need a change. With `names` — exactly the record's keys in `for…in` order, as the codec lists
 * them — the record is read by those names instead of enumerated (a `for…in` over a dictionary collects
 * and sorts its keys: ~1 µs per Check). The result is the same either way.
 * @returns the record, or the error when more than `maxHeaders` entries or `maxHeaderBytes` of names and
 *   values (checked as each entry is added, so an oversized request costs no more work).
 */
export function collectHeaders(
  record: Readonly<Record<string, unknown>> | null | undefined,
  limits: RequestLimits,
  options: { readonly reuseNullPrototype?: boolean; readonly names?: readonly string[] | null } = {},
): Record<string, string> | string {
  if (record == null) return Object.create(null) as Record<string, string>;
  const maxHeaders = limits.maxHeaders ?? DEFAULT_MAX_HEADERS;
  const maxBytes = limits.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
  let out: Record<string, string> | undefined =
    options.reuseNullPrototype === true && Object.getPrototypeOf(record) === null ? undefined : (Object.create(null) as Record<string, string>);
  let count = 0;
  let bytes = 0;
  const names = options.names ?? enumerate(record);
  for (let i = 0; i < names.length; i++) {
    const rawName = names[i] as string;
    const value = record[rawName];
    if (typeof value !== 'string') {
      out ??= copyUntil(record, rawName);
      continue;
    }
    if (++count > maxHeaders) return tooManyHeaders(maxHeaders);
    bytes += rawName.length + value.length;
    if (bytes > maxBytes) return headersTooLarge(maxBytes);
    if (out === undefined) {
      if (!hasUpperCase(rawName)) continue;
      out = copyUntil(record, rawName);
    }
    addHeader(out, rawName, value);
  }
  return out ?? (record as Record<string, string>);
}

/** The keys `for…in` visits, in its order. */
function enumerate(record: Readonly<Record<string, unknown>>): string[] {
  const names: string[] = [];
  for (const name in record) names.push(name);
  return names;
}

/**
 * A null-prototype copy of the entries of `record` before `stop` — all string values with lower-case
 * names, so copying them is what adding them would do.
 */
function copyUntil(record: Readonly<Record<string, unknown>>, stop: string): Record<string, string> {
  const out = Object.create(null) as Record<string, string>;
  for (const name in record) {
    if (name === stop) break;
    out[name] = record[name] as string;
  }
  return out;
}

/** The error {@link collectHeaders} (and a front end's own collector) gives past `maxHeaders`. */
export function tooManyHeaders(maxHeaders: number): string {
  return `more than ${maxHeaders} headers`;
}

/** The error {@link collectHeaders} (and a front end's own collector) gives past `maxHeaderBytes`. */
export function headersTooLarge(maxBytes: number): string {
  return `headers larger than ${maxBytes} bytes`;
}

/** Adds one header under its lower-case name, joining a repeated one with `,` as Envoy does. */
export function addHeader(out: Record<string, string>, rawName: string, value: string): void {
  const name = hasUpperCase(rawName) ? rawName.toLowerCase() : rawName;
  const existing = out[name];
  out[name] = existing === undefined ? value : existing + ',' + value;
}

function hasUpperCase(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) return true;
  }
  return false;
}

function nonEmpty(value: string | null | undefined): string | undefined {
  return value === undefined || value === null || value === '' ? undefined : value;
}

function rawQuery(rawPath: string): string {
  const q = rawPath.indexOf('?');
  if (q < 0) return '';
  const hash = rawPath.indexOf('#', q);
  return rawPath.slice(q + 1, hash < 0 ? undefined : hash);
}

function copyStringMap(map: Readonly<Record<string, unknown>> | null | undefined): Readonly<Record<string, string>> {
  // Built at the first string: most Checks carry none, and an empty null-prototype object is a dictionary.
  let out: Record<string, string> | undefined;
  if (map == null) return NO_STRINGS;
  for (const key in map) {
    const value = map[key];
    if (typeof value !== 'string') continue;
    out ??= Object.create(null) as Record<string, string>;
    out[key] = value;
  }
  return out ?? NO_STRINGS;
}

/**
 * `s.toUpperCase()`, but `s` itself when that changes nothing (no ASCII lower-case letter, nothing beyond
 * ASCII): the usual method is already upper-case, and `toUpperCase` answers a new string anyway.
 */
function upperCased(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c >= 0x61 && c <= 0x7a) || c >= 0x80) return s.toUpperCase();
  }
  return s;
}

/** `s.toLowerCase()`, but `s` itself when that changes nothing (as {@link upperCased}). */
function lowerCased(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c >= 0x41 && c <= 0x5a) || c >= 0x80) return s.toLowerCase();
  }
  return s;
}
