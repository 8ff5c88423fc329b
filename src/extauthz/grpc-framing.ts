import { gunzip, inflate } from 'node:zlib';

/**
 * gRPC over HTTP/2 wire framing for the node:http2 Check transport (`h2-check-server.ts`): the 5-byte
 * length prefix, `grpc-timeout`, and `grpc-encoding` decompression. Every rule here copies what grpc-js
 * 1.14 does on its server side, so both transports answer a client the same way; where grpc-js answers an
 * RPC status, the status code and message are the same.
 */

/** gRPC status codes used by the transport. */
export const GrpcStatus = {
  OK: 0,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
} as const;

/** An RPC error status (code + message) the transport answers instead of a response message. */
export interface GrpcError {
  readonly code: number;
  readonly details: string;
}

/** One length-prefixed message as received: the compressed flag and the (possibly compressed) payload. */
export interface GrpcFrame {
  readonly compressed: boolean;
  readonly payload: Buffer;
}

const PREFIX = 5;

/**
 * Reassembles length-prefixed messages from DATA chunks split anywhere (inside the prefix too). A declared
 * length above `maxBytes` is refused as soon as the prefix is read — before any of it is buffered — with
 * grpc-js's RESOURCE_EXHAUSTED message.
 */
export class MessageReader {
  readonly #maxBytes: number;
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** Length of the message being read; -1 while its prefix is incomplete. */
  #need = -1;
  #compressed = false;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  /** True while part of a message (or of its prefix) is buffered. */
  get partial(): boolean {
    return this.#buffered > 0 || this.#need >= 0;
  }

  /**
   * Adds one DATA chunk; returns the messages it completed (usually none or one).
   * @throws GrpcError-shaped object (RESOURCE_EXHAUSTED) for a declared length above the bound.
   */
  push(chunk: Buffer): GrpcFrame[] {
    const out: GrpcFrame[] = [];
    let data = chunk;
    // Fast path: a whole message in one chunk with nothing buffered (Envoy's usual case) is sliced, not copied.
    while (data.length > 0) {
      if (this.#need < 0) {
        if (this.#buffered === 0 && data.length >= PREFIX) {
          this.#start(data[0] === 1, data.readUInt32BE(1));
          data = data.subarray(PREFIX);
        } else {
          const take = Math.min(PREFIX - this.#buffered, data.length);
          this.#chunks.push(data.subarray(0, take));
          this.#buffered += take;
          data = data.subarray(take);
          if (this.#buffered < PREFIX) break;
          const prefix = Buffer.concat(this.#chunks, PREFIX);
          this.#chunks = [];
          this.#buffered = 0;
          this.#start(prefix[0] === 1, prefix.readUInt32BE(1));
        }
      }
      const missing = this.#need - this.#buffered;
      if (this.#buffered === 0 && data.length >= missing) {
        out.push({ compressed: this.#compressed, payload: data.subarray(0, missing) });
        data = data.subarray(missing);
        this.#need = -1;
        continue;
      }
      const take = Math.min(missing, data.length);
      this.#chunks.push(data.subarray(0, take));
      this.#buffered += take;
      data = data.subarray(take);
      if (this.#buffered === this.#need) {
        out.push({ compressed: this.#compressed, payload: Buffer.concat(this.#chunks, this.#need) });
        this.#chunks = [];
        this.#buffered = 0;
        this.#need = -1;
      }
    }
    return out;
  }

  #start(compressed: boolean, length: number): void {
    if (length > this.#maxBytes) {
      throw grpcError(GrpcStatus.RESOURCE_EXHAUSTED, `Received message larger than max (${length} vs. ${this.#maxBytes})`);
    }
    // grpc-js reads the flag as `=== 1`: any other value is an uncompressed message.
    this.#compressed = compressed;
    this.#need = length;
  }
}

/** `bytes` with the 5-byte uncompressed message prefix. */
export function frameMessage(bytes: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(PREFIX + bytes.length);
  out[0] = 0;
  out.writeUInt32BE(bytes.length, 1);
  out.set(bytes, PREFIX);
  return out;
}

// grpc-js's own pattern, unanchored like theirs: the first `<digits><unit>` in the value counts.
const TIMEOUT_PATTERN = /(\d{1,8})\s*([HMSmun])/;
const UNIT_MS: Readonly<Record<string, number | undefined>> = { H: 3_600_000, M: 60_000, S: 1_000, m: 1, u: 0.001, n: 0.000001 };

/**
 * The `grpc-timeout` header in ms: undefined when absent, NaN when it does not parse (grpc-js answers that
 * with INTERNAL `Invalid grpc-timeout value "…"`). Truncated to whole ms like grpc-js (`| 0`).
 */
export function parseGrpcTimeout(value: string | string[] | undefined): number | undefined {
  if (value === undefined) return undefined;
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined) return undefined;
  const plain = plainGrpcTimeout(text);
  if (plain !== undefined) return plain;
  const match = TIMEOUT_PATTERN.exec(text);
  if (match === null) return Number.NaN;
  return (Number(match[1]) * (UNIT_MS[match[2] as string] as number)) | 0;
}

/**
 * The value of a `grpc-timeout` that is exactly 1–8 digits and a unit (what Envoy and every gRPC client
 * send, e.g. `200m`), else undefined: the pattern's own answer for such a value, computed the same way
 * (`Number(digits) * unit | 0`), without the match array and its two strings per call. Anything else goes to
 * the pattern.
 */
function plainGrpcTimeout(text: string): number | undefined {
  const n = text.length;
  if (n < 2 || n > 9) return undefined;
  const unit = UNIT_MS[text.charAt(n - 1)];
  if (unit === undefined) return undefined;
  let digits = 0;
  for (let i = 0; i < n - 1; i++) {
    const d = text.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return undefined;
    digits = digits * 10 + d;
  }
  return (digits * unit) | 0;
}

/**
 * The payload of one received message, decompressed per the call's `grpc-encoding` when its flag says
 * compressed: gzip and deflate are inflated up to `maxBytes` (beyond: RESOURCE_EXHAUSTED; corrupt: INTERNAL),
 * identity is taken as is (grpc-js does not reject a set flag with identity), anything else is
 * UNIMPLEMENTED. Rejects with a {@link GrpcError}.
 */
export function decompressFrame(frame: GrpcFrame, encoding: string, maxBytes: number): Promise<Buffer> | Buffer {
  if (!frame.compressed || encoding === 'identity') return frame.payload;
  if (encoding !== 'gzip' && encoding !== 'deflate') {
    return Promise.reject(grpcError(GrpcStatus.UNIMPLEMENTED, `Received message compressed with unsupported encoding "${encoding}"`));
  }
  const run = encoding === 'gzip' ? gunzip : inflate;
  return new Promise((resolve, reject) => {
    // maxOutputLength stops inflating at the bound: a small bomb never allocates its full size.
    run(frame.payload, { maxOutputLength: Math.max(1, maxBytes) }, (err, out) => {
      if (err === null) resolve(out);
      else if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) {
        reject(grpcError(GrpcStatus.RESOURCE_EXHAUSTED, `Received message that decompresses to a size larger than ${maxBytes}`));
      } else reject(grpcError(GrpcStatus.INTERNAL, 'Failed to decompress message'));
    });
  });
}

/** A {@link GrpcError}. */
export function grpcError(code: number, details: string): GrpcError {
  return { code, details };
}

/** True for a value shaped like a {@link GrpcError}. */
export function isGrpcError(value: unknown): value is GrpcError {
  return typeof value === 'object' && value !== null && typeof (value as GrpcError).code === 'number' && typeof (value as GrpcError).details === 'string';
}
