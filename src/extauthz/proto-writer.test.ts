import fc from 'fast-check';
import protobuf from 'protobufjs/minimal.js';
import { describe, expect, it } from 'vitest';
import { ProtoWriter } from './proto-writer.js';

/** One write, replayed on both writers. */
type Op =
  | { kind: 'int32'; field: number; value: number }
  | { kind: 'bool'; field: number; value: boolean }
  | { kind: 'double'; field: number; value: number }
  | { kind: 'string'; field: number; value: string }
  | { kind: 'message'; field: number; ops: Op[] };

const field = fc.integer({ min: 1, max: 2_000 });
// Well-formed text only (protobufjs writes lone surrogates as bytes that are not UTF-8; see below), with
// lengths around the one-byte-length boundary (127/128 bytes) and multi-byte characters.
const text = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 60 }),
  fc.string({ unit: 'grapheme-ascii', minLength: 100, maxLength: 300 }),
  fc.string({ unit: 'binary', minLength: 30, maxLength: 200 }),
  // Short strings (the ASCII copy loop's range, up to 42 units) with non-ASCII characters anywhere.
  fc.string({ unit: 'binary', maxLength: 42 }),
  fc.tuple(fc.string({ unit: 'grapheme-ascii', maxLength: 40 }), fc.constantFrom('é', '\u20ac', '\u{1f600}')).map(([a, b]) => `${a}${b}`),
);
const { op } = fc.letrec<{ op: Op }>((tie) => ({
  op: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.record({ kind: fc.constant('int32' as const), field, value: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }) }),
    fc.record({ kind: fc.constant('bool' as const), field, value: fc.boolean() }),
    fc.record({ kind: fc.constant('double' as const), field, value: fc.double() }),
    fc.record({ kind: fc.constant('string' as const), field, value: text }),
    fc.record({ kind: fc.constant('message' as const), field, ops: fc.array(tie('op'), { maxLength: 6 }) }),
  ),
}));

function replayOurs(w: ProtoWriter, ops: readonly Op[]): void {
  for (const o of ops) {
    if (o.kind === 'int32') w.int32(o.field, o.value);
    else if (o.kind === 'bool') w.bool(o.field, o.value);
    else if (o.kind === 'double') w.double(o.field, o.value);
    else if (o.kind === 'string') w.string(o.field, o.value);
    else {
      w.open(o.field);
      replayOurs(w, o.ops);
      w.close();
    }
  }
}

function replayProtobufjs(w: protobuf.Writer, ops: readonly Op[]): void {
  for (const o of ops) {
    if (o.kind === 'int32') w.uint32((o.field << 3) | 0).int32(o.value);
    else if (o.kind === 'bool') w.uint32((o.field << 3) | 0).bool(o.value);
    else if (o.kind === 'double') w.uint32((o.field << 3) | 1).double(o.value);
    else if (o.kind === 'string') w.uint32((o.field << 3) | 2).string(o.value);
    else {
      w.uint32((o.field << 3) | 2).fork();
      replayProtobufjs(w, o.ops);
      w.ldelim();
    }
  }
}

const strict = new TextDecoder('utf-8', { fatal: true });

describe('ProtoWriter', () => {
  it('writes the same bytes as protobufjs for any message (nesting, long strings, negative int32)', () => {
    const ours = new ProtoWriter();
    fc.assert(
      fc.property(fc.array(op, { maxLength: 12 }), (ops) => {
        const expected = protobuf.Writer.create();
        replayProtobufjs(expected, ops);
        replayOurs(ours.reset(), ops);
        expect(ours.finish().equals(expected.finish() as Buffer)).toBe(true);
      }),
      { seed: 20261205, numRuns: 2_000 },
    );
  });

  it('grows past its scratch buffer and keeps earlier bytes', () => {
    const w = new ProtoWriter();
    const big = 'é'.repeat(50_000);
    const bytes = w.reset().int32(1, 7).open(2).string(1, big).close().string(3, 'end').finish();
    const expected = protobuf.Writer.create();
    expected.uint32(8).int32(7).uint32(18).fork().uint32(10).string(big).ldelim().uint32(26).string('end');
    expect(bytes.equals(expected.finish() as Buffer)).toBe(true);
    // The next message starts from empty again.
    expect(w.reset().bool(1, true).finish()).toEqual(Buffer.from([8, 1]));
  });

  it('returns a copy: a later message does not change an earlier result', () => {
    const w = new ProtoWriter();
    const first = w.reset().string(1, 'first').finish();
    w.reset().string(1, 'other');
    expect(first.toString('latin1')).toBe('\n\x05first');
  });

  it('writes a lone surrogate as U+FFFD, so every string field stays UTF-8', () => {
    const lone = 'a\ud800b\udc00'.repeat(30); // also over the one-byte length
    for (const value of [lone, '\udfff', `${'x'.repeat(41)}\ud83d`]) {
      const bytes = new ProtoWriter().reset().open(1).string(1, value).close().finish();
      const inner = protobuf.Reader.create(bytes);
      inner.uint32();
      const nested = protobuf.Reader.create(inner.bytes());
      nested.uint32();
      // A strict decoder throws on bytes that are not UTF-8 (libprotobuf would fail the RPC).
      expect(strict.decode(nested.bytes())).toBe(value.replace(/\p{Cs}/gu, '\ufffd'));
    }
  });

  it('refuses unbalanced nesting', () => {
    expect(() => new ProtoWriter().reset().close()).toThrow(/close without open/);
    expect(() => new ProtoWriter().reset().open(1).finish()).toThrow(/unclosed/);
  });
});
