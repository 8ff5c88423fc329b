import type { Requirements } from '../config/types.js';

/** One input of a merged requirement set and who declared it, e.g. `guardrail payments-floor`. */
export interface RequirementSource {
  readonly requirements: Requirements;
  /** `guardrail <id>`, `tenant route <name>/<id>`, `platform route <id>`, `defaults route <id>`, `default`, or `sensitivity <level> (<owner>)`. */
  readonly label: string;
}

/**
 * Which layer set each requirement, one line per requirement and source (`mfa: required by guardrail
 * payments-floor`, `verification kyc ≤30d: guardrail payments-floor`, `scopes refunds:write: tenant route
 * payments/refunds`), for `idgate explain`. Built at compile time; names only policy values, never claim values.
 *
 * @param workflowMaxAgeMs the workflow's own max age, used when the source sets no `verificationMaxAge`.
 */
export function describeRequirementSources(sources: readonly RequirementSource[], workflowMaxAgeMs: (workflow: string) => number): string[] {
  const lines: string[] = [];
  for (const { requirements: r, label } of sources) {
    if (r.authenticated) lines.push(`token: required by ${label}`);
    if (r.issuers.length > 0) lines.push(`issuers ${r.issuers.join(', ')}: ${label}`);
    for (const name of Object.keys(r.claims)) lines.push(`claim ${name}: ${label}`);
    if (r.scopes.length > 0) lines.push(`scopes ${r.scopes.join(' ')}: ${label}`);
    if (r.anyRoles.length > 0) lines.push(`roles one of ${r.anyRoles.join(', ')}: ${label}`);
    if (r.allRoles.length > 0) lines.push(`roles all of ${r.allRoles.join(', ')}: ${label}`);
    if (r.mfa?.amr !== undefined && r.mfa.amr.length > 0) lines.push(`mfa: required by ${label} (amr one of ${r.mfa.amr.join(', ')})`);
    if (r.mfa?.acrAtLeast !== undefined) lines.push(`acr ≥ ${r.mfa.acrAtLeast}: ${label}`);
    if (r.maxTokenAgeMs !== undefined) lines.push(`login within ${describeDuration(r.maxTokenAgeMs)}: ${label}`);
    for (const w of r.verification) lines.push(`verification ${w} ≤${describeDuration(r.verificationMaxAgeMs ?? workflowMaxAgeMs(w))}: ${label}`);
    if (r.verification.length > 0 && r.onInReview === 'deny') lines.push(`in review denies: ${label}`);
    if (r.verification.length > 0 && r.onDeclined === 'deny') lines.push(`declined denies: ${label}`);
  }
  return lines;
}

/** `30d`, `1h`, `90s`: the largest unit that divides the duration exactly (config spelling). */
export function describeDuration(ms: number): string {
  const units: readonly (readonly [string, number])[] = [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]];
  for (const [unit, size] of units) if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}
