import { Redis } from 'ioredis';
import { tracingEnabled } from '../../tracing/tracing.js';
import type { RedisClient } from './redis-connection.js';

/** An `MGET` reply as ioredis's `mgetBuffer` hands it over: no string is made of a value nobody decodes. */
export type MgetValues = readonly (Buffer | null)[];

/**
 * An `MGET` whose keys may be sent together with other callers' keys. Resolves to `decode(values, start)`,
 * where this caller's values are `values[start]` … `values[start + keys.length - 1]`; a fault of the command
 * rejects with `fault(err)`, a throw of `decode` with what it threw.
 */
export type BatchedMget = <R>(keys: readonly string[], decode: (values: MgetValues, start: number) => R) => Promise<R>;

/** Keys per combined `MGET`; a batch that reaches it is sent at once, so a reply stays small. */
export const MAX_BATCH_KEYS = 512;

interface Waiter {
  readonly start: number;
  readonly decode: (values: MgetValues, start: number) => unknown;
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: unknown) => void;
}

/** Answers one caller from its command's reply (its decoding is its own: a throw fails only that caller). */
function answer(w: Waiter, values: MgetValues): void {
  let decoded: unknown;
  try {
    decoded = w.decode(values, w.start);
  } catch (err) {
    w.reject(err);
    return;
  }
  w.resolve(decoded);
}

/**
 * Per-Check reads as one `MGET` per event-loop turn. Measured under saturation, every Check reaches its read
 * in a tick of its own (so ioredis's auto-pipelining sends a pipeline of one command each time), while one
 * loop turn carries 16–64 Checks: their keys are collected until the turn's `setImmediate` and read with one
 * command — one ioredis command object, promise, timeout timer and reply instead of one each. Each caller's
 * decoding runs on the shared reply, so a Check has one promise of its own, not one for the values and
 * another for their decoding.
 *
 * What does not change: each read is sent after its caller asked (later in the same turn, never from a
 * cache), so it sees every write acknowledged before the Check arrived — freshness across replicas is that
 * of a read of its own; one `MGET` is atomic, so a caller's keys are still read at one instant; a fault
 * (timeout, connection lost) rejects every caller of that command, each with the error a command of its
 * own would have had (`fault` maps it, once per caller). Not batched: a Cluster (keys of different subjects
 * live on different slots) and a traced process (each Check keeps its own command span) — there every call
 * is a plain `MGET`.
 */
export function createMgetBatcher(client: RedisClient, fault: (err: unknown) => Error): BatchedMget {
  const rejectAsFault = (err: unknown): never => {
    throw fault(err);
  };
  const plain: BatchedMget = (keys, decode) => client.mgetBuffer(keys as string[]).then((values) => decode(values, 0), rejectAsFault);
  if (!(client instanceof Redis)) return plain;
  let keys: string[] = [];
  let waiters: Waiter[] = [];
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
        for (const w of batch) answer(w, values);
      },
      (err: unknown) => {
        for (const w of batch) w.reject(fault(err));
      },
    );
  }

  return <R>(requested: readonly string[], decode: (values: MgetValues, start: number) => R): Promise<R> => {
    if (requested.length > MAX_BATCH_KEYS || tracingEnabled()) return plain(requested, decode);
    if (keys.length + requested.length > MAX_BATCH_KEYS) flush();
    return new Promise<R>((resolve, reject) => {
      waiters.push({ start: keys.length, decode, resolve: resolve as (value: unknown) => void, reject });
      for (const key of requested) keys.push(key);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    });
  };
}
