import { randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import type { PendingSession, SessionRecord, Verdict } from '../core/verdict.js';
import { encodePending, encodeSession, sortRevocations, toVerdict } from './store-codec.js';
import { checkRiskLimits, MAX_IPS_PER_TOKEN, MAX_KNOWN_DEVICES, MAX_TRACKED_TOKENS, slidingCount } from './risk-store.js';
import type { RiskLimits, RiskObservation, RiskRecord, RiskSnapshot, RiskStore } from './risk-store.js';
import { DEFAULT_SETTLED_VERDICT_TTL_MS, EXPIRING_STATUSES, isRevokedSession, isStatusRegression, orderVerdictWrite } from './verdict-order.js';
import { StoreError } from './verdict-store.js';
import type {
  InvalidationListener,
  PutVerdictOptions,
  PutVerdictResult,
  Revocation,
  RevocationReason,
  RevokeResult,
  VerdictStore,
} from './verdict-store.js';

/** Options of {@link createMemoryVerdictStore}. */
export interface MemoryVerdictStoreOptions {
  /** Subjects whose verdicts are kept; the least recently used subject is forgotten beyond it (default 100 000). */
  readonly maxSubjects?: number;
  /** Cap of each of: pending sessions, session records, seen events, step-up counters, locks (default 100 000). */
  readonly maxEntries?: number;
  /** TTL of `Expired`/`Abandoned` verdicts (default 30 days). */
  readonly settledVerdictTtlMs?: number;
  /** Exact cap of the audit log (default 10 000). */
  readonly auditMaxLen?: number;
}

interface Timed<T> {
  readonly value: T;
  /** Epoch ms; `Infinity` = no TTL. */
  readonly expiresAt: number;
  /** Pending sessions only: when the sweep last found it still open (see `deferPending`). */
  checkedAt?: number;
}

/** One subject's risk state (the memory twin of the Redis risk keys). */
interface RiskEntry {
  seenAt: number;
  ip: string;
  country?: string;
  countryAt?: number;
  /** Known device hashes in insertion order (the oldest is forgotten first). */
  readonly devices: Set<string>;
  /** Velocity: current bucket index, its count and the previous bucket's count. */
  vi: number;
  vn: number;
  vp: number;
  expiresAt: number;
  /** Tracked tokens in first-use order. */
  readonly tokens: Map<string, { readonly ips: Set<string>; readonly expiresAt: number }>;
}

interface Counter {
  count: number;
  readonly expiresAt: number;
}

function ttlArg(ttlMs: number, what: string): number {
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new TypeError(`${what} must be a positive number of ms`);
  return Math.ceil(ttlMs);
}

const pairKey = (subject: string, workflow: string): string => JSON.stringify([subject, workflow]);

/**
 * The verdict store inside one process (for `make run`, tests and a single replica): the same ordering
 * rules and results as the Redis store, TTLs against the injected clock, invalidation listeners called
 * synchronously before the write resolves, and LRU caps on every map so memory stays flat. Forgetting a
 * subject under memory pressure only ever causes a new step-up, never an allow.
 */
export class MemoryVerdictStore implements VerdictStore, RiskStore {
  private readonly verdicts: LRUCache<string, Map<string, Timed<Verdict>>>;
  private readonly pending: LRUCache<string, Timed<PendingSession>>;
  private readonly sessions: LRUCache<string, Timed<SessionRecord>>;
  private readonly events: LRUCache<string, number>;
  private readonly stepUps: LRUCache<string, Counter>;
  private readonly locks: LRUCache<string, Timed<string>>;
  private readonly risk: LRUCache<string, RiskEntry>;
  private readonly audit: Readonly<Record<string, string>>[] = [];
  /**
   * Revocation watermarks per subject (key '' = the whole subject, else the workflow). Not an LRU: a
   * forgotten watermark would let an old session back in. Beyond `maxSubjects` subjects the oldest
   * subject's watermarks are folded into {@link revocationFloor}, which then applies to every subject
   * (fail closed: only sessions older than a forgotten revocation are refused).
   */
  private readonly revocations = new Map<string, Map<string, Revocation>>();
  private revocationFloor: number | undefined;
  private readonly maxRevokedSubjects: number;
  private readonly listeners = new Set<InvalidationListener>();
  private readonly settledTtlMs: number;
  private readonly auditMaxLen: number;
  private closed = false;

  constructor(
    private readonly logger: Logger,
    private readonly now: () => number,
    options: MemoryVerdictStoreOptions = {},
  ) {
    const maxSubjects = options.maxSubjects ?? 100_000;
    const maxEntries = options.maxEntries ?? 100_000;
    this.verdicts = new LRUCache({ max: maxSubjects });
    this.maxRevokedSubjects = maxSubjects;
    this.pending = new LRUCache({ max: maxEntries });
    this.sessions = new LRUCache({ max: maxEntries });
    this.events = new LRUCache({ max: maxEntries });
    this.stepUps = new LRUCache({ max: maxEntries });
    this.locks = new LRUCache({ max: maxEntries });
    this.risk = new LRUCache({ max: maxSubjects });
    this.settledTtlMs = options.settledVerdictTtlMs ?? DEFAULT_SETTLED_VERDICT_TTL_MS;
    this.auditMaxLen = options.auditMaxLen ?? 10_000;
  }

  /** The audit entries currently kept, oldest first (for tests and `idgate explain`). */
  auditEntries(): readonly Readonly<Record<string, string>>[] {
    return [...this.audit];
  }

  async getVerdicts(subject: string, workflows: readonly string[]): Promise<(Verdict | undefined)[]> {
    this.open();
    const byWorkflow = this.verdicts.get(subject);
    return workflows.map((w) => this.live(byWorkflow?.get(w)));
  }

  async putVerdict(v: Verdict, options: PutVerdictOptions = {}): Promise<PutVerdictResult> {
    this.open();
    const clean = toVerdict(v);
    if (clean === undefined) throw new TypeError('putVerdict: not a valid Verdict');
    if (isRevokedSession(this.watermark(clean.subject, clean.workflow), options.sessionCreatedAt)) return 'revoked';
    let byWorkflow = this.verdicts.get(v.subject);
    const stored = this.live(byWorkflow?.get(v.workflow));
    const result = orderVerdictWrite(stored, clean);
    if (result !== 'written') return result;
    if (byWorkflow === undefined) {
      byWorkflow = new Map();
      this.verdicts.set(v.subject, byWorkflow);
    }
    const ttl = EXPIRING_STATUSES.has(clean.status) ? this.settledTtlMs : Infinity;
    byWorkflow.set(clean.workflow, { value: clean, expiresAt: this.now() + ttl });
    if (isStatusRegression(stored, clean)) {
      this.recordRevocation(clean.subject, clean.workflow, { at: this.now(), reason: 'didit_status_regression' });
    }
    this.emit(clean.subject, clean.workflow);
    return 'written';
  }

  async revokeVerdicts(
    subject: string,
    workflow: string | undefined,
    revocation: { readonly at: number; readonly reason: RevocationReason },
    pendingWorkflows: readonly string[] = [],
  ): Promise<RevokeResult> {
    this.open();
    if (!Number.isFinite(revocation.at)) throw new TypeError('revokeVerdicts: at must be a finite epoch ms');
    this.recordRevocation(subject, workflow, revocation);
    const verdicts: Verdict[] = [];
    const pending: PendingSession[] = [];
    const byWorkflow = this.verdicts.get(subject);
    const names = new Set<string>(workflow !== undefined ? [workflow] : [...(byWorkflow?.keys() ?? []), ...pendingWorkflows]);
    for (const name of names) {
      const v = this.live(byWorkflow?.get(name));
      if (v) verdicts.push(v);
      byWorkflow?.delete(name);
      const key = pairKey(subject, name);
      const p = this.live(this.pending.get(key));
      if (p) pending.push(p);
      this.pending.delete(key);
    }
    if (byWorkflow !== undefined && byWorkflow.size === 0) this.verdicts.delete(subject);
    this.emit(subject, workflow);
    return { verdicts, pending };
  }

  async getRevocations(subject: string): Promise<Revocation[]> {
    this.open();
    return sortRevocations([...(this.revocations.get(subject)?.values() ?? [])]);
  }

  async listVerdicts(subject: string): Promise<Verdict[]> {
    this.open();
    const byWorkflow = this.verdicts.get(subject);
    if (byWorkflow === undefined) return [];
    const out: Verdict[] = [];
    for (const [workflow, entry] of byWorkflow) {
      const v = this.live(entry);
      if (v) out.push(v);
      else byWorkflow.delete(workflow);
    }
    return out;
  }

  async getPending(subject: string, workflow: string): Promise<PendingSession | undefined> {
    this.open();
    return this.live(this.pending.get(pairKey(subject, workflow)));
  }

  async putPending(p: PendingSession, ttlMs: number): Promise<'stored' | 'revoked'> {
    this.open();
    const clean = JSON.parse(encodePending(p)) as PendingSession;
    const ttl = ttlArg(ttlMs, 'putPending ttlMs');
    if (isRevokedSession(this.watermark(clean.subject, clean.workflow), clean.createdAt)) return 'revoked';
    this.pending.set(pairKey(p.subject, p.workflow), {
      value: clean,
      expiresAt: this.now() + ttl,
    });
    return 'stored';
  }

  async deletePending(subject: string, workflow: string): Promise<void> {
    this.open();
    this.pending.delete(pairKey(subject, workflow));
  }

  async deferPending(subject: string, workflow: string, checkedAt: number): Promise<void> {
    this.open();
    const entry = this.pending.get(pairKey(subject, workflow));
    if (entry !== undefined) entry.checkedAt = checkedAt;
  }

  async listStalePending(olderThan: number, limit: number): Promise<PendingSession[]> {
    this.open();
    if (!(limit > 0)) return [];
    const stale: { p: PendingSession; at: number }[] = [];
    const expired: string[] = [];
    for (const [key, entry] of this.pending.entries()) {
      const p = this.live(entry);
      const at = entry.checkedAt ?? p?.createdAt ?? 0;
      if (p === undefined) expired.push(key);
      else if (at <= olderThan) stale.push({ p, at });
    }
    for (const key of expired) this.pending.delete(key);
    stale.sort((a, b) => a.at - b.at);
    return stale.slice(0, Math.floor(limit)).map((s) => s.p);
  }

  async getSession(sessionId: string): Promise<SessionRecord | undefined> {
    this.open();
    return this.live(this.sessions.get(sessionId));
  }

  async putSession(rec: SessionRecord, ttlMs: number): Promise<void> {
    this.open();
    const clean = JSON.parse(encodeSession(rec)) as SessionRecord;
    this.sessions.set(rec.sessionId, { value: clean, expiresAt: this.now() + ttlArg(ttlMs, 'putSession ttlMs') });
  }

  async markEventSeen(eventKey: string, ttlMs: number): Promise<boolean> {
    this.open();
    const ttl = ttlArg(ttlMs, 'markEventSeen ttlMs');
    const seenUntil = this.events.get(eventKey);
    if (seenUntil !== undefined && seenUntil > this.now()) return false;
    this.events.set(eventKey, this.now() + ttl);
    return true;
  }

  async appendAudit(event: Readonly<Record<string, string>>): Promise<void> {
    this.open();
    if (Object.keys(event).length === 0) return;
    this.audit.push({ ...event });
    if (this.audit.length > this.auditMaxLen) this.audit.splice(0, this.audit.length - this.auditMaxLen);
  }

  async countStepUp(subject: string, workflow: string, windowMs: number): Promise<number> {
    this.open();
    const ttl = ttlArg(windowMs, 'countStepUp windowMs');
    const key = pairKey(subject, workflow);
    const counter = this.stepUps.get(key);
    if (counter !== undefined && counter.expiresAt > this.now()) {
      counter.count += 1;
      return counter.count;
    }
    this.stepUps.set(key, { count: 1, expiresAt: this.now() + ttl });
    return 1;
  }

  async acquireLock(name: string, ttlMs: number): Promise<string | undefined> {
    this.open();
    const ttl = ttlArg(ttlMs, 'acquireLock ttlMs');
    if (this.live(this.locks.get(name)) !== undefined) return undefined;
    const token = randomBytes(16).toString('hex');
    this.locks.set(name, { value: token, expiresAt: this.now() + ttl });
    return token;
  }

  async releaseLock(name: string, token: string): Promise<boolean> {
    this.open();
    if (this.live(this.locks.get(name)) !== token) return false;
    this.locks.delete(name);
    return true;
  }

  async recordActivity(subject: string, o: RiskObservation, limits: RiskLimits): Promise<RiskSnapshot> {
    this.open();
    checkRiskLimits(limits);
    const now = o.now;
    const w = limits.velocityWindowMs;
    const idx = Math.floor(now / w);
    let entry = this.risk.get(subject);
    if (entry !== undefined && entry.expiresAt <= this.now()) entry = undefined;
    const before = entry && {
      ...(entry.ip !== '' ? { lastIp: entry.ip } : {}),
      ...(entry.country !== undefined ? { lastCountry: entry.country, lastCountryAt: entry.countryAt } : {}),
    };
    if (entry === undefined) {
      entry = { seenAt: now, ip: o.ip, devices: new Set(), vi: idx, vn: 0, vp: 0, expiresAt: 0, tokens: new Map() };
      this.risk.set(subject, entry);
    }

    let knownDevice = false;
    if (o.deviceId !== undefined && o.deviceId !== '') {
      knownDevice = entry.devices.has(o.deviceId);
      if (!knownDevice) {
        if (entry.devices.size >= MAX_KNOWN_DEVICES) {
          const oldest = entry.devices.values().next();
          if (oldest.done !== true) entry.devices.delete(oldest.value);
        }
        entry.devices.add(o.deviceId);
      }
    }

    if (entry.vi >= idx) {
      entry.vn += 1;
    } else {
      entry.vp = entry.vi === idx - 1 ? entry.vn : 0;
      entry.vn = 1;
      entry.vi = idx;
    }
    const velocityCount = slidingCount(now, w, entry.vi * w, entry.vn, entry.vp);

    entry.seenAt = now;
    entry.ip = o.ip;
    if (o.country !== undefined && o.country !== '') {
      entry.country = o.country;
      entry.countryAt = now;
    }
    entry.expiresAt = this.now() + limits.stateTtlMs;

    let tracked = entry.tokens.get(o.tokenId);
    if (tracked !== undefined && tracked.expiresAt <= this.now()) {
      entry.tokens.delete(o.tokenId);
      tracked = undefined;
    }
    if (tracked === undefined) {
      for (const [id, t] of entry.tokens) if (t.expiresAt <= this.now()) entry.tokens.delete(id);
      while (entry.tokens.size >= MAX_TRACKED_TOKENS) {
        const oldest = entry.tokens.keys().next();
        if (oldest.done === true) break;
        entry.tokens.delete(oldest.value);
      }
      tracked = { ips: new Set(), expiresAt: this.now() + limits.tokenIpWindowMs };
      entry.tokens.set(o.tokenId, tracked);
    }
    let distinctIpsForToken: number;
    if (tracked.ips.has(o.ip)) distinctIpsForToken = tracked.ips.size;
    else if (tracked.ips.size >= MAX_IPS_PER_TOKEN) distinctIpsForToken = tracked.ips.size + 1;
    else {
      tracked.ips.add(o.ip);
      distinctIpsForToken = tracked.ips.size;
    }

    return { ...before, knownDevice, firstSeen: before === undefined, velocityCount, distinctIpsForToken };
  }

  async getRisk(subject: string): Promise<RiskRecord | undefined> {
    this.open();
    const entry = this.risk.get(subject);
    if (entry === undefined || entry.expiresAt <= this.now()) return undefined;
    let trackedTokens = 0;
    for (const t of entry.tokens.values()) if (t.expiresAt > this.now()) trackedTokens += 1;
    return {
      lastSeenAt: entry.seenAt,
      ...(entry.ip !== '' ? { lastIp: entry.ip } : {}),
      ...(entry.country !== undefined ? { lastCountry: entry.country, lastCountryAt: entry.countryAt } : {}),
      knownDevices: entry.devices.size,
      trackedTokens,
    };
  }

  async deleteRisk(subject: string): Promise<void> {
    this.open();
    this.risk.delete(subject);
  }

  onInvalidate(listener: InvalidationListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  async ping(): Promise<boolean> {
    return !this.closed;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
  }

  private open(): void {
    if (this.closed) throw new StoreError('unavailable', 'verdict store is closed');
  }

  /** The latest revocation time of the subject or the workflow (or the floor), if any. */
  private watermark(subject: string, workflow: string): number | undefined {
    const bySubject = this.revocations.get(subject);
    const times = [bySubject?.get('')?.at, bySubject?.get(`w:${workflow}`)?.at, this.revocationFloor].filter(
      (t): t is number => t !== undefined,
    );
    return times.length === 0 ? undefined : Math.max(...times);
  }

  /** Records a watermark, keeping a later one already stored. */
  private recordRevocation(subject: string, workflow: string | undefined, r: { readonly at: number; readonly reason: RevocationReason }): void {
    let bySubject = this.revocations.get(subject);
    if (bySubject === undefined) {
      if (this.revocations.size >= this.maxRevokedSubjects) {
        const oldest = this.revocations.entries().next();
        if (oldest.done !== true) {
          this.revocations.delete(oldest.value[0]);
          for (const old of oldest.value[1].values()) this.revocationFloor = Math.max(this.revocationFloor ?? old.at, old.at);
        }
      }
      bySubject = new Map();
      this.revocations.set(subject, bySubject);
    }
    const field = workflow === undefined ? '' : `w:${workflow}`;
    const current = bySubject.get(field);
    if (current !== undefined && current.at >= r.at) return;
    bySubject.set(field, { at: r.at, reason: r.reason, ...(workflow !== undefined ? { workflow } : {}) });
  }

  private live<T>(entry: Timed<T> | undefined): T | undefined {
    return entry !== undefined && entry.expiresAt > this.now() ? entry.value : undefined;
  }

  private emit(subject: string, workflow?: string): void {
    for (const listener of this.listeners) {
      try {
        listener(subject, workflow);
      } catch (err) {
        this.logger.error({ err: err instanceof Error ? err.message : String(err) }, 'invalidation listener threw');
      }
    }
  }
}

/**
 * Creates a {@link MemoryVerdictStore}. `clock` defaults to `Date.now` (tests pass a fake one).
 * @throws TypeError when a cap is not a positive integer.
 */
export function createMemoryVerdictStore(
  deps: { logger: Logger; clock?: () => number },
  options: MemoryVerdictStoreOptions = {},
): MemoryVerdictStore {
  for (const [name, value] of Object.entries(options)) {
    if (value !== undefined && (!Number.isInteger(value) || (value as number) <= 0)) {
      throw new TypeError(`memory store: ${name} must be a positive integer`);
    }
  }
  return new MemoryVerdictStore(deps.logger.child({ component: 'verdict-store' }), deps.clock ?? Date.now, options);
}
