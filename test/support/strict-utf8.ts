/**
 * A strict reader for the string fields of an encoded `envoy.service.auth.v3.CheckResponse`: libprotobuf (as
 * in Envoy) refuses to parse a proto3 `string` field that is not valid UTF-8, while protobufjs silently
 * replaces bad bytes, so the ordinary test client cannot see the difference. Walks only the fields idgate
 * writes (status message, denied headers and body, ok headers and headers_to_remove, dynamic_metadata).
 */

const strict = new TextDecoder('utf-8', { fatal: true });

type Schema = { readonly [field: number]: 'string' | Schema | undefined };

const HEADER_VALUE: Schema = { 1: 'string', 2: 'string' };
const HEADER_VALUE_OPTION: Schema = { 1: HEADER_VALUE };
const VALUE: Record<number, Schema[number]> = { 3: 'string' };
const STRUCT: Schema = { 1: { 1: 'string', 2: VALUE } };
VALUE[5] = STRUCT;
VALUE[6] = { 1: VALUE };
const CHECK_RESPONSE: Schema = {
  1: { 2: 'string' },
  2: { 2: HEADER_VALUE_OPTION, 3: 'string' },
  3: { 2: HEADER_VALUE_OPTION, 5: 'string', 6: HEADER_VALUE_OPTION },
  4: STRUCT,
};

/** The dotted field paths of every string field whose bytes are not valid UTF-8 (empty = all valid). */
export function invalidUtf8Fields(bytes: Uint8Array): string[] {
  const bad: string[] = [];
  walk(bytes, 0, bytes.length, CHECK_RESPONSE, '', bad);
  return bad;
}

function walk(buf: Uint8Array, start: number, end: number, schema: Schema, path: string, bad: string[]): void {
  let pos = start;
  const varint = (): number => {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (pos >= end) throw new Error(`truncated varint at ${path}`);
      const b = buf[pos++] as number;
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
    }
  };
  while (pos < end) {
    const tag = varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire === 0) varint();
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      const len = varint();
      const next = pos + len;
      if (next > end) throw new Error(`truncated field at ${path}.${field}`);
      const kind = schema[field];
      if (kind === 'string') {
        try {
          strict.decode(buf.subarray(pos, next));
        } catch {
          bad.push(`${path}.${field}`);
        }
      } else if (kind !== undefined) {
        walk(buf, pos, next, kind, `${path}.${field}`, bad);
      }
      pos = next;
    } else throw new Error(`unexpected wire type ${wire} at ${path}.${field}`);
  }
}
