import { canonicalizePath } from '../core/canonical-path.js';
import type { RequestContext } from '../core/request-context.js';

/**
 * The subset of a decoded `envoy.service.auth.v3.CheckRequest` this module reads, as produced by
 * @grpc/proto-loader with `keepCase: true, longs: String, defaults: false, oneofs: true` (absent fields are
 * `undefined`; bytes are Buffers; `google.protobuf.Struct`/`Value` keep protobufjs's camelCase names).
 */
export interface CheckRequestMessage {
  attributes?: {
    source?: PeerMessage | null;
    destination?: PeerMessage | null;
    request?: {
      time?: { seconds?: string | number | null; nanos?: number | null } | null;
      http?: HttpRequestMessage | null;
    } | null;
    context_extensions?: Record<string, string> | null;
    metadata_context?: MetadataMessage | null;
    route_metadata_context?: MetadataMessage | null;
    tls_session?: { sni?: string | null } | null;
  } | null;
}

/** `AttributeContext.Peer`: only `address` and `principal` are read. */
export interface PeerMessage {
  address?: { socket_address?: { address?: string | null; port_value?: number | null } | null } | null;
  principal?: string | null;
}

/** `AttributeContext.HttpRequest` as decoded (query/fragment/size are not declared in our proto). */
export interface HttpRequestMessage {
  id?: string | null;
  method?: string | null;
  headers?: Record<string, string> | null;
  header_map?: { headers?: readonly HeaderValueMessage[] | null } | null;
  path?: string | null;
  host?: string | null;
  scheme?: string | null;
  protocol?: string | null;
  body?: string | null;
  raw_body?: Uint8Array | null;
}

/** `config.core.v3.HeaderValue`: Envoy fills `raw_value` in `header_map`; `value` is read as a fallback. */
export interface HeaderValueMessage {
  key?: string | null;
  value?: string | null;
  raw_value?: Uint8Array | null;
}

/** `config.core.v3.Metadata`: namespace → Struct. */
export interface MetadataMessage {
  filter_metadata?: Record<string, StructMessage> | null;
}

/** protobufjs's `google.protobuf.Struct` object form (camelCase even with keepCase). */
export interface StructMessage {
  fields?: Record<string, ValueMessage> | null;
}

/** protobufjs's `google.protobuf.Value` object form: exactly one member is set. */
export interface ValueMessage {
  nullValue?: number | string | null;
  numberValue?: number | null;
  stringValue?: string | null;
  boolValue?: boolean | null;
  structValue?: StructMessage | null;
  listValue?: { values?: readonly ValueMessage[] | null } | null;
}

/** Work bounds for one CheckRequest; beyond them the request is refused (`request_invalid`), not processed. */
export interface RequestLimits {
  /** Most header entries considered (default 200). */
  readonly maxHeaders?: number;
  /** Most total header name + value length, in characters/bytes (default 64 KiB). */
  readonly maxHeaderBytes?: number;
  /** Deepest Struct nesting converted from Envoy metadata; deeper values are dropped (default 16). */
  readonly maxMetadataDepth?: number;
}

/** `ok: false` means the request is too garbled (or too large) to evaluate; the front end denies it (400). */
export type ToRequestContextResult =
  | { readonly ok: true; readonly value: RequestContext }
  | { readonly ok: false; readonly error: string };

const DEFAULT_MAX_HEADERS = 200;
const DEFAULT_MAX_HEADER_BYTES = 64 * 1024;
const DEFAULT_MAX_DEPTH = 16;
const utf8 = new TextDecoder('utf-8', { fatal: false });
const utf8Encoder = new TextEncoder();

/**
 * Turns a decoded CheckRequest into the engine's {@link RequestContext}.
 *
 * Headers: names lower-cased; from `headers` (3), or when that is empty from `header_map` (13) with
 * `raw_value` decoded as UTF-8 (invalid bytes replaced) and repeated names joined with `,`. Method from
 * `http.method` (else `:method`), upper-cased. Host from `http.host` (else `:authority`), lower-cased, port
 * split off (`[::1]:8080` → host `[::1]`, port 8080), one trailing dot dropped; it must be valid authority
 * syntax ({@link parseAuthority}). Path canonicalised with
 * {@link canonicalizePath}; a bad path sets `pathError` (the engine denies `path_invalid`). Peer address and
 * principal from `source`; metadata Structs become plain JSON; `requestId` is `x-request-id`, else Envoy's
 * stream id; `receivedAt` from `request.time`, else `now`; body from `raw_body`, else `body`.
 *
 * @param now epoch ms, used when the request carries no time.
 * @returns `{ ok: false, error }` when `attributes`, `request` or `http` is missing, the method is empty,
 *   the host is missing or not valid authority syntax, or the header limits are exceeded. Never throws.
 */
export function toRequestContext(
  message: CheckRequestMessage | null | undefined,
  now: number,
  limits: RequestLimits = {},
): ToRequestContextResult {
  const attributes = message?.attributes;
  if (attributes == null) return { ok: false, error: 'missing attributes' };
  const http = attributes.request?.http;
  if (http == null) return { ok: false, error: 'missing request.http attributes' };

  const headers = collectHeaders(http, limits.maxHeaders ?? DEFAULT_MAX_HEADERS, limits.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES);
  if (typeof headers === 'string') return { ok: false, error: headers };

  const method = (nonEmpty(http.method) ?? headers[':method'] ?? '').toUpperCase();
  if (method === '') return { ok: false, error: 'missing method' };

  const rawPath = nonEmpty(http.path) ?? headers[':path'] ?? '';
  const canonical = canonicalizePath(rawPath);
  const authority = parseAuthority(nonEmpty(http.host) ?? headers[':authority'] ?? headers['host'] ?? '');
  if ('error' in authority) return { ok: false, error: authority.error };
  const source = attributes.source;

  const ctx: {
    -readonly [K in keyof RequestContext]: RequestContext[K];
  } = {
    method,
    scheme: (nonEmpty(http.scheme) ?? headers[':scheme'] ?? '').toLowerCase(),
    host: authority.host,
    path: canonical.ok ? canonical.path : '',
    rawPath,
    query: canonical.ok ? canonical.query : rawQuery(rawPath),
    headers,
    sourceAddress: source?.address?.socket_address?.address ?? '',
    sourcePrincipal: source?.principal ?? '',
    contextExtensions: copyStringMap(attributes.context_extensions),
    metadata: convertMetadata(attributes.metadata_context, limits.maxMetadataDepth ?? DEFAULT_MAX_DEPTH),
    requestId: headers['x-request-id'] ?? nonEmpty(http.id) ?? '',
    protocol: http.protocol ?? '',
    receivedAt: timestampMs(attributes.request?.time) ?? now,
  };
  if (authority.port !== undefined) ctx.port = authority.port;
  if (!canonical.ok) ctx.pathError = canonical.reason;
  else if (canonical.pathParameters !== undefined) ctx.pathParameters = canonical.pathParameters;
  const body = requestBody(http);
  if (body !== undefined) ctx.body = body;
  return { ok: true, value: ctx };
}

function nonEmpty(value: string | null | undefined): string | undefined {
  return value === undefined || value === null || value === '' ? undefined : value;
}

/** Returns the header record, or an error string when limits are exceeded. */
function collectHeaders(
  http: HttpRequestMessage,
  maxHeaders: number,
  maxBytes: number,
): Record<string, string> | string {
  // A null-prototype record, so names such as `constructor` or `__proto__` are just headers.
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  let count = 0;
  let bytes = 0;
  const map = http.headers;
  if (map != null) {
    for (const rawName in map) {
      const value = map[rawName];
      if (typeof value !== 'string') continue;
      if (++count > maxHeaders) return `more than ${maxHeaders} headers`;
      bytes += rawName.length + value.length;
      if (bytes > maxBytes) return `headers larger than ${maxBytes} bytes`;
      addHeader(out, rawName, value);
    }
  }
  const list = http.header_map?.headers;
  if (count === 0 && list != null) {
    for (const entry of list) {
      const rawName = entry.key;
      if (typeof rawName !== 'string' || rawName === '') continue;
      if (++count > maxHeaders) return `more than ${maxHeaders} headers`;
      const raw = entry.raw_value;
      // Check the size before decoding so a huge value costs no work.
      const size = raw != null && raw.length > 0 ? raw.length : (entry.value ?? '').length;
      bytes += rawName.length + size;
      if (bytes > maxBytes) return `headers larger than ${maxBytes} bytes`;
      const value = raw != null && raw.length > 0 ? utf8.decode(raw) : (entry.value ?? '');
      addHeader(out, rawName, value);
    }
  }
  return out;
}

function addHeader(out: Record<string, string>, rawName: string, value: string): void {
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

const MAX_HOST_LENGTH = 253;
const DNS_LABEL = /^[a-z0-9_-]{1,63}$/;
const IPV6_LITERAL = /^\[[0-9a-f:.]*:[0-9a-f:.]*\]$/;

/**
 * Host (lower-case, no port, one trailing dot dropped) and port of an authority, or an error when it is not
 * valid authority syntax for an HTTP request: empty; userinfo (`x@admin.example.com`); percent-encoding
 * (`admin.example.com%2e`); backslashes, spaces, controls or other characters outside letters, digits,
 * `-`, `_` and `.`; empty labels (`a..b`, `.a`); a label over 63 or a name over 253 characters; an IPv6
 * address without brackets; a port that is not 1–65535. Routes match hosts exactly, so a host the matchers
 * do not recognise must not fall through to a later (catch-all) route while the upstream reads it as
 * another host.
 */
export function parseAuthority(authority: string): { host: string; port?: number } | { error: string } {
  const lower = authority.toLowerCase();
  let host: string;
  let portText: string | undefined;
  if (lower.startsWith('[')) {
    const close = lower.indexOf(']');
    if (close < 0) return { error: 'invalid host: unclosed IPv6 literal' };
    host = lower.slice(0, close + 1);
    const rest = lower.slice(close + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) return { error: 'invalid host: characters after the IPv6 literal' };
      portText = rest.slice(1);
    }
    if (!IPV6_LITERAL.test(host)) return { error: 'invalid host: malformed IPv6 literal' };
  } else {
    const colon = lower.indexOf(':');
    if (colon >= 0) {
      if (lower.indexOf(':', colon + 1) >= 0) return { error: 'invalid host: an IPv6 address must be in brackets' };
      portText = lower.slice(colon + 1);
      host = lower.slice(0, colon);
    } else {
      host = lower;
    }
    if (host.endsWith('.')) host = host.slice(0, -1);
    if (host === '') return { error: 'missing host' };
    if (host.length > MAX_HOST_LENGTH) return { error: 'invalid host: longer than 253 characters' };
    for (const label of host.split('.')) {
      if (!DNS_LABEL.test(label)) return { error: 'invalid host: not a host name or IP address' };
    }
  }
  // RFC 3986 §3.2.3 allows an empty port ("host:"): it means the default.
  if (portText === undefined || portText === '') return { host };
  if (!/^[0-9]{1,5}$/.test(portText)) return { error: 'invalid host: bad port' };
  const port = Number(portText);
  if (port < 1 || port > 65535) return { error: 'invalid host: port out of range' };
  return { host, port };
}

function rawQuery(rawPath: string): string {
  const q = rawPath.indexOf('?');
  if (q < 0) return '';
  const hash = rawPath.indexOf('#', q);
  return rawPath.slice(q + 1, hash < 0 ? undefined : hash);
}

function copyStringMap(map: Record<string, string> | null | undefined): Record<string, string> {
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  if (map == null) return out;
  for (const key in map) {
    const value = map[key];
    if (typeof value === 'string') out[key] = value;
  }
  return out;
}

function convertMetadata(
  metadata: MetadataMessage | null | undefined,
  maxDepth: number,
): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = Object.create(null) as Record<string, Record<string, unknown>>;
  const namespaces = metadata?.filter_metadata;
  if (namespaces == null) return out;
  for (const ns in namespaces) {
    const struct = namespaces[ns];
    if (struct != null) out[ns] = structToJson(struct, maxDepth);
  }
  return out;
}

/** `google.protobuf.Struct` (protobufjs object form) → plain JSON object. */
export function structToJson(struct: StructMessage, maxDepth = DEFAULT_MAX_DEPTH): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const fields = struct.fields;
  if (fields == null || maxDepth <= 0) return out;
  for (const key in fields) {
    const value = fields[key];
    if (value == null) continue;
    const json = valueToJson(value, maxDepth - 1);
    if (json !== undefined) defineKey(out, key, json);
  }
  return out;
}

function valueToJson(value: ValueMessage, depth: number): unknown {
  if (value.stringValue != null) return value.stringValue;
  if (value.numberValue != null) return value.numberValue;
  if (value.boolValue != null) return value.boolValue;
  if (value.structValue != null) return depth > 0 ? structToJson(value.structValue, depth) : undefined;
  if (value.listValue != null) {
    if (depth <= 0) return undefined;
    const items: unknown[] = [];
    for (const item of value.listValue.values ?? []) {
      const json = valueToJson(item, depth - 1);
      items.push(json === undefined ? null : json);
    }
    return items;
  }
  if (value.nullValue != null) return null;
  return undefined;
}

/** Plain assignment would turn a `__proto__` key into a prototype change. */
function defineKey(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    target[key] = value;
  }
}

function timestampMs(time: { seconds?: string | number | null; nanos?: number | null } | null | undefined): number | undefined {
  if (time == null || time.seconds == null) return undefined;
  const seconds = Number(time.seconds);
  const nanos = Number(time.nanos ?? 0);
  if (!Number.isFinite(seconds) || !Number.isFinite(nanos) || seconds <= 0) return undefined;
  const ms = seconds * 1000 + Math.floor(nanos / 1e6);
  return Number.isSafeInteger(ms) ? ms : undefined;
}

function requestBody(http: HttpRequestMessage): Uint8Array | undefined {
  const raw = http.raw_body;
  if (raw != null && raw.length > 0) return raw;
  const text = http.body;
  if (typeof text === 'string' && text !== '') return utf8Encoder.encode(text);
  return undefined;
}
