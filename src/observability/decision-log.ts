import type { Logger } from 'pino';
import type { DenyCode } from '../core/deny-code.js';
import type { DecidedBy, TraceStep } from '../core/outcome.js';
import type { PolicyReads } from '../policy/policy-reads.js';
import { createJsonLineWriter } from './create-json-line-writer.js';
import { formatLogFields } from './create-logger.js';
import { createReplayRecorder, type ReplayRecord } from './replay-record.js';

/**
 * One decision as written to the decision log. Never headers, tokens, claims or query strings — except in
 * the opt-in `replay` record, which holds only what the policy reads (docs/decision-log.md).
 */
export interface DecisionLogEntry {
  readonly requestId: string;
  /** The decision's id (also in the proxy metadata and a deny's problem body). */
  readonly decisionId?: string;
  /** The policy revision that decided: `decidedBy.revision`, else `platform@<revision of the file>`. */
  readonly revision?: string;
  /** The layer and rule that decided, when the policy says (`decidedBy`). */
  readonly layer?: DecidedBy['layer'];
  readonly rule?: string;
  readonly routeId?: string;
  /** `<issuer name>:<sub>` when the caller was identified (an opaque id, not PII by design). */
  readonly subject?: string;
  readonly outcome: 'allow' | 'deny' | 'step_up';
  readonly code?: DenyCode;
  /** HTTP status given to the client (deny/step_up). */
  readonly status?: number;
  readonly method: string;
  readonly host: string;
  /** Canonical path, without the query string. */
  readonly path: string;
  /** The resolved client address. */
  readonly sourceAddress: string;
  readonly durationMs: number;
  /** True when a shadow-mode route downgraded this decision to allow; `outcome` is then what it would have been. */
  readonly shadow?: boolean;
  /** Evaluation trace; at most {@link MAX_TRACE_STEPS} steps are logged, details truncated. */
  readonly trace?: readonly TraceStep[];
  /** The allow sample was already drawn with {@link DecisionLog.sampleAllow}. */
  readonly sampled?: boolean;
  /** What replaying this decision needs (`logging.decisionReplay`). */
  readonly replay?: ReplayRecord;
}

/** Options for {@link createDecisionLog}. */
export interface CreateDecisionLogOptions {
  readonly logger: Logger;
  /** Fraction of allows written (0..1). Denies, step-ups and shadow decisions are always written. */
  readonly allowSampleRate: number;
  /** Uniform [0, 1) source for sampling; default `Math.random`. */
  readonly random?: () => number;
  /**
   * The revision logged when the policy's outcome names none (`platform@<sha256 prefix of the file>`);
   * default none.
   */
  readonly revision?: string;
  /** `logging.decisionReplay`: what the policy reads, to build each line's `replay` record. Off when absent. */
  readonly replay?: PolicyReads;
}

/** The decision log: one structured line per decision worth keeping. */
export interface DecisionLog {
  record(entry: DecisionLogEntry): void;
  /**
   * Draws the allow sample up front, so a caller can skip building the entry for an allow that will not be
   * logged (the hot path). An entry recorded with `sampled: true` is not sampled again.
   */
  sampleAllow(): boolean;
  /** The fallback revision (see {@link CreateDecisionLogOptions.revision}); `''` when none. */
  readonly revision: string;
  /** Builds a line's replay record; undefined when replay records are off. */
  readonly replay?: ReturnType<typeof createReplayRecorder>;
}

/** Trace steps kept per line; a trace longer than this is cut and marked. */
export const MAX_TRACE_STEPS = 16;
const MAX_DETAIL_CHARS = 200;

/** The fields of a line, in the order written. */
const LINE_KEYS: readonly string[] = [
  'requestId', 'decisionId', 'revision', 'layer', 'rule', 'outcome', 'method', 'host', 'path', 'sourceAddress',
  'durationMs', 'routeId', 'subject', 'code', 'status', 'shadow', 'trace', 'replay',
];

/** Codes meaning "could not decide" rather than "decided no": logged at error (fastify's ≥500 rule). */
const FAULT_CODES: ReadonlySet<DenyCode> = new Set<DenyCode>(['dependency_unavailable', 'internal_error', 'deadline_exceeded']);

function summariseTrace(trace: readonly TraceStep[]): TraceStep[] {
  const steps = trace.slice(0, MAX_TRACE_STEPS).map((step) => ({
    step: step.step,
    result: step.result,
    detail: step.detail.length > MAX_DETAIL_CHARS ? `${step.detail.slice(0, MAX_DETAIL_CHARS)}…` : step.detail,
  }));
  if (trace.length > MAX_TRACE_STEPS) {
    steps.push({ step: 'trace', result: 'info', detail: `${trace.length - MAX_TRACE_STEPS} more steps omitted` });
  }
  return steps;
}

const isStringOrAbsent = (v: unknown): boolean => v === undefined || typeof v === 'string';

/** Whether each value is a string or undefined (seven at a time: no arguments array). */
function areStringsOrAbsent(a: unknown, b: unknown, c: unknown, d: unknown, e: unknown, f: unknown, g: unknown): boolean {
  return isStringOrAbsent(a) && isStringOrAbsent(b) && isStringOrAbsent(c) && isStringOrAbsent(d) && isStringOrAbsent(e) && isStringOrAbsent(f) && isStringOrAbsent(g);
}

/** Whether every step of a summarised trace holds strings only (as typed; checked, not assumed). */
function isStringTrace(steps: readonly TraceStep[]): boolean {
  for (let i = 0; i < steps.length; i++) {
    const s = steps[i] as TraceStep;
    if (typeof s.step !== 'string' || typeof s.result !== 'string' || typeof s.detail !== 'string') return false;
  }
  return true;
}

/**
 * Whether the logger's own formatting ({@link formatLogFields}) leaves a line of these keys and a trace
 * alone when no string holds a JWT: asked of the function itself, once, with every key of a line but
 * `replay` (whose record is request data and always formatted) — so there is one redaction rule, not two.
 */
const LINES_ONLY_SCRUB_JWTS: boolean = ((): boolean => {
  const probe: Record<string, unknown> = {};
  for (const key of LINE_KEYS) if (key !== 'trace' && key !== 'replay') probe[key] = 'x';
  probe['trace'] = [{ step: 'x', result: 'x', detail: 'x' }];
  return formatLogFields(probe) === probe;
})();

/**
 * Creates the decision log. Levels: a deny/step_up is `info`; a deny that could not be decided (status
 * ≥ 500, or code `dependency_unavailable` / `internal_error` / `deadline_exceeded`) is `error`; an allow
 * is `info` when sampled (shadow decisions always). Lines carry `component: "decision"` and msg
 * `decision`. The entry's fields are copied one by one, so stray properties (headers, tokens) on the
 * caller's object can never reach the log.
 *
 * @throws TypeError when `allowSampleRate` is not within 0..1.
 */
export function createDecisionLog(options: CreateDecisionLogOptions): DecisionLog {
  const { allowSampleRate } = options;
  if (typeof allowSampleRate !== 'number' || !(allowSampleRate >= 0 && allowSampleRate <= 1)) {
    throw new TypeError(`allowSampleRate must be within 0..1, got ${String(allowSampleRate)}`);
  }
  const random = options.random ?? Math.random;
  const logger = options.logger.child({ component: 'decision' });
  // Every field a line can carry, in its order (below): the line writer checks once that pino would
  // serialise none of them specially, then writes the same bytes pino would, faster.
  const writeLine = createJsonLineWriter(logger, LINE_KEYS, 'decision');
  const sampleAllow = (): boolean => allowSampleRate !== 0 && (allowSampleRate >= 1 || random() < allowSampleRate);

  return {
    sampleAllow,
    revision: options.revision ?? '',
    ...(options.replay !== undefined ? { replay: createReplayRecorder(options.replay) } : {}),
    record(entry) {
      const fault = (entry.status !== undefined && entry.status >= 500) || (entry.code !== undefined && FAULT_CODES.has(entry.code));
      if (entry.outcome === 'allow' && entry.shadow !== true && !fault && entry.sampled !== true && !sampleAllow()) return;
      const level = fault ? 'error' : 'info';
      if (!logger.isLevelEnabled(level)) return;
      // Assigned one by one in the documented order (the order of the JSON line), without a spread
      // temporary per optional field: a step-up is logged on every Check.
      const line: Record<string, unknown> = { requestId: entry.requestId };
      if (entry.decisionId !== undefined) line['decisionId'] = entry.decisionId;
      if (entry.revision !== undefined && entry.revision !== '') line['revision'] = entry.revision;
      if (entry.layer !== undefined) line['layer'] = entry.layer;
      if (entry.rule !== undefined) line['rule'] = entry.rule;
      line['outcome'] = entry.outcome;
      line['method'] = entry.method;
      line['host'] = entry.host;
      line['path'] = entry.path;
      line['sourceAddress'] = entry.sourceAddress;
      line['durationMs'] = entry.durationMs;
      if (entry.routeId !== undefined) line['routeId'] = entry.routeId;
      if (entry.subject !== undefined) line['subject'] = entry.subject;
      if (entry.code !== undefined) line['code'] = entry.code;
      if (entry.status !== undefined) line['status'] = entry.status;
      if (entry.shadow === true) line['shadow'] = true;
      let trace: TraceStep[] | undefined;
      if (entry.trace !== undefined && entry.trace.length > 0) line['trace'] = trace = summariseTrace(entry.trace);
      if (entry.replay !== undefined) line['replay'] = entry.replay;
      // A line of strings, numbers and a string trace, without a replay record: the logger's formatting can
      // only scrub JWTs from it, which the writer does when the line's JSON holds one (create-json-line-writer).
      const onlyJwtsToScrub =
        LINES_ONLY_SCRUB_JWTS &&
        entry.replay === undefined &&
        (trace === undefined || isStringTrace(trace)) &&
        areStringsOrAbsent(entry.requestId, entry.decisionId, entry.revision, entry.layer, entry.rule, entry.outcome, entry.method) &&
        areStringsOrAbsent(entry.host, entry.path, entry.sourceAddress, entry.routeId, entry.subject, entry.code, undefined) &&
        typeof entry.durationMs === 'number' &&
        (entry.status === undefined || typeof entry.status === 'number');
      writeLine(level, line, onlyJwtsToScrub);
    },
  };
}
