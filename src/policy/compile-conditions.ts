import type { ConditionConfig, ConditionEffect, ConditionTest, RiskBand } from '../config/types.js';
import type { DenyCode } from '../core/deny-code.js';
import { unreachable } from '../core/unreachable.js';
import { createCidrSet, type CidrSet } from '../net/create-cidr-set.js';
import { compileClaimPath, readClaim } from './claim-path.js';
import { comparePosture } from './compare-posture.js';
import type { CelCompiler } from '../cel/compile-cel.js';
import type { TraceStep } from '../core/outcome.js';
import type { RequestFacts } from './request-facts.js';
import { compileTimeWindow } from './time-window-matcher.js';
import { compilePrincipalMatcher } from './principal-matcher.js';

/** A workflow a condition or risk band asks for, with its own freshness when it set one. */
export interface StepUpRequest {
  readonly workflow: string;
  readonly maxAgeMs?: number;
}

/** The context stage's answer: a 403 deny, or go on (with any step-ups the conditions added). */
export type ContextResult =
  /** `rule`: what denied, `condition <name>` or `risk band <atLeast>` (for a guardrail's trace line). */
  | { readonly kind: 'deny'; readonly code: DenyCode; readonly message: string; readonly rule: string }
  | { readonly kind: 'continue'; readonly stepUps: readonly StepUpRequest[] };

/** A route's conditions and risk bands, compiled once. */
export interface CompiledContextStage {
  /** True when the route has conditions or risk bands. */
  readonly active: boolean;
  /** True when a risk band, a risk test or a CEL expression reading `risk` needs the risk score. */
  readonly usesRisk: boolean;
  /**
   * Runs the conditions in order, then the risk bands (only when the request carries a risk assessment;
   * the highest band whose `atLeast` the score reaches applies). A matching condition's effect: `deny`
   * stops with that code; `step_up` adds a workflow; `allow` skips the remaining conditions (the risk bands
   * still apply). A condition that cannot be evaluated (a CEL error or a non-bool result) denies with
   * `condition_denied`, whatever its effect. Every condition adds a `condition:<name>` trace step whose
   * detail never contains the address, country, header or claim values. Never throws.
   */
  evaluate(facts: RequestFacts, trace: TraceStep[]): ContextResult;
}

type TestResult =
  | { readonly kind: 'match' | 'no_match' | 'skip'; readonly detail: string }
  | { readonly kind: 'error'; readonly detail: string };

interface CompiledCondition {
  readonly name: string;
  readonly effect: ConditionEffect;
  readonly usesRisk: boolean;
  test(facts: RequestFacts): TestResult;
}

/** The largest instant a JavaScript Date can hold (ECMA-262 §21.4.1.1). */
const MAX_DATE_MS = 8.64e15;

const DEFAULT_MESSAGES: Readonly<Partial<Record<DenyCode, string>>> = {
  network_denied: 'access from this network is not allowed',
  country_denied: 'access from this country is not allowed',
  time_denied: 'access is not allowed at this time',
  device_denied: 'this device does not meet the access requirements',
  condition_denied: 'a policy condition denied this request',
  risk_denied: 'this request was denied by the risk policy',
  route_denied: 'access to this route is denied',
  claims_mismatch: 'the token does not satisfy this route',
};

/** The message of a deny effect: its own, else a generic one for its code. */
export function denyMessage(code: DenyCode, message?: string): string {
  return message ?? DEFAULT_MESSAGES[code] ?? 'access denied';
}

/**
 * Compiles a route's `conditions` and risk `bands` into closures: CIDR sets, country sets, time windows
 * with their zone's formatter, posture comparisons and CEL programs are all built here, once.
 *
 * @throws {TypeError} for an expression or network the configuration loader would have rejected.
 */
export function compileContextStage(
  routeId: string,
  conditions: readonly ConditionConfig[],
  bands: readonly RiskBand[],
  cel: CelCompiler,
): CompiledContextStage {
  const compiled = conditions.map((c) => compileCondition(routeId, c, cel));
  const sortedBands = [...bands].sort((a, b) => b.atLeast - a.atLeast);
  const usesRisk = sortedBands.length > 0 || compiled.some((c) => c.usesRisk);

  const evaluate = (facts: RequestFacts, trace: TraceStep[]): ContextResult => {
    const stepUps: StepUpRequest[] = [];
    let allowedBy: string | undefined;
    for (const c of compiled) {
      const step = `condition:${c.name}`;
      if (allowedBy !== undefined) {
        trace.push({ step, result: 'skip', detail: `skipped: condition ${allowedBy} allowed` });
        continue;
      }
      const r = c.test(facts);
      switch (r.kind) {
        case 'error':
          trace.push({ step, result: 'fail', detail: r.detail });
          return { kind: 'deny', code: 'condition_denied', message: denyMessage('condition_denied'), rule: `condition ${c.name}` };
        case 'skip':
          trace.push({ step, result: 'skip', detail: r.detail });
          continue;
        case 'no_match':
          trace.push({ step, result: 'pass', detail: `${r.detail}: not applied` });
          continue;
        case 'match':
          break;
        default:
          unreachable(r, 'test result');
      }
      const denied = applyEffect(c.effect, step, `condition ${c.name}`, r.detail, 'allow (remaining conditions skipped)', stepUps, trace);
      if (denied !== undefined) return denied;
      if (c.effect.kind === 'allow') allowedBy = c.name;
    }

    if (sortedBands.length > 0) {
      const risk = facts.risk;
      if (risk === undefined) {
        trace.push({ step: 'risk', result: 'skip', detail: 'no risk assessment for this request; risk bands skipped' });
      } else {
        const band = sortedBands.find((b) => risk.score >= b.atLeast);
        const signals = risk.signals.length > 0 ? ` (${risk.signals.map((s) => s.name).join(', ')})` : '';
        if (band === undefined) {
          trace.push({ step: 'risk', result: 'pass', detail: `score ${risk.score}${signals} below every band` });
        } else {
          const head = `score ${risk.score}${signals} reaches band ${band.atLeast}`;
          const denied = applyEffect(band.then, 'risk', `risk band ${band.atLeast}`, head, 'allow', stepUps, trace);
          if (denied !== undefined) return denied;
        }
      }
    }
    return { kind: 'continue', stepUps };
  };

  return { active: compiled.length > 0 || sortedBands.length > 0, usesRisk, evaluate };
}

/**
 * The effect of a matched condition or risk band, traced as `<head>: <what it does>`: a deny answers; a
 * step-up is added to `stepUps`; allow only traces `allowDetail` (the caller decides what it skips).
 */
function applyEffect(
  effect: ConditionEffect,
  step: string,
  rule: string,
  head: string,
  allowDetail: string,
  stepUps: StepUpRequest[],
  trace: TraceStep[],
): ContextResult | undefined {
  switch (effect.kind) {
    case 'deny':
      trace.push({ step, result: 'fail', detail: `${head}: deny ${effect.code}` });
      return { kind: 'deny', code: effect.code, message: denyMessage(effect.code, effect.message), rule };
    case 'step_up':
      trace.push({ step, result: 'info', detail: `${head}: step-up ${effect.workflow}${describeMaxAge(effect.maxAgeMs)}` });
      stepUps.push(effect.maxAgeMs === undefined ? { workflow: effect.workflow } : { workflow: effect.workflow, maxAgeMs: effect.maxAgeMs });
      return undefined;
    case 'allow':
      trace.push({ step, result: 'pass', detail: `${head}: ${allowDetail}` });
      return undefined;
    default:
      return unreachable(effect, 'effect');
  }
}

function describeMaxAge(ms: number | undefined): string {
  return ms === undefined ? '' : ` (within ${Math.floor(ms / 1000)}s)`;
}

function compileCondition(routeId: string, c: ConditionConfig, cel: CelCompiler): CompiledCondition {
  const base = { name: c.name, effect: c.then };
  const test = c.when;
  switch (test.kind) {
    case 'sourceIp': {
      const inSet = test.in === undefined ? undefined : networks(routeId, c.name, test.in);
      const notInSet = test.notIn === undefined ? undefined : networks(routeId, c.name, test.notIn);
      return {
        ...base,
        usesRisk: false,
        test(facts) {
          const address = facts.clientAddress();
          if (address === '') return membership(test, false, false, 'source address unknown');
          return membership(test, inSet?.contains(address) ?? false, notInSet?.contains(address) ?? false, 'source address');
        },
      };
    }
    case 'country': {
      const inSet = new Set(test.in ?? []);
      const notInSet = new Set(test.notIn ?? []);
      return {
        ...base,
        usesRisk: false,
        test(facts) {
          const country = facts.country();
          // Fail closed: an unknown country is in no allow list, and "not in" every deny-list exception.
          if (country === undefined) return membership(test, false, false, 'country unknown');
          return membership(test, inSet.has(country), notInSet.has(country), 'country');
        },
      };
    }
    case 'principal': {
      const inSet = test.in === undefined ? undefined : compilePrincipalMatcher(test.in);
      const notInSet = test.notIn === undefined ? undefined : compilePrincipalMatcher(test.notIn);
      return {
        ...base,
        usesRisk: false,
        test(facts) {
          const principal = facts.ctx.sourcePrincipal;
          // Fail closed like country: no principal is in no `in` list and outside every `notIn` list.
          if (principal === '') return membership(test, false, false, 'workload principal unknown');
          return membership(test, inSet?.(principal) ?? false, notInSet?.(principal) ?? false, 'workload principal');
        },
      };
    }
    case 'time': {
      const window = test.within ?? test.outside;
      if (window === undefined) throw new TypeError(`route ${routeId} condition ${c.name}: time test without a window`);
      const inside = compileTimeWindow(window);
      const wantInside = test.within !== undefined;
      return {
        ...base,
        usesRisk: false,
        test(facts) {
          // Intl cannot format an instant outside the Date range; a broken clock must not pass a time rule.
          if (!(Math.abs(facts.now) <= MAX_DATE_MS)) return { kind: 'error', detail: 'evaluation error: no valid request time' };
          const isInside = inside(facts.now);
          const detail = `local time (${window.timeZone}) ${isInside ? 'inside' : 'outside'} the window`;
          return { kind: isInside === wantInside ? 'match' : 'no_match', detail };
        },
      };
    }
    case 'device': {
      const { header, test: comparison } = test;
      const claim = test.claim === undefined ? undefined : compileClaimPath(test.claim);
      const what = header !== undefined ? `header ${header}` : `claim ${test.claim ?? ''}`;
      const op = Object.keys(comparison)[0] ?? 'comparison';
      return {
        ...base,
        usesRisk: false,
        test(facts) {
          const value = header !== undefined ? facts.ctx.headers[header] : claim !== undefined ? readClaim(facts.principal?.claims ?? {}, claim) : undefined;
          const ok = comparePosture(value, comparison, header !== undefined ? 'header' : 'claim');
          return { kind: ok ? 'match' : 'no_match', detail: `${what} ${ok ? 'satisfies' : 'does not satisfy'} ${op}` };
        },
      };
    }
    case 'risk': {
      const threshold = test.scoreAtLeast;
      return {
        ...base,
        usesRisk: true,
        test(facts) {
          if (facts.risk === undefined) return { kind: 'skip', detail: 'no risk assessment for this request' };
          const score = facts.risk.score;
          return score >= threshold
            ? { kind: 'match', detail: `risk score ${score} ≥ ${threshold}` }
            : { kind: 'no_match', detail: `risk score ${score} < ${threshold}` };
        },
      };
    }
    case 'cel': {
      const compiled = test.program !== undefined ? { ok: true as const, program: test.program } : cel.compile(test.expression);
      if (!compiled.ok) throw new TypeError(`route ${routeId} condition ${c.name}: ${compiled.message}`);
      const program = compiled.program;
      return {
        ...base,
        usesRisk: program.variables.has('risk'),
        test(facts) {
          const r = program.evaluate(facts.celBindings());
          if (!r.ok) return { kind: 'error', detail: r.reason };
          return { kind: r.value ? 'match' : 'no_match', detail: `expression is ${String(r.value)}` };
        },
      };
    }
    default: {
      const never: never = test;
      throw new TypeError(`unknown condition test ${JSON.stringify(never as ConditionTest)}`);
    }
  }
}

function networks(routeId: string, name: string, list: readonly string[]): CidrSet {
  try {
    return createCidrSet(list);
  } catch (err) {
    throw new TypeError(`route ${routeId} condition ${name}: ${(err as Error).message}`);
  }
}

/** `in` and `notIn` together: inside `in` (when given) and outside `notIn` (when given). */
function membership(test: { readonly in?: readonly string[]; readonly notIn?: readonly string[] }, inHit: boolean, notInHit: boolean, subject: string): TestResult {
  const inOk = test.in === undefined || inHit;
  const notInOk = test.notIn === undefined || !notInHit;
  const parts: string[] = [];
  if (test.in !== undefined) parts.push(inHit ? 'in the `in` list' : 'not in the `in` list');
  if (test.notIn !== undefined) parts.push(notInHit ? 'in the `notIn` list' : 'not in the `notIn` list');
  return { kind: inOk && notInOk ? 'match' : 'no_match', detail: `${subject} ${parts.join(', ')}` };
}
