import { createReadStream } from 'node:fs';
import { z } from 'zod';
import type { AuthResult } from '../core/auth-result.js';
import type { Outcome } from '../core/outcome.js';
import type { RequestContext } from '../core/request-context.js';
import type { RiskAssessment, RiskSignalName } from '../core/risk-assessment.js';
import { REPLAY_RECORD_VERSION, type ReplayRecord } from '../observability/replay-record.js';
import type { CompiledPolicy } from '../policy/compile-policy.js';
import type { ChangeDirection } from './diff-policies.js';

/** Longest decision-log line read; a longer one is counted as malformed and skipped, never buffered whole. */
export const MAX_LOG_LINE_BYTES = 256 * 1024;

/** One recorded decision whose outcome differs between the two policies. */
export interface ChangedDecision {
  readonly decisionId: string;
  readonly direction: ChangeDirection;
  /** `METHOD host path` of the request (already in the log line). */
  readonly request: string;
  readonly from: string;
  readonly to: string;
  readonly detail: string;
}

/** What a replay of decision logs found. */
export interface ReplayReport {
  /** Decision lines with a usable replay record, evaluated under both policies. */
  readonly replayed: number;
  readonly unchanged: number;
  readonly changed: readonly ChangedDecision[];
  /** Lines that are not decision-log lines (other log lines, blank lines). */
  readonly ignored: number;
  /** Decision lines without a replay record (`logging.decisionReplay` was off). */
  readonly withoutReplay: number;
  /** Lines that are not JSON, too long, or whose replay record is not a valid one: `file:line: why` (the first few). */
  readonly malformed: number;
  readonly malformedSamples: readonly string[];
}

const text = z.string().max(8192);
const stringMap = z.record(text, text);
const recordSchema = z.object({
  v: z.literal(REPLAY_RECORD_VERSION),
  at: z.number().finite(),
  request: z.object({
    method: text,
    scheme: text,
    host: text,
    path: text,
    query: text.optional(),
    sourceAddress: text,
    sourcePrincipal: text.optional(),
    contextExtensions: stringMap.optional(),
    headers: stringMap.optional(),
    pathError: z.literal(true).optional(),
    pathParameters: z.enum(['raw', 'encoded']).optional(),
  }),
  auth: z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('anonymous') }),
    z.object({ kind: z.literal('failed'), code: z.enum(['token_invalid', 'token_expired', 'token_not_yet_valid', 'dependency_unavailable']), issuer: text.optional() }),
    z.object({ kind: z.literal('verified'), issuer: text, subject: text, claims: z.record(z.string(), z.unknown()) }),
  ]),
  risk: z.object({ score: z.number().finite(), signals: z.array(text).max(64) }).optional(),
});

const MAX_SAMPLES = 10;
/** Longest decision or request id reported as is (ours are 36 characters); a longer one is replaced by the line's place. */
const MAX_ID_LENGTH = 128;

/**
 * Replays decision-log files: every line that is a decision (`msg: "decision"`) with a replay record is
 * evaluated under both compiled policies at the record's time, and each decision whose outcome differs is
 * reported with its decision id. Other lines are ignored; bad lines are counted, never fatal.
 *
 * @throws NodeJS.ErrnoException when a file cannot be read (the command's "bad input").
 */
export async function replayDecisions(files: readonly string[], from: CompiledPolicy, to: CompiledPolicy): Promise<ReplayReport> {
  let replayed = 0;
  let unchanged = 0;
  let ignored = 0;
  let withoutReplay = 0;
  let malformed = 0;
  const samples: string[] = [];
  const changed: ChangedDecision[] = [];
  const bad = (where: string, why: string) => {
    malformed++;
    if (samples.length < MAX_SAMPLES) samples.push(`${where}: ${why}`);
  };
  for (const file of files) {
    for await (const { line, number, tooLong } of readBoundedLines(file, MAX_LOG_LINE_BYTES)) {
      const where = `${file}:${number}`;
      if (tooLong) {
        bad(where, `line longer than ${MAX_LOG_LINE_BYTES} bytes`);
        continue;
      }
      if (line.trim() === '') {
        ignored++;
        continue;
      }
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        bad(where, 'not JSON');
        continue;
      }
      if (value === null || typeof value !== 'object' || (value as { msg?: unknown }).msg !== 'decision') {
        ignored++;
        continue;
      }
      const entry = value as { replay?: unknown; decisionId?: unknown; requestId?: unknown };
      if (entry.replay === undefined) {
        withoutReplay++;
        continue;
      }
      const parsed = recordSchema.safeParse(entry.replay);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        bad(where, `invalid replay record${issue ? ` at ${issue.path.join('.') || '(root)'}: ${issue.message}` : ''}`);
        continue;
      }
      const record = parsed.data as ReplayRecord;
      const ctx = toRequestContext(record);
      const auth = toAuthResult(record);
      const risk = toRisk(record);
      const before = from.evaluate(ctx, auth, record.at, risk);
      const after = to.evaluate(ctx, auth, record.at, risk);
      replayed++;
      const change = compareOutcomes(before, after);
      if (change === undefined) {
        unchanged++;
        continue;
      }
      const named = (v: unknown): v is string => typeof v === 'string' && v.length <= MAX_ID_LENGTH;
      const id = named(entry.decisionId) ? entry.decisionId : named(entry.requestId) ? `request ${entry.requestId}` : where;
      changed.push({ decisionId: id, request: `${record.request.method} ${record.request.host} ${record.request.path}`, ...change });
    }
  }
  return { replayed, unchanged, changed, ignored, withoutReplay, malformed, malformedSamples: samples };
}

/** The request the policy saw, from its replay record (headers, query and claims beyond the record are absent). */
export function toRequestContext(record: ReplayRecord): RequestContext {
  const r = record.request;
  const query = r.query ?? '';
  return {
    method: r.method,
    scheme: r.scheme,
    host: r.host,
    path: r.pathError ? '' : r.path,
    rawPath: query === '' ? r.path : `${r.path}?${query}`,
    query,
    headers: r.headers ?? {},
    sourceAddress: r.sourceAddress,
    sourcePrincipal: r.sourcePrincipal ?? '',
    contextExtensions: r.contextExtensions ?? {},
    metadata: {},
    requestId: '',
    protocol: '',
    receivedAt: record.at,
    ...(r.pathError ? { pathError: 'recorded as not canonicalisable' } : {}),
    ...(r.pathParameters !== undefined ? { pathParameters: r.pathParameters } : {}),
  };
}

/** The identity stage's answer as recorded; a verified principal carries only the recorded claims. */
export function toAuthResult(record: ReplayRecord): AuthResult {
  const a = record.auth;
  switch (a.kind) {
    case 'anonymous':
      return { kind: 'anonymous' };
    case 'failed':
      return { kind: 'failed', code: a.code, message: 'token rejected (replayed)', ...(a.issuer !== undefined ? { issuerName: a.issuer } : {}) };
    case 'verified': {
      const colon = a.subject.indexOf(':');
      return {
        kind: 'verified',
        principal: {
          issuerName: a.issuer,
          issuer: '',
          sub: colon < 0 ? a.subject : a.subject.slice(colon + 1),
          subject: a.subject,
          claims: a.claims,
          source: 'header',
          tokenId: 'replay',
        },
      };
    }
    default:
      return { kind: 'anonymous' };
  }
}

function toRisk(record: ReplayRecord): RiskAssessment | undefined {
  if (record.risk === undefined) return undefined;
  return { score: record.risk.score, signals: record.risk.signals.map((name) => ({ name: name as RiskSignalName, weight: 0, detail: '' })) };
}

/** What a decision amounts to for the caller: a shadow deny or step-up is let through. */
function label(o: Outcome): string {
  const shadow = o.shadow && o.kind !== 'allow' ? ' (shadow: allowed)' : '';
  switch (o.kind) {
    case 'allow':
      return `allow${o.routeId !== undefined ? ` by ${o.routeId}` : ''}`;
    case 'deny':
      return `deny ${o.code}${o.routeId !== undefined ? ` by ${o.routeId}` : ''}${shadow}`;
    case 'verify':
      return `verify ${o.needs.map((n) => n.workflow).join('+')} by ${o.routeId}${shadow}`;
    default:
      return 'unknown';
  }
}

/** 0 allow, 1 verify, 2 deny: how much a decision lets through, shadow counted as allow. */
function rank(o: Outcome): number {
  if (o.kind === 'allow' || o.shadow) return 0;
  return o.kind === 'verify' ? 1 : 2;
}

/**
 * How the decision moved, or undefined when it is the same: fewer barriers (deny→allow, deny→verify,
 * verify→allow, dropped or older-accepted verifications, in-review or declined verdicts let through) are
 * `looser`; more barriers `stricter`; a different deny code or deciding route `changed`.
 */
export function compareOutcomes(a: Outcome, b: Outcome): { direction: ChangeDirection; from: string; to: string; detail: string } | undefined {
  const from = label(a);
  const to = label(b);
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return { direction: rb < ra ? 'looser' : 'stricter', from, to, detail: `${from} → ${to}` };
  if (a.kind === 'verify' && b.kind === 'verify' && ra === 1) {
    const details: string[] = [];
    let looser = false;
    let stricter = false;
    const note = (direction: 'looser' | 'stricter', what: string): void => {
      if (direction === 'looser') looser = true;
      else stricter = true;
      details.push(what);
    };
    const needsB = new Map(b.needs.map((n) => [n.workflow, n]));
    const needsA = new Map(a.needs.map((n) => [n.workflow, n]));
    for (const n of a.needs) {
      const m = needsB.get(n.workflow);
      if (m === undefined) {
        note('looser', `${n.workflow} no longer needed`);
        continue;
      }
      if (m.maxAgeMs > n.maxAgeMs) note('looser', `${n.workflow} accepts older verdicts`);
      if (m.maxAgeMs < n.maxAgeMs) note('stricter', `${n.workflow} needs fresher verdicts`);
      if (m.onInReview !== n.onInReview) note(m.onInReview === 'allow' ? 'looser' : 'stricter', `${n.workflow} in review: ${m.onInReview}`);
      if (m.onDeclined !== n.onDeclined) note(m.onDeclined === 'retry' ? 'looser' : 'stricter', `${n.workflow} declined: ${m.onDeclined}`);
    }
    for (const n of b.needs) if (!needsA.has(n.workflow)) note('stricter', `${n.workflow} now needed`);
    if (details.length > 0) return { direction: looser ? 'looser' : stricter ? 'stricter' : 'changed', from, to, detail: details.join('; ') };
  }
  if (from !== to) return { direction: 'changed', from, to, detail: `${from} → ${to}` };
  return undefined;
}

/**
 * The lines of a file, each at most `maxBytes`: a longer line is reported as `tooLong` (its text dropped
 * as it streams past), so a corrupt or hostile log cannot make the reader buffer without bound.
 */
async function* readBoundedLines(file: string, maxBytes: number): AsyncGenerator<{ line: string; number: number; tooLong: boolean }> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let tooLong = false;
  let number = 0;
  for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      const end = nl < 0 ? chunk.length : nl;
      if (!tooLong) {
        if (pendingBytes + (end - start) > maxBytes) {
          tooLong = true;
          pending = [];
          pendingBytes = 0;
        } else {
          pending.push(chunk.subarray(start, end));
          pendingBytes += end - start;
        }
      }
      if (nl < 0) break;
      number++;
      yield { line: tooLong ? '' : Buffer.concat(pending).toString('utf8'), number, tooLong };
      pending = [];
      pendingBytes = 0;
      tooLong = false;
      start = nl + 1;
    }
  }
  if (pendingBytes > 0 || tooLong) {
    number++;
    yield { line: tooLong ? '' : Buffer.concat(pending).toString('utf8'), number, tooLong };
  }
}
