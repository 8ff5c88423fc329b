import protobuf from 'protobufjs/minimal.js';
import type {
  CheckRequestMessage,
  CheckResponseObject,
  HeaderValueMessage,
  HeaderValueOptionObject,
  HttpRequestMessage,
  MetadataMessage,
  PeerMessage,
  StructMessage,
  ValueMessage,
} from './check-wire-types.js';
import { ProtoWriter } from './proto-writer.js';
import { GrpcCode, grpcCodeFor } from './to-check-response.js';
import type { RenderedVerdict } from '../core/render-decision.js';

const { Reader } = protobuf;
type ReaderT = protobuf.Reader;

/**
 * Hand-written wire codec for the two messages on the hot path. proto-loader's generic path decodes into a
 * message and then converts it to a plain object (`toObject`), and encodes by first converting the plain
 * object back (`fromObject`); together that was about 9 µs of the ~15 µs idgate spent per Check. These
 * functions read and write the wire format directly, producing and consuming the same plain shapes
 * (`CheckRequestMessage`, `CheckResponseObject`), and only the fields idgate uses.
 *
 * Field numbers are those of Envoy's `envoy.service.auth.v3` protos (cross-checked against upstream in
 * test/extauthz-proto-compat.test.ts; this codec is checked against protobufjs in check-codec.test.ts).
 * A field arriving with an unexpected wire type is skipped like an unknown field; truncated or malformed
 * input throws (the server turns that into a `request_invalid` deny).
 */

// Wire types.
const VARINT = 0;
const I64 = 1;
const LEN = 2;

/** Nesting bound for Struct values in metadata (a hostile message cannot recurse without limit). */
const MAX_STRUCT_DEPTH = 32;

/**
 * Decodes `envoy.service.auth.v3.CheckRequest` bytes (from offset `start` to the end) into the plain object
 * `toRequestContext` reads.
 *
 * Strings that are not valid UTF-8 (proto3 forbids them, but Envoy forwards client header bytes as they
 * are) are decoded with each bad sequence replaced by U+FFFD, as `raw_value` headers are: every string
 * idgate holds is well-formed, and a host, method or path with such bytes is then refused by validation.
 */
export function decodeCheckRequest(bytes: Uint8Array, start = 0): CheckRequestMessage {
  // protobufjs reads strings of a Buffer with Node's decoder (replacing bad sequences); for a plain
  // Uint8Array it would use its own decoder, which can yield lone surrogates. Wrap without copying.
  const r = Reader.create(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  // The message may start inside `bytes` (the HTTP/2 transport hands a gRPC message with its prefix).
  r.pos = start;
  const out: CheckRequestMessage = {};
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag >>> 3 === 1 && (tag & 7) === LEN) out.attributes = decodeAttributes(r, r.uint32());
    else r.skipType(tag & 7);
  }
  return out;
}

type Attributes = NonNullable<CheckRequestMessage['attributes']>;

function decodeAttributes(r: ReaderT, length: number): Attributes {
  return readLenFields<Attributes>(r, length, {}, readAttributeField);
}

function readAttributeField(r: ReaderT, field: number, out: Attributes): boolean {
  switch (field) {
    case 1: out.source = decodePeer(r, r.uint32()); return true;
    case 4: out.request = decodeRequest(r, r.uint32()); return true;
    case 10: out.context_extensions = readMapEntry(r, r.uint32(), out.context_extensions ?? newRecord<string>(), readString, '', 0); return true;
    case 11: out.metadata_context = decodeMetadata(r, r.uint32()); return true;
    default: return false;
  }
}

/**
 * Reads one message of `length` bytes into `out`: each length-delimited field goes to `readField` (a
 * module function: no closure per message), which returns false for a field it does not read; those and
 * fields of other wire types are skipped.
 */
function readLenFields<T>(r: ReaderT, length: number, out: T, readField: (r: ReaderT, field: number, out: T) => boolean): T {
  const end = r.pos + length;
  while (r.pos < end) {
    const tag = r.uint32();
    if ((tag & 7) !== LEN || !readField(r, tag >>> 3, out)) r.skipType(tag & 7);
  }
  return out;
}

function decodePeer(r: ReaderT, length: number): PeerMessage {
  return readLenFields<PeerMessage>(r, length, {}, readPeerField);
}

function readPeerField(r: ReaderT, field: number, out: PeerMessage): boolean {
  if (field === 1) out.address = decodeAddress(r, r.uint32());
  else if (field === 4) out.principal = r.string();
  else return false;
  return true;
}

/** `config.core.v3.Address`: only `socket_address` (1) → `address` (2), `port_value` (3). */
function decodeAddress(r: ReaderT, length: number): NonNullable<PeerMessage['address']> {
  const end = r.pos + length;
  const out: NonNullable<PeerMessage['address']> = {};
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag >>> 3 === 1 && (tag & 7) === LEN) {
      const innerEnd = r.uint32() + r.pos;
      const socket: { address?: string; port_value?: number } = {};
      while (r.pos < innerEnd) {
        const t = r.uint32();
        if (t >>> 3 === 2 && (t & 7) === LEN) socket.address = r.string();
        else if (t >>> 3 === 3 && (t & 7) === VARINT) socket.port_value = r.uint32();
        else r.skipType(t & 7);
      }
      out.socket_address = socket;
    } else {
      r.skipType(tag & 7);
    }
  }
  return out;
}

type RequestAttributes = NonNullable<Attributes['request']>;

function decodeRequest(r: ReaderT, length: number): RequestAttributes {
  return readLenFields<RequestAttributes>(r, length, {}, readRequestField);
}

/** AttributeContext.Request: time (1, a Timestamp {seconds 1, nanos 2}) and http (2). */
function readRequestField(r: ReaderT, field: number, out: RequestAttributes): boolean {
  if (field === 2) {
    out.http = decodeHttp(r, r.uint32());
    return true;
  }
  if (field !== 1) return false;
  const end = r.uint32() + r.pos;
  const time: { seconds?: number; nanos?: number } = {};
  while (r.pos < end) {
    const t = r.uint32();
    if (t >>> 3 === 1 && (t & 7) === VARINT) time.seconds = readInt64(r);
    else if (t >>> 3 === 2 && (t & 7) === VARINT) time.nanos = r.int32();
    else r.skipType(t & 7);
  }
  out.time = time;
  return true;
}

/**
 * A signed 64-bit varint as the nearest double (exact below 2^53, which every real timestamp is).
 * protobufjs's `int64()` builds a Long and its decimal string on every Check; the one reader of the value
 * (`timestampMs`) converts it to a number anyway, and the hi·2^32 + lo sum rounds once, exactly as
 * `Number()` of the decimal string does. Truncated or over-long input throws, as protobufjs does.
 */
function readInt64(r: ReaderT): number {
  const buf = r.buf;
  let pos = r.pos;
  let lo = 0;
  let hi = 0;
  for (let i = 0; i < 10; i++) {
    if (pos >= r.len) throw new RangeError('index out of range');
    const b = (buf[pos++] as number) & 127;
    if (i < 4) lo |= b << (7 * i);
    else if (i === 4) {
      lo |= b << 28;
      hi |= b >>> 4;
    } else hi |= b << (7 * i - 32);
    if (((buf[pos - 1] as number) & 128) === 0) {
      r.pos = pos;
      return (hi | 0) * 4294967296 + (lo >>> 0);
    }
  }
  throw new Error('invalid varint encoding');
}

function decodeHttp(r: ReaderT, length: number): HttpRequestMessage {
  shapeCursor = SHAPE_ROOT;
  shapeLength = 0;
  shapeKnown = true;
  const out = readLenFields<HttpRequestMessage>(r, length, {}, readHttpField);
  if (out.headers != null && shapeCursor === undefined && shapeKnown) admitShape();
  return out;
}

/** One line per field of AttributeContext.HttpRequest idgate reads (query 7, fragment 8, size 9 are not). */
function readHttpField(r: ReaderT, field: number, out: HttpRequestMessage): boolean {
  switch (field) {
    case 1: out.id = r.string(); return true;
    case 2: out.method = r.string(); return true;
    case 3: readHeaderEntry(r, r.uint32(), out); return true;
    case 4: out.path = r.string(); return true;
    case 5: out.host = r.string(); return true;
    case 6: out.scheme = r.string(); return true;
    case 10: out.protocol = r.string(); return true;
    case 11: out.body = r.string(); return true;
    case 12: out.raw_body = r.bytes(); return true;
    case 13: out.header_map = { headers: decodeHeaderMap(r, r.uint32()) }; return true;
    default: return false;
  }
}

/** `config.core.v3.HeaderMap`: repeated HeaderValue {key 1, value 2, raw_value 3}. */
function decodeHeaderMap(r: ReaderT, length: number): HeaderValueMessage[] {
  const end = r.pos + length;
  const out: HeaderValueMessage[] = [];
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag >>> 3 !== 1 || (tag & 7) !== LEN) {
      r.skipType(tag & 7);
      continue;
    }
    const innerEnd = r.uint32() + r.pos;
    const hv: HeaderValueMessage = {};
    while (r.pos < innerEnd) {
      const t = r.uint32();
      const f = t >>> 3;
      if ((t & 7) !== LEN) r.skipType(t & 7);
      else if (f === 1) hv.key = r.string();
      else if (f === 2) hv.value = r.string();
      else if (f === 3) hv.raw_value = r.bytes();
      else r.skipType(LEN);
    }
    out.push(hv);
  }
  return out;
}

/** A null-prototype record, so keys such as `__proto__` are just keys. */
function newRecord<V>(): Record<string, V> {
  return Object.create(null) as Record<string, V>;
}

/** Reads a map entry's value (field 2, positioned at it); `depth` is the nesting of the enclosing message. */
type EntryValueReader<V> = (r: ReaderT, depth: number) => V;

function readString(r: ReaderT): string {
  return r.string();
}

/**
 * Header names Envoy sends on (nearly) every Check, lower-case as it sends them. A name read from the wire
 * whose bytes are one of these is answered with this constant string instead of a fresh one: no UTF-8
 * decode (a native call) per header per Check, and the key is already internalized when it becomes a
 * property of the headers map (a fresh string has to be looked up in V8's string table there) — ~1 µs of the
 * bench request's ~3.5 µs decode (bench/README.md, "Hot path, fourth round"). Fixed at build time, so a
 * client's own header names cannot grow it.
 */
export const COMMON_HEADER_NAMES: readonly string[] = [
  ':authority', ':method', ':path', ':scheme', 'accept', 'accept-encoding', 'accept-language', 'authorization',
  'cache-control', 'content-length', 'content-type', 'cookie', 'host', 'origin', 'referer', 'traceparent',
  'tracestate', 'user-agent', 'x-b3-sampled', 'x-b3-spanid', 'x-b3-traceid', 'x-envoy-attempt-count',
  'x-envoy-expected-rq-timeout-ms', 'x-envoy-external-address', 'x-envoy-internal', 'x-envoy-peer-metadata',
  'x-envoy-peer-metadata-id', 'x-forwarded-client-cert', 'x-forwarded-for', 'x-forwarded-host',
  'x-forwarded-proto', 'x-real-ip', 'x-request-id',
];

/** Slots of {@link COMMON_HEADER_NAMES} by {@link nameSlot}: each name with its ASCII bytes. */
const NAME_SLOTS = 64;
const HEADER_NAME_TABLE: readonly (readonly { readonly name: string; readonly bytes: Buffer; readonly index: number }[])[] = ((): { name: string; bytes: Buffer; index: number }[][] => {
  const table: { name: string; bytes: Buffer; index: number }[][] = Array.from({ length: NAME_SLOTS }, () => []);
  COMMON_HEADER_NAMES.forEach((name, index) => {
    const bytes = Buffer.from(name, 'latin1');
    table[nameSlot(bytes, 0, bytes.length)]!.push({ name, bytes, index });
  });
  return table;
})();

/** The {@link COMMON_HEADER_NAMES} index of the name {@link readHeaderName} last answered, -1 for any other name. */
let nameIndex = -1;

/** A cheap hash of a name's length and last two bytes (the first bytes are shared prefixes: `x-`, `:`, `accept`). */
function nameSlot(buf: Uint8Array, start: number, length: number): number {
  return (length * 7 + (buf[start + length - 1] as number) * 3 + (buf[start + length - 2] ?? 0)) & (NAME_SLOTS - 1);
}

/**
 * A header map key: one of {@link COMMON_HEADER_NAMES} when the bytes are exactly that name, else
 * `r.string()` exactly as before (the same string: those names are ASCII; a truncated or longer field goes
 * the ordinary way, with protobufjs's own handling).
 */
function readHeaderName(r: ReaderT): string {
  nameIndex = -1;
  const at = r.pos;
  const length = r.uint32();
  const start = r.pos;
  if (length >= 2 && start + length <= r.len) {
    const buf = r.buf;
    for (const entry of HEADER_NAME_TABLE[nameSlot(buf, start, length)] as (typeof HEADER_NAME_TABLE)[number]) {
      const bytes = entry.bytes;
      if (bytes.length !== length) continue;
      let i = 0;
      while (i < length && buf[start + i] === bytes[i]) i++;
      if (i === length) {
        r.pos = start + length;
        nameIndex = entry.index;
        return entry.name;
      }
    }
  }
  r.pos = at;
  return r.string();
}

/**
 * One `map<string, V>` entry {key 1, value 2} into `map` (returned); a missing value is `absent`, and the
 * last duplicate key wins, as in protobuf. `readValue` is a module function, not a closure. (The request's
 * headers have their own reader, {@link readHeaderEntry}.)
 */
function readMapEntry<V>(r: ReaderT, length: number, map: Record<string, V>, readValue: EntryValueReader<V>, absent: V, depth: number): Record<string, V> {
  const end = r.pos + length;
  let key = '';
  let value = absent;
  while (r.pos < end) {
    const t = r.uint32();
    if ((t & 7) !== LEN) r.skipType(t & 7);
    else if (t >>> 3 === 1) key = r.string();
    else if (t >>> 3 === 2) value = readValue(r, depth);
    else r.skipType(LEN);
  }
  map[key] = value;
  return map;
}

/**
 * One entry of the request's `headers` map, its name also listed in `header_names` the first time it is
 * seen. A `for…in` over the map collects (and, for a dictionary, sorts) its keys (~1 µs per enumeration of
 * ~20 headers, and the request context enumerated it on every Check); the list gives the same names in the
 * same order. Keys that look like array indexes are enumerated first, in numeric order, not in insertion
 * order: a name starting with a digit drops the list (`null`), and readers enumerate the map as before.
 *
 * The map is a {@link newHeaderRecord} (fast properties) while its names so far follow an admitted shape
 * ({@link SHAPE_ROOT}), else a dictionary ({@link newRecord}): at the first name off the shape its entries are
 * copied, in order, into a dictionary, which takes the rest. Either way the same keys, values and order,
 * with no prototype; the last duplicate wins, as in protobuf.
 */
function readHeaderEntry(r: ReaderT, length: number, out: HttpRequestMessage): void {
  let map = out.headers;
  let names = out.header_names ?? null;
  if (map == null) {
    map = out.headers = shapeCursor !== undefined ? newHeaderRecord() : newRecord<string>();
    names = out.header_names = [];
  }
  const end = r.pos + length;
  let key = '';
  let index = -1;
  let value = '';
  while (r.pos < end) {
    const t = r.uint32();
    if ((t & 7) !== LEN) r.skipType(t & 7);
    else if (t >>> 3 === 1) {
      key = readHeaderName(r);
      index = nameIndex;
    } else if (t >>> 3 === 2) value = r.string();
    else r.skipType(LEN);
  }
  if (map[key] === undefined) {
    if (index >= 0 && shapeLength < MAX_SHAPE_NAMES) shapeNames[shapeLength++] = index;
    else shapeKnown = false;
    if (shapeCursor !== undefined) {
      shapeCursor = index >= 0 ? shapeCursor.next[index] : undefined;
      // Off every admitted shape: the rest goes into a dictionary. (A name off the shape is never a digit
      // name's: those are not common names, so `names` is still the full list of the record's keys here.)
      if (shapeCursor === undefined) map = out.headers = toDictionary(map, names as string[]);
    }
    if (names !== null) {
      names.push(key);
      const first = key.charCodeAt(0);
      if (first >= 0x30 && first <= 0x39) out.header_names = null;
    }
  }
  map[key] = value;
}

/**
 * Header records with fast properties. A null-prototype dictionary (`Object.create(null)`) regrows its hash
 * table as each header is added — ~1.7 KB and ~2.5 µs for a 13-header request, more than the rest of the
 * decode —, where an object with fast properties takes them in its own slots along V8's map transitions
 * (~150 bytes). Those maps, though, are made per distinct sequence of names and live in the old generation:
 * a client sending fresh header names would have every Check make new ones (measured: 3× the CPU, ~1–2 KB of
 * old-generation garbage per Check). So a record is built with fast properties only along a **shape** —
 * a sequence of {@link COMMON_HEADER_NAMES} (fixed at build time) — admitted into a bounded trie: at most
 * {@link MAX_SHAPE_NODES} names in all, first come, never evicted; each admitted shape keeps one template
 * record, so its maps stay alive and are made once. A request with any other name, a name sequence not
 * admitted, or the trie full, is decoded into a dictionary exactly as before.
 */
class HeaderRecord {}

function newHeaderRecord(): Record<string, string> {
  return Object.setPrototypeOf(new HeaderRecord(), null) as Record<string, string>;
}

/** Most names of one shape, and most trie nodes (names) over all shapes. */
const MAX_SHAPE_NAMES = 48;
const MAX_SHAPE_NODES = 512;

/** A node of the shape trie: the names admitted after this prefix, by {@link COMMON_HEADER_NAMES} index. */
interface ShapeNode {
  readonly next: (ShapeNode | undefined)[];
  /** A record of exactly this shape (empty values), held so that its maps are kept, on a shape's last node. */
  template?: Record<string, string>;
}

function newShapeNode(): ShapeNode {
  return { next: new Array<ShapeNode | undefined>(COMMON_HEADER_NAMES.length).fill(undefined) };
}

const SHAPE_ROOT: ShapeNode = newShapeNode();
let shapeNodes = 0;

/**
 * The decode of one request's headers, synchronous and never re-entered: the trie node of the names so far
 * (undefined once off every shape), the names' indexes, and whether they can form a shape (all common, at
 * most {@link MAX_SHAPE_NAMES}).
 */
let shapeCursor: ShapeNode | undefined;
const shapeNames = new Uint8Array(MAX_SHAPE_NAMES);
let shapeLength = 0;
let shapeKnown = true;

/** How many names the shape trie holds (at most {@link MAX_SHAPE_NODES}); for tests. */
export function headerShapeNodes(): number {
  return shapeNodes;
}

/** A null-prototype dictionary with `record`'s entries, in `names` order (its keys, each once). */
function toDictionary(record: Record<string, string>, names: readonly string[]): Record<string, string> {
  const out = newRecord<string>();
  for (let i = 0; i < names.length; i++) {
    const name = names[i] as string;
    out[name] = record[name] as string;
  }
  return out;
}

/**
 * Admits the shape of the request just decoded (its headers all common names, the record a dictionary
 * because the shape was not in the trie) when the trie has room for its missing nodes; the next request
 * with this shape gets a fast record.
 */
function admitShape(): void {
  let node = SHAPE_ROOT;
  let missing = 0;
  for (let i = 0; i < shapeLength; i++) {
    const next = node.next[shapeNames[i] as number];
    if (next === undefined) {
      missing = shapeLength - i;
      break;
    }
    node = next;
  }
  if (missing === 0 || shapeNodes + missing > MAX_SHAPE_NODES) return;
  shapeNodes += missing;
  node = SHAPE_ROOT;
  const template = newHeaderRecord();
  for (let i = 0; i < shapeLength; i++) {
    const index = shapeNames[i] as number;
    node = node.next[index] ??= newShapeNode();
    template[COMMON_HEADER_NAMES[index] as string] = '';
  }
  node.template = template;
}

/** A message whose one field idgate reads is `map<string, V>` number 1: Metadata, Struct. */
function readMapMessage<V>(r: ReaderT, length: number, readValue: EntryValueReader<V>, absent: V, depth: number): Record<string, V> {
  const end = r.pos + length;
  const map = newRecord<V>();
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag >>> 3 === 1 && (tag & 7) === LEN) readMapEntry(r, r.uint32(), map, readValue, absent, depth);
    else r.skipType(tag & 7);
  }
  return map;
}

/** What an entry without a value decodes to; frozen, as decoded messages are only read. */
const EMPTY_STRUCT: StructMessage = Object.freeze({});
const EMPTY_VALUE: ValueMessage = Object.freeze({});

/** `config.core.v3.Metadata`: `filter_metadata` (1) map<string, Struct>. */
function decodeMetadata(r: ReaderT, length: number): MetadataMessage {
  return { filter_metadata: readMapMessage(r, length, readTopStruct, EMPTY_STRUCT, 0) };
}

function readTopStruct(r: ReaderT): StructMessage {
  return decodeStruct(r, r.uint32(), 0);
}

function decodeStruct(r: ReaderT, length: number, depth: number): StructMessage {
  if (depth > MAX_STRUCT_DEPTH) throw new Error('metadata Struct nested too deeply');
  return { fields: readMapMessage(r, length, readFieldValue, EMPTY_VALUE, depth) };
}

/** A Struct field's Value, one level below its Struct. */
function readFieldValue(r: ReaderT, depth: number): ValueMessage {
  return decodeValue(r, r.uint32(), depth + 1);
}

/** `google.protobuf.Value` (oneof kind): null 1, number 2, string 3, bool 4, struct 5, list 6. */
function decodeValue(r: ReaderT, length: number, depth: number): ValueMessage {
  if (depth > MAX_STRUCT_DEPTH) throw new Error('metadata Value nested too deeply');
  const end = r.pos + length;
  let out: ValueMessage = {};
  while (r.pos < end) {
    const tag = r.uint32();
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field === 1 && wire === VARINT) out = { nullValue: r.int32() };
    else if (field === 2 && wire === I64) out = { numberValue: r.double() };
    else if (field === 3 && wire === LEN) out = { stringValue: r.string() };
    else if (field === 4 && wire === VARINT) out = { boolValue: r.bool() };
    else if (field === 5 && wire === LEN) out = { structValue: decodeStruct(r, r.uint32(), depth + 1) };
    else if (field === 6 && wire === LEN) {
      const listEnd = r.uint32() + r.pos;
      const values: ValueMessage[] = [];
      while (r.pos < listEnd) {
        const t = r.uint32();
        if (t >>> 3 === 1 && (t & 7) === LEN) values.push(decodeValue(r, r.uint32(), depth + 1));
        else r.skipType(t & 7);
      }
      out = { listValue: { values } };
    } else r.skipType(wire);
  }
  return out;
}

/** The writer of every CheckResponse (encoding is synchronous, so one is enough). */
const writer = new ProtoWriter();

/**
 * Encodes `envoy.service.auth.v3.CheckResponse` from the plain object `toCheckResponse` builds:
 * status (1), denied_response (2), ok_response (3), dynamic_metadata (4). `status` is always written (with
 * `code` explicitly, also 0), and every `append` wrapper is written with its value, as protobufjs does —
 * the bytes are protobufjs's (check-codec.test.ts). Every string field is valid UTF-8: a lone surrogate,
 * which protobufjs would write as three bytes that are not UTF-8 and a strict reader (libprotobuf, in
 * Envoy) would fail the whole RPC on, is written as U+FFFD (see {@link ProtoWriter}).
 */
export function encodeCheckResponse(response: CheckResponseObject): Buffer {
  const w = writer.reset();
  writeStatus(w, response.status.code, response.status.message);
  if (response.denied_response) {
    const d = response.denied_response;
    w.open(2);
    writeHttpStatus(w, d.status.code);
    for (const h of d.headers) writeHeaderOption(w, 2, h.header.key, h.header.value, h.append?.value);
    w.string(3, d.body);
    w.close();
  }
  if (response.ok_response) {
    const ok = response.ok_response;
    w.open(3);
    for (const h of ok.headers) writeHeaderOption(w, 2, h.header.key, h.header.value, h.append?.value);
    for (const name of ok.headers_to_remove) w.string(5, name);
    w.close();
  }
  w.open(4);
  const fields = response.dynamic_metadata.fields;
  for (const key in fields) {
    const value = fields[key]!;
    writeStructField(w, key, 'stringValue' in value ? value.stringValue : 'numberValue' in value ? value.numberValue : value.boolValue);
  }
  w.close();
  return w.finish();
}

/**
 * Encodes the CheckResponse of a rendered verdict: the same bytes as
 * `encodeCheckResponse(toCheckResponse(verdict))` (check-codec.test.ts), without building the
 * intermediate object — per Check that was a wrapper object for every header, every `append` and every
 * metadata value, all garbage the moment they were encoded.
 */
export function encodeVerdictResponse(verdict: RenderedVerdict): Buffer {
  const w = writer.reset();
  if (verdict.allow) {
    writeStatus(w, GrpcCode.OK, undefined);
    w.open(3);
    for (const [key, value] of verdict.upstreamHeaders) writeHeaderOption(w, 2, key, value, false);
    for (const name of verdict.removeHeaders) w.string(5, name);
    w.close();
  } else {
    writeStatus(w, grpcCodeFor(verdict.status), verdict.code);
    w.open(2);
    writeHttpStatus(w, verdict.status);
    for (const [key, value] of verdict.headers) writeHeaderOption(w, 2, key, value, undefined);
    w.string(3, verdict.body);
    w.close();
  }
  w.open(4);
  const metadata = verdict.metadata;
  for (const key in metadata) {
    const value = metadata[key];
    // As toStruct: only string, number and boolean values become fields.
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') writeStructField(w, key, value);
  }
  w.close();
  return w.finish();
}

/** `status` (1): google.rpc.Status { code 1 (always written), message 2 }. */
function writeStatus(w: ProtoWriter, code: number, message: string | undefined): void {
  w.open(1).int32(1, code);
  if (message !== undefined) w.string(2, message);
  w.close();
}

/** DeniedHttpResponse `status` (1): envoy.type.v3.HttpStatus { code 1 (enum) }. */
function writeHttpStatus(w: ProtoWriter, code: number): void {
  w.open(1).int32(1, code).close();
}

/**
 * `config.core.v3.HeaderValueOption` { header 1: HeaderValue { key 1, value 2 }, append 2: BoolValue
 * { value 1 } }; no `append` when undefined.
 */
function writeHeaderOption(w: ProtoWriter, field: number, key: string, value: string, append: boolean | undefined): void {
  w.open(field);
  w.open(1).string(1, key).string(2, value).close();
  if (append !== undefined) w.open(2).bool(1, append).close();
  w.close();
}

/** One `google.protobuf.Struct` map entry (field 1) { key 1, value 2: Value { number 2 | string 3 | bool 4 } }. */
function writeStructField(w: ProtoWriter, key: string, value: string | number | boolean): void {
  w.open(1).string(1, key).open(2);
  if (typeof value === 'string') w.string(3, value);
  else if (typeof value === 'number') w.double(2, value);
  else w.bool(4, value);
  w.close().close();
}
