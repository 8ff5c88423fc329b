import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster, Redis, ReplyError } from 'ioredis';
import type { ClusterOptions, RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import type { PendingSession, SessionRecord, Verdict } from '../core/verdict.js';
import {
  decodeIndexMember,
  decodeInvalidation,
  decodePending,
  decodeSession,
  decodeVerdict,
  encodeIndexMember,
  encodeInvalidation,
  encodePending,
  encodeSession,
  encodeVerdict,
} from './store-codec.js';
import { createStoreKeys, DEFAULT_KEY_PREFIX, escapeKeyPart } from './store-keys.js';
import type { StoreKeys } from './store-keys.js';
import {
  COUNT_STEP_UP_LUA,
  LIST_VERDICTS_LUA,
  PUT_PENDING_LUA,
  PUT_VERDICT_LUA,
  RELEASE_LOCK_LUA,
  REVOKE_VERDICTS_LUA,
  UNINDEX_IF_SCORE_LUA,
} from './redis-scripts.js';
import { DELETE_RISK_LUA, GET_RISK_LUA, RECORD_RISK_LUA } from './risk-scripts.js';
import { checkRiskLimits, MAX_IPS_PER_TOKEN, MAX_KNOWN_DEVICES, MAX_TRACKED_TOKENS } from './risk-store.js';
import type { RiskLimits, RiskObservation, RiskRecord, RiskSnapshot, RiskStore } from './risk-store.js';
import { DEFAULT_SETTLED_VERDICT_TTL_MS, EXPIRING_STATUSES } from './verdict-order.js';
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
import { instrumentRedis } from '../observability/tracing.js';
import { decodeRevocation, encodeRevocation, revocationField, sortRevocations } from './store-codec.js';

/** Connection settings of {@link createRedisVerdictStore}; exactly one of `url`, `sentinels`, `cluster`. */
export interface RedisConnectionOptions {
  /** `redis://[:password@]host:port[/db]` (or `rediss://`) for a standalone server. */
  readonly url?: string;
  /** Sentinel addresses; requires `sentinelName` (the monitored master's name). */
  readonly sentinels?: readonly { readonly host: string; readonly port: number }[];
  readonly sentinelName?: string;
  /** Redis Cluster seed nodes. */
  readonly cluster?: readonly { readonly host: string; readonly port: number }[];
  /** Overrides any password in the URL; also used for the cluster nodes and the sentinels. */
  readonly password?: string;
  /** Default `idgate:v1:`. Must not contain `{` or `}`. */
  readonly keyPrefix?: string;
  /** Longest a single command may take before it fails with `timeout` (default 500 ms). */
  readonly commandTimeoutMs?: number;
  /** Longest a connection attempt may take (default 2 s). */
  readonly connectTimeoutMs?: number;
}

/** Options of {@link createRedisVerdictStore}. */
export interface RedisVerdictStoreOptions {
  readonly redis: RedisConnectionOptions;
  /** TTL of `Expired`/`Abandoned` verdicts (default 30 days). */
  readonly settledVerdictTtlMs?: number;
  /** Approximate cap of the audit stream (`XADD MAXLEN ~`, default 10 000). */
  readonly auditMaxLen?: number;
  /** Subscribe to invalidations (default true; a write-only tool may turn it off). */
  readonly subscribe?: boolean;
  /** The clock of status-regression watermarks (default `Date.now`); the same clock idgate stamps sessions with. */
  readonly clock?: () => number;
}

type Client = Redis | Cluster;
type ScriptFn = (...args: (string | number)[]) => Promise<unknown>;

const SCRIPTS = {
  idgatePutVerdict: { numberOfKeys: 3, lua: PUT_VERDICT_LUA },
  idgateRevokeVerdicts: { numberOfKeys: 2, lua: REVOKE_VERDICTS_LUA },
  idgatePutPending: { numberOfKeys: 2, lua: PUT_PENDING_LUA },
  idgateListVerdicts: { numberOfKeys: 1, lua: LIST_VERDICTS_LUA },
  idgateCountStepUp: { numberOfKeys: 1, lua: COUNT_STEP_UP_LUA },
  idgateReleaseLock: { numberOfKeys: 1, lua: RELEASE_LOCK_LUA },
  idgateUnindexIfScore: { numberOfKeys: 1, lua: UNINDEX_IF_SCORE_LUA },
  idgateRecordRisk: { numberOfKeys: 4, lua: RECORD_RISK_LUA },
  idgateGetRisk: { numberOfKeys: 3, lua: GET_RISK_LUA },
  idgateDeleteRisk: { numberOfKeys: 3, lua: DELETE_RISK_LUA },
} as const;
type ScriptName = keyof typeof SCRIPTS;

function ttlArg(ttlMs: number, what: string): number {
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new TypeError(`${what} must be a positive number of ms`);
  return Math.ceil(ttlMs);
}

/**
 * Maps an ioredis failure to a {@link StoreError}. ioredis gives client-side failures no codes, so the
 * timeout is recognised by its fixed message; server replies by their error prefix.
 */
function toStoreError(err: unknown): StoreError | TypeError {
  if (err instanceof StoreError) return err;
  if (err instanceof TypeError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (message === 'Command timed out') return new StoreError('timeout', 'redis command timed out', { cause: err });
  if (err instanceof ReplyError) {
    if (message.startsWith('WRONGTYPE')) {
      return new StoreError('corrupt', 'redis key holds an unexpected type', { cause: err });
    }
    if (/^ERR .*script/i.test(message)) return new StoreError('corrupt', 'redis script failed', { cause: err });
    const prefix = message.split(' ', 1)[0] ?? 'ERR';
    return new StoreError('unavailable', `redis refused the command (${prefix})`, { cause: err });
  }
  return new StoreError('unavailable', `redis unavailable: ${message}`, { cause: err });
}

/**
 * The shared verdict store on Redis (standalone, Sentinel or Cluster) through ioredis. A resource with a
 * lifecycle: two connections (commands and the invalidation subscriber); call {@link close} on shutdown.
 *
 * Failure behaviour: a command fails fast with `StoreError` `unavailable` while disconnected (no offline
 * queue), with `timeout` after `commandTimeoutMs`, and commands in flight when the connection drops are
 * failed rather than replayed. The client keeps reconnecting in the background; {@link whenReady} waits for it.
 */
export class RedisVerdictStore implements VerdictStore, RiskStore {
  private readonly keys: StoreKeys;
  private readonly listeners = new Set<InvalidationListener>();
  private readonly settledTtlMs: number;
  private readonly auditMaxLen: number;
  private readonly connectTimeoutMs: number;
  private readonly clock: () => number;
  private subscribed = false;
  private closed = false;
  private corrupt = 0;

  /** Prefer {@link createRedisVerdictStore}, which builds the two connections with the right options. */
  constructor(
    private readonly logger: Logger,
    private readonly client: Client,
    private readonly subscriber: Client | undefined,
    options: { keyPrefix: string; settledTtlMs: number; auditMaxLen: number; connectTimeoutMs: number; clock?: () => number },
  ) {
    this.clock = options.clock ?? Date.now;
    this.keys = createStoreKeys(options.keyPrefix);
    this.settledTtlMs = options.settledTtlMs;
    this.auditMaxLen = options.auditMaxLen;
    this.connectTimeoutMs = options.connectTimeoutMs;
    for (const [name, def] of Object.entries(SCRIPTS)) client.defineCommand(name, def);
    this.watch(client, 'commands');
    if (subscriber) this.startSubscriber(subscriber);
  }

  /** How many stored values were unreadable and treated as absent since start. */
  stats(): { corruptValues: number } {
    return { corruptValues: this.corrupt };
  }

  /**
   * Resolves `true` once the command connection is ready and the invalidation subscription is active, or
   * `false` if that has not happened within `timeoutMs` (default: the connect timeout). Never rejects.
   */
  async whenReady(timeoutMs: number = this.connectTimeoutMs): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      if (this.closed) return false;
      if (this.client.status === 'ready' && (this.subscriber === undefined || this.subscribed)) return true;
      if (performance.now() >= deadline) return false;
      // Polling keeps this free of listener bookkeeping; it runs at startup and in tests only.
      await sleep(10);
    }
  }

  async getVerdicts(subject: string, workflows: readonly string[]): Promise<(Verdict | undefined)[]> {
    if (workflows.length === 0) return [];
    const raws = await this.run(() => this.client.mget(workflows.map((w) => this.keys.verdict(subject, w))));
    return workflows.map((workflow, i) => {
      const raw = raws[i];
      if (raw === null || raw === undefined) return undefined;
      return this.counted(decodeVerdict(raw, subject, workflow), 'verdict');
    });
  }

  async putVerdict(v: Verdict, options: PutVerdictOptions = {}): Promise<PutVerdictResult> {
    const json = encodeVerdict(v);
    const ttl = EXPIRING_STATUSES.has(v.status) ? this.settledTtlMs : 0;
    const now = this.clock();
    const created = options.sessionCreatedAt;
    const result = await this.run(() =>
      this.script('idgatePutVerdict')(
        this.keys.verdict(v.subject, v.workflow),
        this.keys.workflows(v.subject),
        this.keys.revocations(v.subject),
        json,
        String(v.eventAt),
        v.status,
        v.sessionId,
        ttl,
        this.keys.invalidationChannel(),
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
  }

  async revokeVerdicts(
    subject: string,
    workflow: string | undefined,
    revocation: { readonly at: number; readonly reason: RevocationReason },
    pendingWorkflows: readonly string[] = [],
  ): Promise<RevokeResult> {
    if (!Number.isFinite(revocation.at)) throw new TypeError('revokeVerdicts: at must be a finite epoch ms');
    const record: Revocation = { at: revocation.at, reason: revocation.reason, ...(workflow !== undefined ? { workflow } : {}) };
    const flat = await this.run(() =>
      this.script('idgateRevokeVerdicts')(
        this.keys.workflows(subject),
        this.keys.revocations(subject),
        // Both prefixes carry the subject's hash tag, so every key the script builds is on its slot.
        this.keys.verdict(subject, ''),
        this.keys.pending(subject, ''),
        this.keys.invalidationChannel(),
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
        const v = this.counted(decodeVerdictAnyWorkflow(raw, subject), 'verdict');
        if (v) verdicts.push(v);
      } else if (kind === 'p') {
        const p = this.counted(decodePendingAnyWorkflow(raw, subject), 'pending');
        if (p) pending.push(p);
      }
    }
    // The global index may be on another slot (Cluster): best effort; the sweep drops leftovers itself.
    for (const p of pending) {
      await this.run(() => this.client.zrem(this.keys.pendingIndex(), encodeIndexMember(p.subject, p.workflow))).catch(() => undefined);
    }
    return { verdicts, pending };
  }

  async getRevocations(subject: string): Promise<Revocation[]> {
    const values = await this.run(() => this.client.hvals(this.keys.revocations(subject)));
    const out: Revocation[] = [];
    for (const raw of values) {
      const r = this.counted(decodeRevocation(raw), 'revocation');
      if (r) out.push(r);
    }
    return sortRevocations(out);
  }

  async listVerdicts(subject: string): Promise<Verdict[]> {
    const flat = await this.run(() =>
      this.script('idgateListVerdicts')(this.keys.workflows(subject), this.keys.verdict(subject, '')),
    );
    if (!Array.isArray(flat)) throw new StoreError('corrupt', 'unexpected reply from the verdict list script');
    const out: Verdict[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const member: unknown = flat[i];
      const raw: unknown = flat[i + 1];
      if (typeof member !== 'string' || typeof raw !== 'string') continue;
      const parsed = decodeVerdictAnyWorkflow(raw, subject);
      const v = parsed !== undefined && escapeKeyPart(parsed.workflow) === member ? parsed : undefined;
      const checked = this.counted(v, 'verdict');
      if (checked) out.push(checked);
    }
    return out;
  }

  async getPending(subject: string, workflow: string): Promise<PendingSession | undefined> {
    const raw = await this.run(() => this.client.get(this.keys.pending(subject, workflow)));
    return raw === null ? undefined : this.counted(decodePending(raw, subject, workflow), 'pending');
  }

  async putPending(p: PendingSession, ttlMs: number): Promise<'stored' | 'revoked'> {
    const json = encodePending(p);
    const ttl = ttlArg(ttlMs, 'putPending ttlMs');
    // The index has no subject tag (it is global), so on Cluster it may live on another node: two commands,
    // pending key first. A crash in between leaves an unindexed pending that simply expires.
    return this.run(async () => {
      const stored = await this.script('idgatePutPending')(
        this.keys.pending(p.subject, p.workflow),
        this.keys.revocations(p.subject),
        json,
        ttl,
        String(p.createdAt),
        revocationField(p.workflow),
      );
      if (stored === 'revoked') return 'revoked';
      if (stored !== 'stored') throw new StoreError('corrupt', 'unexpected reply from the pending write script');
      await this.client.zadd(this.keys.pendingIndex(), p.createdAt, encodeIndexMember(p.subject, p.workflow));
      return 'stored';
    });
  }

  async deletePending(subject: string, workflow: string): Promise<void> {
    await this.run(async () => {
      await this.client.del(this.keys.pending(subject, workflow));
      await this.client.zrem(this.keys.pendingIndex(), encodeIndexMember(subject, workflow));
    });
  }

  async deferPending(subject: string, workflow: string, checkedAt: number): Promise<void> {
    // XX: only move an existing index entry; a deleted pending session stays deleted.
    await this.run(() => this.client.zadd(this.keys.pendingIndex(), 'XX', checkedAt, encodeIndexMember(subject, workflow)));
  }

  async listStalePending(olderThan: number, limit: number): Promise<PendingSession[]> {
    if (!(limit > 0)) return [];
    const index = this.keys.pendingIndex();
    const flat = await this.run(() =>
      this.client.zrangebyscore(index, '-inf', olderThan, 'WITHSCORES', 'LIMIT', 0, Math.floor(limit)),
    );
    const entries: { member: string; score: string }[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) entries.push({ member: flat[i] ?? '', score: flat[i + 1] ?? '' });
    const found = await Promise.all(
      entries.map(async ({ member, score }) => {
        const id = decodeIndexMember(member);
        const raw = id ? await this.run(() => this.client.get(this.keys.pending(id.subject, id.workflow))) : null;
        const pending = raw !== null && id ? this.counted(decodePending(raw, id.subject, id.workflow), 'pending') : undefined;
        if (pending === undefined) {
          // Only if not re-added meanwhile: a fresh putPending for the same pair keeps its index entry.
          await this.run(() => this.script('idgateUnindexIfScore')(index, member, score));
        }
        return pending;
      }),
    );
    return found.filter((p): p is PendingSession => p !== undefined);
  }

  async getSession(sessionId: string): Promise<SessionRecord | undefined> {
    const raw = await this.run(() => this.client.get(this.keys.session(sessionId)));
    return raw === null ? undefined : this.counted(decodeSession(raw, sessionId), 'session');
  }

  async putSession(rec: SessionRecord, ttlMs: number): Promise<void> {
    const json = encodeSession(rec);
    const ttl = ttlArg(ttlMs, 'putSession ttlMs');
    await this.run(() => this.client.set(this.keys.session(rec.sessionId), json, 'PX', ttl));
  }

  async markEventSeen(eventKey: string, ttlMs: number): Promise<boolean> {
    const ttl = ttlArg(ttlMs, 'markEventSeen ttlMs');
    const reply = await this.run(() => this.client.set(this.keys.event(eventKey), '1', 'PX', ttl, 'NX'));
    return reply === 'OK';
  }

  async appendAudit(event: Readonly<Record<string, string>>): Promise<void> {
    const fields = Object.entries(event).flat();
    if (fields.length === 0) return;
    await this.run(() => this.client.xadd(this.keys.audit(), 'MAXLEN', '~', this.auditMaxLen, '*', ...fields));
  }

  async countStepUp(subject: string, workflow: string, windowMs: number): Promise<number> {
    const ttl = ttlArg(windowMs, 'countStepUp windowMs');
    const n = await this.run(() => this.script('idgateCountStepUp')(this.keys.stepUps(subject, workflow), ttl));
    if (typeof n !== 'number') throw new StoreError('corrupt', 'unexpected reply from the step-up counter');
    return n;
  }

  async acquireLock(name: string, ttlMs: number): Promise<string | undefined> {
    const ttl = ttlArg(ttlMs, 'acquireLock ttlMs');
    const token = randomBytes(16).toString('hex');
    const reply = await this.run(() => this.client.set(this.keys.lock(name), token, 'PX', ttl, 'NX'));
    return reply === 'OK' ? token : undefined;
  }

  async releaseLock(name: string, token: string): Promise<boolean> {
    const n = await this.run(() => this.script('idgateReleaseLock')(this.keys.lock(name), token));
    return n === 1;
  }

  async recordActivity(subject: string, o: RiskObservation, limits: RiskLimits): Promise<RiskSnapshot> {
    checkRiskLimits(limits);
    const reply = await this.run(() =>
      this.script('idgateRecordRisk')(
        this.keys.riskState(subject),
        this.keys.riskDevices(subject),
        this.keys.riskTokens(subject),
        this.keys.tokenIps(subject, o.tokenId),
        String(Math.floor(o.now)),
        o.ip,
        o.country ?? '',
        o.deviceId ?? '',
        escapeKeyPart(o.tokenId),
        Math.ceil(limits.stateTtlMs),
        Math.ceil(limits.velocityWindowMs),
        Math.ceil(limits.tokenIpWindowMs),
        MAX_KNOWN_DEVICES,
        MAX_IPS_PER_TOKEN,
        MAX_TRACKED_TOKENS,
        this.keys.tokenIps(subject, ''),
      ),
    );
    if (!Array.isArray(reply) || reply.length !== 7) throw new StoreError('corrupt', 'unexpected reply from the risk script');
    const [ip, country, countryAt, known, first, velocity, ips] = reply as unknown[];
    const lastCountryAt = optionalNumber(countryAt);
    if (typeof known !== 'number' || typeof first !== 'number' || typeof velocity !== 'number' || typeof ips !== 'number') {
      throw new StoreError('corrupt', 'unexpected reply from the risk script');
    }
    return {
      ...(typeof ip === 'string' && ip !== '' ? { lastIp: ip } : {}),
      ...(typeof country === 'string' && country !== '' ? { lastCountry: country } : {}),
      ...(lastCountryAt !== undefined ? { lastCountryAt } : {}),
      knownDevice: known === 1,
      firstSeen: first === 1,
      velocityCount: velocity,
      distinctIpsForToken: ips,
    };
  }

  async getRisk(subject: string): Promise<RiskRecord | undefined> {
    const reply = await this.run(() =>
      this.script('idgateGetRisk')(this.keys.riskState(subject), this.keys.riskDevices(subject), this.keys.riskTokens(subject)),
    );
    if (!Array.isArray(reply) || reply.length !== 6) throw new StoreError('corrupt', 'unexpected reply from the risk read script');
    const [seen, ip, country, countryAt, devices, tokens] = reply as unknown[];
    const lastSeenAt = optionalNumber(seen);
    if (lastSeenAt === undefined) return undefined;
    const lastCountryAt = optionalNumber(countryAt);
    return {
      lastSeenAt,
      ...(typeof ip === 'string' && ip !== '' ? { lastIp: ip } : {}),
      ...(typeof country === 'string' && country !== '' ? { lastCountry: country } : {}),
      ...(lastCountryAt !== undefined ? { lastCountryAt } : {}),
      knownDevices: typeof devices === 'number' ? devices : 0,
      trackedTokens: typeof tokens === 'number' ? tokens : 0,
    };
  }

  async deleteRisk(subject: string): Promise<void> {
    await this.run(() =>
      this.script('idgateDeleteRisk')(
        this.keys.riskState(subject),
        this.keys.riskDevices(subject),
        this.keys.riskTokens(subject),
        this.keys.tokenIps(subject, ''),
      ),
    );
  }

  onInvalidate(listener: InvalidationListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  async ping(): Promise<boolean> {
    if (this.closed) return false;
    try {
      return (await this.client.ping()) === 'PONG';
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.listeners.clear();
    const quit = async (c: Client): Promise<void> => {
      try {
        await c.quit();
      } catch {
        c.disconnect();
      }
    };
    await Promise.all([quit(this.client), ...(this.subscriber ? [quit(this.subscriber)] : [])]);
  }

  private async run<T>(op: () => Promise<T>): Promise<T> {
    if (this.closed) throw new StoreError('unavailable', 'verdict store is closed');
    try {
      return await op();
    } catch (err) {
      throw toStoreError(err);
    }
  }

  private script(name: ScriptName): ScriptFn {
    const fn = (this.client as unknown as Record<ScriptName, ScriptFn>)[name];
    return fn.bind(this.client);
  }

  private counted<T>(value: T | undefined, kind: string): T | undefined {
    if (value === undefined) {
      this.corrupt += 1;
      this.logger.warn({ kind }, 'unreadable value in the verdict store treated as absent');
    }
    return value;
  }

  private watch(c: Client, role: string): void {
    let down = false;
    c.on('error', (err: Error) => {
      // ioredis emits an error per failed reconnect attempt; log the first of each outage only.
      if (down) return;
      down = true;
      this.logger.warn({ role, err: err.message }, 'redis connection failed; reconnecting');
    });
    c.on('ready', () => {
      if (down) this.logger.info({ role }, 'redis connection restored');
      down = false;
    });
  }

  private startSubscriber(sub: Client): void {
    this.watch(sub, 'subscriber');
    const channel = this.keys.invalidationChannel();
    let readyOnce = false;
    sub.on('ready', () => {
      // After a reconnect, events published while we were away are lost: drop everything cached.
      if (readyOnce) this.emit(undefined);
      readyOnce = true;
    });
    sub.on('message', (ch: string, message: string) => {
      if (ch !== channel) return;
      const event = decodeInvalidation(message);
      if (event === undefined) {
        this.logger.warn('malformed invalidation message ignored');
        return;
      }
      this.emit(event.subject, event.workflow);
    });
    sub.subscribe(channel).then(
      () => {
        this.subscribed = true;
      },
      (err: unknown) => {
        this.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'invalidation subscribe failed');
      },
    );
  }

  private emit(subject: string | undefined, workflow?: string): void {
    for (const listener of this.listeners) {
      try {
        listener(subject, workflow);
      } catch (err) {
        this.logger.error({ err: err instanceof Error ? err.message : String(err) }, 'invalidation listener threw');
      }
    }
  }
}

function optionalNumber(value: unknown): number | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? n : undefined;
}

function decodePendingAnyWorkflow(raw: string, subject: string): PendingSession | undefined {
  try {
    const o: unknown = JSON.parse(raw);
    const workflow = typeof o === 'object' && o !== null ? (o as { workflow?: unknown }).workflow : undefined;
    return typeof workflow === 'string' ? decodePending(raw, subject, workflow) : undefined;
  } catch {
    return undefined;
  }
}

function decodeVerdictAnyWorkflow(raw: string, subject: string): Verdict | undefined {
  try {
    const o: unknown = JSON.parse(raw);
    const workflow = typeof o === 'object' && o !== null ? (o as { workflow?: unknown }).workflow : undefined;
    return typeof workflow === 'string' ? decodeVerdict(raw, subject, workflow) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Creates a {@link RedisVerdictStore} for a standalone server (`url`), a Sentinel group (`sentinels` +
 * `sentinelName`) or a Cluster (`cluster`). Connects in the background; use `whenReady()` to wait.
 *
 * @throws TypeError when not exactly one connection mode is given, or a timeout/prefix is invalid.
 */
export function createRedisVerdictStore(
  deps: { logger: Logger },
  options: RedisVerdictStoreOptions,
): RedisVerdictStore {
  const r = options.redis;
  const modes = [r.url !== undefined, r.sentinels !== undefined, r.cluster !== undefined].filter(Boolean).length;
  if (modes !== 1) throw new TypeError('redis: set exactly one of url, sentinels, cluster');
  if (r.sentinels !== undefined && !r.sentinelName) throw new TypeError('redis: sentinels need sentinelName');
  const commandTimeout = r.commandTimeoutMs ?? 500;
  const connectTimeout = r.connectTimeoutMs ?? 2000;
  for (const [name, ms] of [['commandTimeoutMs', commandTimeout], ['connectTimeoutMs', connectTimeout]] as const) {
    if (!Number.isFinite(ms) || ms <= 0) throw new TypeError(`redis: ${name} must be a positive number`);
  }
  const keyPrefix = r.keyPrefix ?? DEFAULT_KEY_PREFIX;
  createStoreKeys(keyPrefix);
  const logger = deps.logger.child({ component: 'verdict-store' });

  // No offline queue: while Redis is unreachable a command fails at once (`unavailable`) instead of
  // piling up in memory and answering after Envoy's deadline; maxRetriesPerRequest 0 and no resend fail
  // commands in flight when the connection drops (a replayed INCR or SET NX could double-apply).
  // commandTimeout bounds a command on a live but stuck connection.
  const base: RedisOptions = {
    ...(r.password !== undefined ? { password: r.password } : {}),
    commandTimeout,
    connectTimeout,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    enableAutoPipelining: true,
    lazyConnect: false,
  };
  // The subscriber holds one SUBSCRIBE (re-sent by ioredis on reconnect); queuing it offline is bounded.
  const subscriberOverrides: Partial<RedisOptions> = { enableOfflineQueue: true, enableAutoPipelining: false };

  let client: Client;
  let subscriber: Client | undefined;
  const subscribe = options.subscribe ?? true;
  if (r.cluster !== undefined) {
    const clusterOptions: ClusterOptions = {
      enableOfflineQueue: false,
      enableAutoPipelining: true,
      slotsRefreshTimeout: connectTimeout,
      scaleReads: 'master',
      redisOptions: {
        ...(r.password !== undefined ? { password: r.password } : {}),
        commandTimeout,
        connectTimeout,
        maxRetriesPerRequest: 0,
        autoResendUnfulfilledCommands: false,
      },
    };
    const nodes = r.cluster.map((n) => ({ host: n.host, port: n.port }));
    client = new Cluster(nodes, clusterOptions);
    subscriber = subscribe ? new Cluster(nodes, { ...clusterOptions, enableOfflineQueue: true }) : undefined;
  } else if (r.sentinels !== undefined) {
    const sentinelOptions: RedisOptions = {
      ...base,
      sentinels: r.sentinels.map((s) => ({ host: s.host, port: s.port })),
      name: r.sentinelName ?? '',
      // Subscribe to the sentinels' +switch-master: after a forced failover the old master keeps accepting
      // writes until it is demoted, and a verdict written there would be acknowledged and then lost.
      failoverDetector: true,
      ...(r.password !== undefined ? { sentinelPassword: r.password } : {}),
    };
    client = new Redis(sentinelOptions);
    subscriber = subscribe ? new Redis({ ...sentinelOptions, ...subscriberOverrides }) : undefined;
  } else {
    client = new Redis(r.url ?? '', base);
    subscriber = subscribe ? new Redis(r.url ?? '', { ...base, ...subscriberOverrides }) : undefined;
  }
  instrumentRedis(client);
  return new RedisVerdictStore(logger, client, subscriber, {
    keyPrefix,
    settledTtlMs: options.settledVerdictTtlMs ?? DEFAULT_SETTLED_VERDICT_TTL_MS,
    auditMaxLen: options.auditMaxLen ?? 10_000,
    connectTimeoutMs: connectTimeout,
    ...(options.clock ? { clock: options.clock } : {}),
  });
}
