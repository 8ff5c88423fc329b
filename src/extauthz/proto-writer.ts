/** Wire types written here. */
const VARINT = 0;
const I64 = 1;
const LEN = 2;

/** Deepest nesting of open length-delimited fields (a CheckResponse nests at most 4). */
const MAX_OPEN = 16;

/**
 * A protobuf writer for one message at a time into a reused scratch buffer, for the CheckResponse encoder
 * on the hot path. protobufjs's `Writer` allocates an operation object per field and a state object per
 * nested message, then a second pass copies them into the result: on Node 24 that garbage was a visible
 * part of the per-Check GC work. This writes bytes directly; a nested message reserves one byte for its
 * length and, in the rare case its body is 128 bytes or longer, moves the body to make room for the
 * longer varint. `finish` returns a copy of exactly the bytes written, so the scratch buffer is reused
 * by the next message (encoding is synchronous: no two messages are ever in progress at once).
 *
 * Strings are written with Node's UTF-8 encoder, which writes each lone surrogate as U+FFFD: every string
 * field is valid UTF-8, as libprotobuf (Envoy) requires.
 */
export class ProtoWriter {
  #buf: Buffer = Buffer.allocUnsafe(4096);
  #pos = 0;
  readonly #open = new Int32Array(MAX_OPEN);
  #depth = 0;

  /** Starts a new message, dropping anything written before. */
  reset(): this {
    this.#pos = 0;
    this.#depth = 0;
    return this;
  }

  /** A copy of the message written since {@link reset}. @throws Error when a nested field is still open. */
  finish(): Buffer {
    if (this.#depth !== 0) throw new Error('ProtoWriter: unclosed nested field');
    const out = Buffer.allocUnsafe(this.#pos);
    this.#buf.copy(out, 0, 0, this.#pos);
    return out;
  }

  /** A varint field (`int32`/`enum`: a negative value is written sign-extended to 10 bytes, as protobuf does). */
  int32(field: number, value: number): this {
    this.#ensure(20);
    this.#varint((field << 3) | VARINT);
    if (value >= 0) this.#varint(value);
    else this.#negative(value);
    return this;
  }

  /** A `bool` field (written even when false). */
  bool(field: number, value: boolean): this {
    this.#ensure(6);
    this.#varint((field << 3) | VARINT);
    this.#buf[this.#pos++] = value ? 1 : 0;
    return this;
  }

  /** A `double` field. */
  double(field: number, value: number): this {
    this.#ensure(14);
    this.#varint((field << 3) | I64);
    this.#buf.writeDoubleLE(value, this.#pos);
    this.#pos += 8;
    return this;
  }

  /** A `string` field, UTF-8 (lone surrogates become U+FFFD). */
  string(field: number, value: string): this {
    // UTF-8 takes at most 3 bytes per UTF-16 unit; a string that fits in 127 bytes even then needs a
    // one-byte length, so it is written straight after it without measuring it first.
    const most = value.length * 3;
    this.#ensure(most + 10);
    this.#varint((field << 3) | LEN);
    if (most < 128) {
      const at = this.#pos + 1;
      const buf = this.#buf;
      // Header names, subjects, ids: nearly every string here is short ASCII, whose UTF-8 bytes are its
      // char codes. Copying them in this loop skips Buffer#write's argument checks and native call (most of
      // the encoder's time per Check); the first non-ASCII unit hands the whole string to the encoder.
      const n = value.length;
      let i = 0;
      while (i < n) {
        const c = value.charCodeAt(i);
        if (c >= 0x80) break;
        buf[at + i++] = c;
      }
      const written = i === n ? n : buf.write(value, at, 'utf8');
      buf[this.#pos] = written;
      this.#pos = at + written;
      return this;
    }
    // Longer: reserve the length for the worst case, write, then close the gap if the length is shorter.
    const reserved = varintSize(most);
    const at = this.#pos + reserved;
    const written = this.#buf.write(value, at, 'utf8');
    const size = varintSize(written);
    if (size < reserved) this.#buf.copyWithin(this.#pos + size, at, at + written);
    this.#varint(written);
    this.#pos += written;
    return this;
  }

  /** Opens a nested message (`field`, length-delimited); close it with {@link close}. */
  open(field: number): this {
    if (this.#depth === MAX_OPEN) throw new Error('ProtoWriter: nested too deeply');
    this.#ensure(6);
    this.#varint((field << 3) | LEN);
    this.#open[this.#depth++] = this.#pos;
    // One byte reserved for the length: most nested messages here are shorter than 128 bytes.
    this.#pos += 1;
    return this;
  }

  /** Closes the innermost open nested message, writing its length. */
  close(): this {
    if (this.#depth === 0) throw new Error('ProtoWriter: close without open');
    const at = this.#open[--this.#depth] as number;
    const length = this.#pos - at - 1;
    if (length < 128) {
      this.#buf[at] = length;
      return this;
    }
    const size = varintSize(length);
    this.#ensure(size);
    this.#buf.copyWithin(at + size, at + 1, this.#pos);
    this.#pos += size - 1;
    const end = this.#pos;
    this.#pos = at;
    this.#varint(length);
    this.#pos = end;
    return this;
  }

  #varint(value: number): void {
    let v = value >>> 0;
    while (v > 127) {
      this.#buf[this.#pos++] = (v & 127) | 128;
      v >>>= 7;
    }
    this.#buf[this.#pos++] = v;
  }

  /** A negative int32 as protobuf writes it: the 64-bit two's complement, 10 bytes. */
  #negative(value: number): void {
    let lo = value >>> 0;
    let hi = 0xffffffff;
    for (let i = 0; i < 9; i++) {
      this.#buf[this.#pos++] = (lo & 127) | 128;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    this.#buf[this.#pos++] = lo & 1;
  }

  /** Grows the scratch buffer so `extra` more bytes fit. */
  #ensure(extra: number): void {
    const need = this.#pos + extra;
    if (need <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < need) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.#buf.copy(next, 0, 0, this.#pos);
    this.#buf = next;
  }
}

/** Bytes of `value` (a non-negative 32-bit integer) as a varint. */
function varintSize(value: number): number {
  let size = 1;
  for (let v = value >>> 7; v !== 0; v >>>= 7) size += 1;
  return size;
}
