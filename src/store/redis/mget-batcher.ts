import { Redis } from 'ioredis';
import { tracingEnabled } from '../../tracing/tracing.js';
import type { RedisClient } from './redis-connection.js';

/** An `MGET` reply as ioredis's `mgetBuffer` hands it over: no string is made of a value nobody decodes. */
export type MgetValues = readonly (Buffer | null)[];

/**
 * How a batched read answers one caller: `values[start]` … `values[start + keys.length - 1]` are its values,
 * `keys`, `a` and `b` what it asked with. One function per batcher (not a closure per read): what a read
 * keeps while it waits for Redis is its waiter, its promise and that promise's resolving functions.
 */
export type MgetDecode<A, B, R> = (values: MgetValues, start: number, keys: readonly string[], a: A, b: B) => R;

/**
 * An `MGET` whose keys may be sent together with other callers' keys. Resolves to
 * `decode(values, start, keys, a, b)` (the batcher's decode); a fault of the command rejects with
 * `fault(err)`, a throw of `decode` with what it threw.
 */
export type BatchedMget<A, B, R> = (keys: readonly string[], a: A, b: B) => Promise<R>;

/** Keys per combined `MGET`; a batch that reaches it is sent at once, so a reply stays small. */
export const MAX_BATCH_KEYS = 512;

interface Waiter<A, B, R> {
  readonly start: number;
  readonly keys: readonly string[];
  readonly a: A;
  readonly b: B;
  readonly resolve: (value: R) => void;
  readonly reject: (err: unknown) => void;
}

/** Answers one caller from its command's reply (its decoding is its own: a throw fails only that caller). */
function answer<A, B, R>(w: Waiter<A, B, R>, values: MgetValues, decode: MgetDecode<A, B, R>): void {
  let decoded: R;
  try {
    decoded = decode(values, w.start, w.keys, w.a, w.b);
  } catch (err) {
    w.reject(err);
    return;
  }
  w.resolve(decoded);
}

// The resolving functions of the promise being built: one executor for every read, instead of a closure
// (and its context) per read. Read right after `new Promise` returns (the executor runs synchronously).
let capturedResolve: ((value: never) => void) | undefined;
let capturedReject: ((err: unknown) => void) | undefined;
function capture(resolve: (value: never) => void, reject: (err: unknown) => void): void {
  capturedResolve = resolve;
  capturedReject = reject;
}

/**
 * Per-Check reads as one `MGET` per event-loop turn. Measured under saturation, every Check reaches its read
 * in a tick of its own (so ioredis's auto-pipelining sends a pipeline of one command each time), while one
 * loop turn carries 16–64 Checks: their keys are collected until the turn's `setImmediate` and read with one
 * command — one ioredis command object, promise, timeout timer and reply instead of one each. Each caller's
 * decoding runs on the shared reply, so a Check has one promise of its own, not one for the values and
 * another for their decoding; and what it keeps while it waits is that promise and one waiter holding its
 * keys and its `a`, `b` (bench/README.md, "Redis path at a smaller young generation").
 *
 * What does not change: each read is sent after its caller asked (later in the same turn, never from a
 * cache), so it sees every write acknowledged before the Check arrived — freshness across replicas is that
 * of a read of its own; one `MGET` is atomic, so a caller's keys are still read at one instant; a fault
 * (timeout, connection lost) rejects every caller of that command, each with the error a command of its
 * own would have had (`fault` maps it, once per caller). Not batched: a Cluster (keys of different subjects
 * live on different slots) and a traced process (each Check keeps its own command span) — there every call
 * is a plain `MGET`.
 */
export function createMgetBatcher<A, B, R>(client: RedisClient, fault: (err: unknown) => Error, decode: MgetDecode<A, B, R>): BatchedMget<A, B, R> {
  const rejectAsFault = (err: unknown): never => {
    throw fault(err);
  };
  const plain: BatchedMget<A, B, R> = (keys, a, b) => client.mgetBuffer(keys as string[]).then((values) => decode(values, 0, keys, a, b), rejectAsFault);
  if (!(client instanceof Redis)) return plain;
  let keys: string[] = [];
  let waiters: Waiter<A, B, R>[] = [];
  let scheduled = false;

  function flush(): void {
    scheduled = false;
    const batchKeys = keys;
    const batch = waiters;
    keys = [];
    waiters = [];
    if (batch.length === 0) return;
    let reply: Promise<(Buffer | null)[]>;
    try {
      reply = client.mgetBuffer(batchKeys);
    } catch (err) {
      for (const w of batch) w.reject(fault(err));
      return;
    }
    reply.then(
      (values) => {
        for (const w of batch) answer(w, values, decode);
      },
      (err: unknown) => {
        for (const w of batch) w.reject(fault(err));
      },
    );
  }

  return (requested: readonly string[], a: A, b: B): Promise<R> => {
    if (requested.length > MAX_BATCH_KEYS || tracingEnabled()) return plain(requested, a, b);
    if (keys.length + requested.length > MAX_BATCH_KEYS) flush();
    const promise = new Promise<R>(capture);
    const resolve = capturedResolve as (value: R) => void;
    const reject = capturedReject as (err: unknown) => void;
    capturedResolve = undefined;
    capturedReject = undefined;
    waiters.push({ start: keys.length, keys: requested, a, b, resolve, reject });
    for (const key of requested) keys.push(key);
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
    return promise;
  };
}
