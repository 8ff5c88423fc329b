import {
  addHeader,
  buildRequestContext,
  collectHeaders,
  DEFAULT_MAX_HEADER_BYTES,
  DEFAULT_MAX_HEADERS,
  headersTooLarge,
  tooManyHeaders,
  type BuildRequestContextResult,
  type RequestLimits,
} from '../core/build-request-context.js';
import type { CheckRequestMessage, HttpRequestMessage, MetadataMessage, StructMessage, ValueMessage } from './check-wire-types.js';

const DEFAULT_MAX_DEPTH = 16;
const utf8 = new TextDecoder('utf-8', { fatal: false });
const utf8Encoder = new TextEncoder();

/**
 * Turns a decoded CheckRequest into the engine's {@link RequestContext}: reads Envoy's fields and hands
 * them to {@link buildRequestContext}, which validates and canonicalises them as for every front end.
 *
 * Envoy-specific here: headers from `headers` (3), or when that is empty from `header_map` (13) with
 * `raw_value` decoded as UTF-8 (invalid bytes replaced) and repeated names joined with `,`, both within
 * `limits`; peer address and principal from `source`; metadata Structs become plain JSON (at most
 * `maxMetadataDepth` deep); the proxy's request id is Envoy's stream id; `receivedAt` from
 * `request.time`, else `now`; body from `raw_body`, else `body`.
 *
 * @param now epoch ms, used when the request carries no time.
 * @returns `{ ok: false, error }` when `attributes`, `request` or `http` is missing, the header limits are
 *   exceeded, or {@link buildRequestContext} refuses the request. Never throws.
 */
export function toRequestContext(
  message: CheckRequestMessage | null | undefined,
  now: number,
  limits: RequestLimits = {},
): BuildRequestContextResult {
  const attributes = message?.attributes;
  if (attributes == null) return { ok: false, error: 'missing attributes' };
  const http = attributes.request?.http;
  if (http == null) return { ok: false, error: 'missing request.http attributes' };

  const headers = envoyHeaders(http, limits);
  if (typeof headers === 'string') return { ok: false, error: headers };
  const source = attributes.source;
  return buildRequestContext({
    method: http.method ?? '',
    scheme: http.scheme ?? '',
    host: http.host ?? '',
    path: http.path ?? '',
    headers,
    // The codec's list holds only for its own map, handed on unchanged.
    headerNames: headers === http.headers ? http.header_names : undefined,
    sourceAddress: source?.address?.socket_address?.address ?? '',
    sourcePrincipal: source?.principal ?? '',
    contextExtensions: attributes.context_extensions,
    metadata: convertMetadata(attributes.metadata_context, limits.maxMetadataDepth ?? DEFAULT_MAX_DEPTH),
    requestId: http.id ?? '',
    protocol: http.protocol ?? '',
    receivedAt: timestampMs(attributes.request?.time) ?? now,
    body: requestBody(http),
  });
}

/** The header record, or an error string when limits are exceeded. */
function envoyHeaders(http: HttpRequestMessage, limits: RequestLimits): Record<string, string> | string {
  // The codec's headers map is fresh per request and not used after this: no copy when none is needed,
  // and read by the names the codec listed (no enumeration of the dictionary).
  const out = collectHeaders(http.headers, limits, { reuseNullPrototype: true, names: http.header_names });
  const list = http.header_map?.headers;
  if (typeof out === 'string' || list == null || hasAny(out)) return out;
  // Headers are added below: the codec's list of names no longer covers them.
  http.header_names = null;
  const maxHeaders = limits.maxHeaders ?? DEFAULT_MAX_HEADERS;
  const maxBytes = limits.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
  let count = 0;
  let bytes = 0;
  for (const entry of list) {
    const rawName = entry.key;
    if (typeof rawName !== 'string' || rawName === '') continue;
    if (++count > maxHeaders) return tooManyHeaders(maxHeaders);
    const raw = entry.raw_value;
    // Check the size before decoding so a huge value costs no work.
    const size = raw != null && raw.length > 0 ? raw.length : (entry.value ?? '').length;
    bytes += rawName.length + size;
    if (bytes > maxBytes) return headersTooLarge(maxBytes);
    const value = raw != null && raw.length > 0 ? utf8.decode(raw) : (entry.value ?? '');
    addHeader(out, rawName, value);
  }
  return out;
}

function hasAny(record: Record<string, string>): boolean {
  for (const _name in record) return true;
  return false;
}

/** The namespaces as plain JSON; undefined when there are none (the request context then shares an empty one). */
function convertMetadata(
  metadata: MetadataMessage | null | undefined,
  maxDepth: number,
): Record<string, Record<string, unknown>> | undefined {
  const namespaces = metadata?.filter_metadata;
  if (namespaces == null) return undefined;
  let out: Record<string, Record<string, unknown>> | undefined;
  for (const ns in namespaces) {
    const struct = namespaces[ns];
    if (struct == null) continue;
    out ??= Object.create(null) as Record<string, Record<string, unknown>>;
    out[ns] = structToJson(struct, maxDepth);
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
