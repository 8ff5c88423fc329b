import { Redis } from 'ioredis';
import { tracingEnabled } from '../../tracing/tracing.js';
import type { RedisClient } from './redis-connection.js';

/**
 * An `MGET` whose keys may be sent together with other callers' keys; resolves to this caller's values, as
 * the reply's bytes (ioredis's `mgetBuffer`: no string is made of a value nobody decodes).
 */
export type BatchedMget = (keys: readonly string[]) => Promise<(Buffer | null)[]>;

/** Keys per combined `MGET`; a batch that reaches it is sent at once, so a reply stays small. */
export const MAX_BATCH_KEYS = 512;

interface Waiter {
  readonly start: number;
  readonly count: number;
  readonly resolve: (values: (Buffer | null)[]) => void;
  readonly reject: (err: unknown) => void;
}

/**
 * Per-Check reads as one `MGET` per event-loop turn. Measured under saturation, every Check reaches its read
 * in a tick of its own (so ioredis's auto-pipelining sends a pipeline of one command each time), while one
 * loop turn carries 16–64 Checks: their keys are collected until the turn's `setImmediate` and read with one
 * command — one ioredis command object, promise, timeout timer and reply instead of one each.
 *
 * What does not change: each read is sent after its caller asked (later in the same turn, never from a
 * cache), so it sees every write acknowledged before the Check arrived — freshness across replicas is that
 * of a read of its own; one `MGET` is atomic, so a caller's keys are still read at one instant; a fault
 * (timeout, connection lost) rejects every caller of that command, each with the error a command of its
 * own would have had. Not batched: a Cluster (keys of different subjects live on different slots) and a
 * traced process (each Check keeps its own command span) — there every call is a plain `MGET`.
 */
export function createMgetBatcher(client: RedisClient): BatchedMget {
  const plain: BatchedMget = (keys) => client.mgetBuffer(keys as string[]);
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
      for (const w of batch) w.reject(err);
      return;
    }
    reply.then(
      (values) => {
        for (const w of batch) w.resolve(values.slice(w.start, w.start + w.count));
      },
      (err: unknown) => {
        for (const w of batch) w.reject(err);
      },
    );
  }

  return (requested) => {
    if (requested.length > MAX_BATCH_KEYS || tracingEnabled()) return plain(requested);
    if (keys.length + requested.length > MAX_BATCH_KEYS) flush();
    return new Promise<(Buffer | null)[]>((resolve, reject) => {
      waiters.push({ start: keys.length, count: requested.length, resolve, reject });
      for (const key of requested) keys.push(key);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    });
  };
}
