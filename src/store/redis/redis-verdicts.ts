import type { PendingSession, Verdict } from '../../core/verdict.js';
import {
  decodeAnyWorkflow,
  decodePending,
  decodeRevocation,
  decodeVerdict,
  encodeIndexMember,
  encodeInvalidation,
  encodeRevocation,
  encodeVerdict,
  revocationField,
  sortRevocations,
} from '../store-codec.js';
import { boundedLru } from '../../core/bounded-lru.js';
import { StoreError } from '../store-error.js';
import { escapeKeyPart, type StoreKeys } from '../store-keys.js';
import { EXPIRING_STATUSES } from '../verdict-order.js';
import { NO_PENDING, type CheckState, type CheckStateRead, type Revocation, type VerdictStore } from '../verdict-store.js';
import { createMgetBatcher, type MgetValues } from './mget-batcher.js';
import { toStoreError, type RedisConnection } from './redis-connection.js';
import { LIST_VERDICTS_LUA, PUT_VERDICT_LUA, REVOKE_VERDICTS_LUA } from './redis-scripts.js';

/** Decodings kept per store and kind (see {@link keptDecoding}): a few hundred bytes each. */
const MAX_DECODED = 512;

/** A reply's value, as ioredis's `…Buffer` commands hand it over: a view into the bytes read from the socket. */
type ReplyValue = Buffer | null | undefined;

interface Kept<T> {
  readonly subject: string;
  readonly workflow: string;
  /** A copy of the bytes decoded (the reply's own view would pin the whole socket chunk it points into). */
  readonly bytes: Buffer;
  readonly value: T | undefined;
}

/**
 * `decode` with its answers kept per key read, each with the exact bytes it decoded and the subject and
 * workflow it was read for (decoding checks both): a read whose bytes are equal to the kept ones answers the
 * kept decoding, any other bytes are decoded anew, so each read still answers what Redis holds now — without
 * turning the reply into a string and parsing it again. Equal bytes are equal UTF-8 text, hence an equal
 * decoding. Bounded by the stores' own LRU.
 */
function keptDecoding<T>(
  decode: (raw: string, subject: string, workflow: string) => T | undefined,
): (key: string, bytes: Buffer, subject: string, workflow: string) => T | undefined {
  const kept = boundedLru<string, Kept<T>>(MAX_DECODED);
  return (key, bytes, subject, workflow) => {
    const known = kept.get(key);
    if (known !== undefined && known.subject === subject && known.workflow === workflow && bytes.equals(known.bytes)) return known.value;
    const value = decode(bytes.toString('utf8'), subject, workflow);
    kept.set(key, { subject, workflow, bytes: Buffer.copyBytesFrom(bytes), value });
    return value;
  };
}

/** Subjects whose per-Check keys are kept (see {@link keptCheckStateKeys}): a few hundred bytes each. */
const MAX_KEPT_KEYS = 512;

/**
 * `keys.checkState` kept per subject for the same workflow names (the gate hands over one list per route's
 * needs): building them — escaping, the hash tag, two concatenations each and their flattening — was ~14 %
 * of the bytes of a Check on Redis. The names are compared one by one, so the answer is always the keys of
 * the names asked for. The kept array is only read (the batcher copies its keys, ioredis flattens its
 * arguments into an array of its own). Bounded: emptied when full.
 */
function keptCheckStateKeys(keys: StoreKeys): (subject: string, workflows: readonly string[]) => readonly string[] {
  const kept = new Map<string, { readonly workflows: readonly string[]; readonly keys: readonly string[] }>();
  return (subject, workflows) => {
    const known = kept.get(subject);
    if (known !== undefined && sameNames(known.workflows, workflows)) return known.keys;
    const built = keys.checkState(subject, workflows);
    if (kept.size >= MAX_KEPT_KEYS) kept.clear();
    kept.set(subject, { workflows: [...workflows], keys: built });
    return built;
  };
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * {@link VerdictStore} on Redis: verdict keys, the subject's workflows set and its revocations hash, all
 * on the subject's hash tag so the ordered write and the revocation are one atomic script each, and a
 * Check's verdicts and pending sessions are one `MGET` (`readCheckState`). `settledTtlMs` is the TTL of
 * `Expired`/`Abandoned` verdicts; `clock` stamps status-regression watermarks (the same clock idgate stamps
 * sessions with).
 */
export function createRedisVerdicts(conn: RedisConnection, options: { settledTtlMs: number; clock: () => number }): VerdictStore & CheckStateRead {
  const { keys, client } = conn;
  const putVerdictScript = conn.defineScript('idgatePutVerdict', 3, PUT_VERDICT_LUA);
  const revokeScript = conn.defineScript('idgateRevokeVerdicts', 2, REVOKE_VERDICTS_LUA);
  const listScript = conn.defineScript('idgateListVerdicts', 1, LIST_VERDICTS_LUA);
  // The per-Check read decodes the same stored values (verdict, pending session) again and again until a
  // webhook, a new session or a revocation replaces them (keptDecoding).
  const decodeReadVerdict = keptDecoding(decodeVerdict);
  const decodeReadPending = keptDecoding(decodePending);
  const checkStateKeys = keptCheckStateKeys(keys);
  const verdictOf = (key: string, raw: ReplyValue, subject: string, workflow: string): Verdict | undefined =>
    raw === null || raw === undefined ? undefined : conn.counted(decodeReadVerdict(key, raw, subject, workflow), 'verdict');
  /**
   * One Check's state from its share of a batched reply: `all` is its keys (the verdict keys, then the pending
   * keys) for `subject`'s `workflows`. A function of the store, not a closure per Check: what a Check keeps
   * while it waits for Redis is the batcher's waiter and its promise.
   */
  const decodeCheckState = (raws: MgetValues, start: number, all: readonly string[], subject: string, workflows: readonly string[]): CheckState => {
    const n = workflows.length;
    const verdicts = new Array<Verdict | undefined>(n);
    let pending: (PendingSession | undefined)[] | undefined;
    for (let i = 0; i < n; i++) {
      const workflow = workflows[i] ?? '';
      const verdict = verdictOf(all[i] ?? '', raws[start + i], subject, workflow);
      verdicts[i] = verdict;
      const raw = raws[start + n + i];
      // Where a verdict is stored its pending session is not wanted (CheckState): not decoded.
      if (verdict !== undefined || raw === null || raw === undefined) continue;
      pending ??= new Array<PendingSession | undefined>(n).fill(undefined);
      pending[i] = conn.counted(decodeReadPending(all[n + i] ?? '', raw, subject, workflow), 'pending');
    }
    return { verdicts, pending: pending ?? NO_PENDING };
  };
  // The per-Check read: one MGET per event-loop turn for every Check of that turn (mget-batcher).
  const mget = createMgetBatcher(client, toStoreError, decodeCheckState);

  return {
    // Not async: the per-Check read is one MGET and one decode, without frames around them.
    getVerdicts(subject, workflows) {
      if (workflows.length === 0) return Promise.resolve([]);
      try {
        const verdictKeys = workflows.map((w) => keys.verdict(subject, w));
        return conn.read(
          () => client.mgetBuffer(verdictKeys),
          (raws) => workflows.map((workflow, i) => verdictOf(verdictKeys[i] ?? '', raws[i], subject, workflow)),
        );
      } catch (err) {
        return Promise.reject(err as Error);
      }
    },

    readCheckState(subject, workflows) {
      if (workflows.length === 0) return Promise.resolve({ verdicts: [], pending: NO_PENDING });
      try {
        // One MGET: the verdict keys, then the pending keys (all on the subject's hash tag, so one slot).
        return conn.readBatched(mget, checkStateKeys(subject, workflows), subject, workflows);
      } catch (err) {
        return Promise.reject(err as Error);
      }
    },

    async putVerdict(v, opts = {}) {
      const json = encodeVerdict(v);
      const ttl = EXPIRING_STATUSES.has(v.status) ? options.settledTtlMs : 0;
      const now = options.clock();
      const created = opts.sessionCreatedAt;
      const result = await conn.run(() =>
        putVerdictScript(
          keys.verdict(v.subject, v.workflow),
          keys.workflows(v.subject),
          keys.revocations(v.subject),
          json,
          String(v.eventAt),
          v.status,
          v.sessionId,
          ttl,
          keys.invalidationChannel(),
          encodeInvalidation(v.subject, v.workflow),
          escapeKeyPart(v.workflow),
          created !== undefined && Number.isFinite(created) ? String(created) : '',
          String(now),
          encodeRevocation({ at: now, reason: 'didit_status_regression', workflow: v.workflow }),
          revocationField(v.workflow),
        ),
      );
      if (result === 'written' || result === 'stale' || result === 'duplicate' || result === 'revoked') return result;
      throw new StoreError('corrupt', 'unexpected reply from the verdict write script');
    },

    async revokeVerdicts(subject, workflow, revocation, pendingWorkflows = []) {
      if (!Number.isFinite(revocation.at)) throw new TypeError('revokeVerdicts: at must be a finite epoch ms');
      const record: Revocation = { at: revocation.at, reason: revocation.reason, ...(workflow !== undefined ? { workflow } : {}) };
      const flat = await conn.run(() =>
        revokeScript(
          keys.workflows(subject),
          keys.revocations(subject),
          // Both prefixes carry the subject's hash tag, so every key the script builds is on its slot.
          keys.verdict(subject, ''),
          keys.pending(subject, ''),
          keys.invalidationChannel(),
          encodeInvalidation(subject, workflow),
          revocationField(workflow),
          String(revocation.at),
          encodeRevocation(record),
          workflow === undefined ? '' : escapeKeyPart(workflow),
          ...(workflow === undefined ? pendingWorkflows.map(escapeKeyPart) : []),
        ),
      );
      if (!Array.isArray(flat)) throw new StoreError('corrupt', 'unexpected reply from the revocation script');
      const verdicts: Verdict[] = [];
      const pending: PendingSession[] = [];
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const kind: unknown = flat[i];
        const raw: unknown = flat[i + 1];
        if (typeof raw !== 'string') continue;
        if (kind === 'v') {
          const v = conn.counted(decodeAnyWorkflow(decodeVerdict, raw, subject), 'verdict');
          if (v) verdicts.push(v);
        } else if (kind === 'p') {
          const p = conn.counted(decodeAnyWorkflow(decodePending, raw, subject), 'pending');
          if (p) pending.push(p);
        }
      }
      // The global index may be on another slot (Cluster): best effort; the sweep drops leftovers itself.
      for (const p of pending) {
        await conn.run(() => client.zrem(keys.pendingIndex(), encodeIndexMember(p.subject, p.workflow))).catch(() => undefined);
      }
      return { verdicts, pending };
    },

    async getRevocations(subject) {
      const values = await conn.run(() => client.hvals(keys.revocations(subject)));
      const out: Revocation[] = [];
      for (const raw of values) {
        const r = conn.counted(decodeRevocation(raw), 'revocation');
        if (r) out.push(r);
      }
      return sortRevocations(out);
    },

    async listVerdicts(subject) {
      const flat = await conn.run(() => listScript(keys.workflows(subject), keys.verdict(subject, '')));
      if (!Array.isArray(flat)) throw new StoreError('corrupt', 'unexpected reply from the verdict list script');
      const out: Verdict[] = [];
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const member: unknown = flat[i];
        const raw: unknown = flat[i + 1];
        if (typeof member !== 'string' || typeof raw !== 'string') continue;
        const parsed = decodeAnyWorkflow(decodeVerdict, raw, subject);
        const v = parsed !== undefined && escapeKeyPart(parsed.workflow) === member ? parsed : undefined;
        const checked = conn.counted(v, 'verdict');
        if (checked) out.push(checked);
      }
      return out;
    },
  };
}
