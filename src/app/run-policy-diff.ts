import { ConfigError } from '../config/config-error.js';
import { loadConfig } from '../config/load-config.js';
import type { IdgateConfig } from '../config/types.js';
import { compilePolicy } from '../policy/compile-policy.js';
import { policyReads } from '../policy/policy-reads.js';
import { diffPolicies, type PolicyChange } from './diff-policies.js';
import { replayDecisions, type ReplayReport } from './replay-decisions.js';

/** Arguments of `idgate policy diff`. */
export interface PolicyDiffOptions {
  readonly from: string;
  readonly to: string;
  /** Decision-log files to replay (JSON lines, as idgate writes them). */
  readonly replay: readonly string[];
  readonly allowLoosening: boolean;
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** The whole answer, also the `--format json` document. */
export interface PolicyDiffResult {
  readonly from: string;
  readonly to: string;
  readonly static: readonly PolicyChange[];
  readonly replay?: ReplayReport & {
    readonly files: readonly string[];
    /** Why a replay may not tell the whole story (CEL reading keys computed at run time, values the old policy did not record). */
    readonly notes: readonly string[];
  };
  /** Static changes and replayed decisions that loosen. */
  readonly loosening: number;
  /** 0 ok, 1 loosening without `--allow-loosening`, 2 unusable input. */
  readonly exitCode: 0 | 1 | 2;
  /** Unusable input (`file:line:col path: message` lines) when exitCode is 2. */
  readonly errors: readonly string[];
}

/**
 * `idgate policy diff`: the static difference of two policy files per rule and, with decision logs to
 * replay, every recorded decision that the new policy would answer differently. Fails (exit 1) on any
 * loosening unless allowed; exit 2 when a configuration or log file is unusable.
 */
export async function runPolicyDiff(options: PolicyDiffOptions): Promise<PolicyDiffResult> {
  const errors: string[] = [];
  const load = async (path: string): Promise<IdgateConfig | undefined> => {
    try {
      return await loadConfig(path, { env: options.env });
    } catch (err) {
      errors.push(...(err instanceof ConfigError ? err.message.split('\n').slice(1) : [`${path}: ${(err as Error).message}`]));
      return undefined;
    }
  };
  const from = await load(options.from);
  const to = await load(options.to);
  const base = { from: options.from, to: options.to };
  if (from === undefined || to === undefined) return { ...base, static: [], loosening: 0, exitCode: 2, errors };
  const changes = diffPolicies(from, to);
  let replay: PolicyDiffResult['replay'];
  if (options.replay.length > 0) {
    let report: ReplayReport;
    try {
      report = await replayDecisions(options.replay, compilePolicy(from), compilePolicy(to));
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      return { ...base, static: changes, loosening: 0, exitCode: 2, errors: [`${e.path ?? options.replay.join(' ')}: cannot read (${e.code ?? e.message})`] };
    }
    replay = { files: options.replay, ...report, notes: replayNotes(from, to) };
  }
  const loosening = changes.filter((c) => c.direction === 'looser').length + (replay?.changed.filter((c) => c.direction === 'looser').length ?? 0);
  return {
    ...base,
    static: changes,
    ...(replay !== undefined ? { replay } : {}),
    loosening,
    exitCode: loosening > 0 && !options.allowLoosening ? 1 : 0,
    errors: [],
  };
}

/**
 * Limits of a replay: a record holds what the policy that logged it read. Assuming the logs came from
 * `from`, claims and headers only `to` reads are absent from the records (decisions on them replay as if
 * the claim or header were missing), and CEL reads by a computed key were never recorded.
 */
function replayNotes(from: IdgateConfig, to: IdgateConfig): string[] {
  const a = policyReads(from);
  const b = policyReads(to);
  const notes = [...new Set([...a.dynamic, ...b.dynamic])].map((d) => `not recorded: ${d}`);
  const claims = b.claims.filter((c) => !a.claims.includes(c));
  const headers = b.headers.filter((h) => !a.headers.includes(h));
  if (claims.length > 0) notes.push(`the new policy reads claims the old one did not record (replayed as absent): ${claims.join(', ')}`);
  if (headers.length > 0) notes.push(`the new policy reads headers the old one did not record (replayed as absent): ${headers.join(', ')}`);
  if (b.query && !a.query) notes.push('the new policy reads the query string, which the old one recorded only as its _method parameters');
  return notes;
}

/** Log-sourced text (a decision id, a path) with control characters shown as `?`: a log line cannot drive the terminal. */
function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, '?');
}

/** The human report. */
export function renderPolicyDiffText(result: PolicyDiffResult, allowLoosening: boolean): string {
  const out: string[] = [`policy diff ${result.from} → ${result.to}`];
  if (result.exitCode === 2) return `${out[0]}: unusable input\n${result.errors.join('\n')}\n`;
  const pad = (d: string) => d.padEnd(8);
  out.push(result.static.length === 0 ? 'static: no rule changed' : `static: ${result.static.length} change(s)`);
  for (const c of result.static) out.push(`  ${pad(c.direction)} ${c.scope}: ${c.detail}`);
  const r = result.replay;
  if (r !== undefined) {
    out.push(
      `replay: ${r.replayed} decision(s) from ${r.files.length} file(s): ${r.unchanged} unchanged, ${r.changed.length} changed` +
        `; ${r.withoutReplay} without a replay record, ${r.malformed} malformed, ${r.ignored} other line(s) ignored`,
    );
    for (const c of r.changed) out.push(`  ${pad(c.direction)} ${printable(`${c.decisionId} ${c.request}: ${c.detail}`)}`);
    for (const m of r.malformedSamples) out.push(`  malformed ${printable(m)}`);
    for (const n of r.notes) out.push(`  note: ${n}`);
  }
  out.push(
    result.loosening === 0
      ? 'result: nothing loosened'
      : `result: ${result.loosening} loosening change(s)${allowLoosening ? ' (allowed by --allow-loosening)' : ' — failing; pass --allow-loosening to accept'}`,
  );
  return `${out.join('\n')}\n`;
}
