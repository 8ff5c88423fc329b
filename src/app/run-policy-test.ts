import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { ConfigError, type ConfigIssue } from '../config/config-error.js';
import { parseDuration } from '../config/duration.js';
import { formatPath } from '../config/format-path.js';
import { loadConfig } from '../config/load-config.js';
import { tenantLoadErrors } from '../config/resolve-tenants.js';
import type { IdgateConfig } from '../config/types.js';
import { locatePath } from '../config/yaml-locator.js';
import { SESSION_STATUSES, type Verdict } from '../core/verdict.js';
import { identityValue } from '../engine/create-engine.js';
import { evaluateVerdict } from '../verification/evaluate-verdict.js';
import { explainRequest, renderExplainText, type ExplainedRequest } from './run-explain.js';

/** The largest suite file read, like the config's own cap: a suite is hand-written YAML. */
const MAX_SUITE_LENGTH = 1_000_000;

const expectSchema = z.strictObject({
  outcome: z.enum(['allow', 'deny', 'step_up']),
  code: z.string().min(1).optional(),
  route: z.string().min(1).optional(),
  /** The policy layer that decided (`guardrail`, `tenant`, `platform`, `defaults`, `default`). */
  layer: z.enum(['platform', 'guardrail', 'tenant', 'defaults', 'default']).optional(),
  /** The deciding rule: guardrail id, qualified route id, tenant name or `default`. */
  rule: z.string().min(1).optional(),
  headers: z.record(z.string(), z.string()).optional(),
});

const verificationSchema = z.strictObject({
  status: z.enum(SESSION_STATUSES).default('Approved'),
  /** How long ago the verdict was decided (a config duration). */
  age: z.union([z.string(), z.number()]).optional(),
  facts: z.strictObject({
    minAgeMet: z.boolean().optional(),
    minAgeChecked: z.number().optional(),
    amlClear: z.boolean().optional(),
    documentValid: z.boolean().optional(),
  }).default({}),
});

const rfc3339 = z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/, { error: 'not an RFC 3339 time (e.g. 2026-01-05T10:00:00Z)' })
  .refine((s) => Number.isFinite(Date.parse(s)), { error: 'not a valid time' });

const caseSchema = z.strictObject({
  name: z.string().min(1),
  request: z.strictObject({
    method: z.string().optional(),
    host: z.string().optional(),
    path: z.string().optional(),
    scheme: z.string().optional(),
    headers: z.record(z.string(), z.string()).optional(),
    sourceAddress: z.string().optional(),
    /** The caller's SPIFFE ID (Envoy's `source.principal`), for `match.principals` and `principal` conditions. */
    sourcePrincipal: z.string().optional(),
    contextExtensions: z.record(z.string(), z.string()).optional(),
  }).default({}),
  claims: z.record(z.string(), z.unknown()).optional(),
  risk: z.strictObject({ signals: z.array(z.string()).default([]), score: z.number().optional() }).optional(),
  verifications: z.record(z.string(), verificationSchema).optional(),
  now: rfc3339.optional(),
  expect: expectSchema,
});

const suiteSchema = z.strictObject({
  /** The config under test, relative to the suite file. */
  config: z.string().min(1),
  /** The default clock of every case (RFC 3339); a case's own `now` wins. Unset: the current time. */
  now: rfc3339.optional(),
  cases: z.array(caseSchema).min(1, { error: 'a suite needs at least one case' }),
});

type SuiteCase = z.infer<typeof caseSchema>;
type Expectation = z.infer<typeof expectSchema>;

/** What idgate answered, in the terms a suite asserts. */
export interface Got {
  readonly outcome: 'allow' | 'deny' | 'step_up';
  readonly code?: string;
  readonly route?: string;
  readonly layer?: string;
  readonly rule?: string;
  readonly headers: Readonly<Record<string, string>>;
}

export interface CaseResult {
  readonly name: string;
  readonly passed: boolean;
  /** Expected vs got, one `- expected` / `+ got` pair per differing field; empty when passed. */
  readonly diff: string;
  /** The explain trace of the case (empty when the request was unusable). */
  readonly trace: string;
  readonly got?: Got;
}

export interface SuiteResult {
  readonly file: string;
  readonly cases: readonly CaseResult[];
}

export interface PolicyTestResult {
  readonly suites: readonly SuiteResult[];
  /** Unusable input (unreadable or malformed suite or config), `file:line:col path: message` lines. */
  readonly errors: readonly string[];
}

/**
 * Runs YAML policy suites: each case is evaluated with `explain`'s evaluation (the policy the running
 * idgate compiles) and, for a route needing verification, with the verification stage's verdict judgement
 * (`evaluateVerdict`) over the case's simulated verdicts — then compared with its `expect`. Only simulated
 * `claims` are supported: a real token would need the issuer's JWKS, which is not offline.
 */
export async function runPolicyTest(deps: { logger: Logger }, paths: readonly string[]): Promise<PolicyTestResult> {
  const errors: string[] = [];
  const files: string[] = [];
  for (const p of paths) {
    try {
      files.push(...await suiteFiles(p));
    } catch (err) {
      errors.push(`${p}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`);
    }
  }
  if (files.length === 0 && errors.length === 0) errors.push(`${paths.join(' ')}: no *.yaml suite found`);
  const configs = new Map<string, Promise<IdgateConfig>>();
  const suites: SuiteResult[] = [];
  for (const file of files) {
    try {
      const suite = await loadSuite(file);
      const configPath = resolve(dirname(file), suite.value.config);
      let config = configs.get(configPath);
      const first = config === undefined;
      if (!config) configs.set(configPath, config = loadConfig(configPath, { env: process.env }));
      const loaded = await config;
      // A tenant whose files did not load fails the run (once per config), though its cases still run.
      if (first) errors.push(...tenantLoadErrors(loaded));
      checkWorkflows(file, suite, loaded);
      const cases: CaseResult[] = [];
      for (const c of suite.value.cases) cases.push(await runCase(deps, loaded, c, suite.value.now));
      suites.push({ file, cases });
    } catch (err) {
      if (err instanceof ConfigError) errors.push(...err.message.split('\n').slice(1));
      else if ((err as NodeJS.ErrnoException).code === 'ENOENT') errors.push(`${file}: config not found: ${(err as NodeJS.ErrnoException).path ?? ''}`);
      else errors.push(`${file}: ${(err as Error).message}`);
    }
  }
  return { suites, errors };
}

/** The suites a path names: the file itself, or every `*.yaml`/`*.yml` under a directory (sorted, recursive). */
async function suiteFiles(path: string): Promise<string[]> {
  if (!(await stat(path)).isDirectory()) return [path];
  const entries = await readdir(path, { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile() && /\.ya?ml$/.test(e.name))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

interface LoadedSuite {
  readonly value: z.infer<typeof suiteSchema>;
  readonly locate: (path: readonly PropertyKey[], at?: 'key' | 'value') => { line?: number; column?: number };
}

/** Reads and validates one suite; every problem is a `ConfigError` issue with its line and column. */
async function loadSuite(file: string): Promise<LoadedSuite> {
  const text = await readFile(file, 'utf8');
  if (text.length > MAX_SUITE_LENGTH) throw new ConfigError(file, [{ path: '', message: `suite too large (max ${MAX_SUITE_LENGTH} characters)` }]);
  const lineCounter = new LineCounter();
  // The config's YAML rules: core schema (timestamps stay strings), duplicate keys are errors.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, schema: 'core', merge: false });
  if (doc.errors.length > 0) {
    throw new ConfigError(file, doc.errors.map((e) => {
      const pos = lineCounter.linePos(e.pos[0]);
      return { path: '', line: pos.line, column: pos.col, message: `YAML syntax error: ${e.message.split('\n')[0]}` };
    }));
  }
  const locate = (path: readonly PropertyKey[], at: 'key' | 'value' = 'value') => {
    const pos = locatePath(doc, lineCounter, path, at);
    return pos ? { line: pos.line, column: pos.column } : {};
  };
  const parsed = suiteSchema.safeParse(doc.toJS({ maxAliasCount: 100 }) ?? {});
  if (!parsed.success) {
    throw new ConfigError(file, parsed.error.issues.flatMap((iss): ConfigIssue[] => {
      if (iss.code === 'unrecognized_keys') {
        return iss.keys.map((key) => ({ path: formatPath([...iss.path, key]), ...locate([...iss.path, key], 'key'), message: `unknown key "${key}"` }));
      }
      return [{ path: formatPath(iss.path), ...locate(iss.path), message: iss.message }];
    }));
  }
  return { value: parsed.data, locate };
}

/** A simulated verdict for a workflow the config does not define could never be read: reject the suite. */
function checkWorkflows(file: string, suite: LoadedSuite, config: IdgateConfig): void {
  const issues: ConfigIssue[] = [];
  suite.value.cases.forEach((c, i) => {
    for (const [name, v] of Object.entries(c.verifications ?? {})) {
      const path = ['cases', i, 'verifications', name];
      if (!Object.hasOwn(config.workflows, name)) {
        issues.push({ path: formatPath(path), ...suite.locate(path, 'key'), message: `unknown workflow "${name}" (defined: ${Object.keys(config.workflows).join(', ') || 'none'})` });
      }
      if (v.age !== undefined && typeof parseDuration(v.age) === 'string') {
        issues.push({ path: formatPath([...path, 'age']), ...suite.locate([...path, 'age']), message: String(parseDuration(v.age)) });
      }
    }
  });
  if (issues.length > 0) throw new ConfigError(file, issues);
}

async function runCase(deps: { logger: Logger }, config: IdgateConfig, c: SuiteCase, suiteNow: string | undefined): Promise<CaseResult> {
  const at = c.now ?? suiteNow;
  const now = at !== undefined ? Date.parse(at) : Date.now();
  const evaluated = await explainRequest(deps, config, {
    request: c.request,
    ...(c.claims !== undefined ? { claims: c.claims } : {}),
    ...(c.risk !== undefined ? { risk: c.risk } : {}),
    now,
  });
  if (!evaluated.ok) {
    return { name: c.name, passed: false, diff: `  request not usable: ${evaluated.error}`, trace: '' };
  }
  const got = decide(evaluated, config, c.verifications ?? {}, now);
  const diff = diffExpectation(c.expect, got);
  return { name: c.name, passed: diff === '', diff, trace: renderExplainText(evaluated, config.headers.prefix), got };
}

/**
 * The decision the engine (`engine/create-engine.ts`) reaches from this outcome, with the verification
 * gate's judgement of the simulated verdicts in place of the store: every need must be satisfied, the
 * first final deny wins, the first unmet need steps up. Shadow routes answer allow with the would-be
 * decision in `<prefix>shadow-decision`, as the engine does.
 */
function decide(
  evaluated: Extract<ExplainedRequest, { ok: true }>,
  config: IdgateConfig,
  verifications: NonNullable<SuiteCase['verifications']>,
  now: number,
): Got {
  const { auth, outcome } = evaluated;
  const prefix = config.headers.prefix;
  const principal = auth.kind === 'verified' ? auth.principal : undefined;
  // `route` carries the deciding layer and rule too: every answer below names them.
  const route = {
    ...(outcome.routeId !== undefined ? { route: outcome.routeId } : {}),
    ...(outcome.decidedBy !== undefined ? { layer: outcome.decidedBy.layer, rule: outcome.decidedBy.id } : {}),
  };
  const allow = (verified: readonly string[]): Got => {
    const headers: Record<string, string> = { ...outcome.kind === 'deny' ? {} : outcome.headers };
    if (principal) {
      headers[`${prefix}subject`] = identityValue(principal.subject);
      headers[`${prefix}issuer`] = identityValue(principal.issuerName);
    }
    if (verified.length > 0) headers[`${prefix}verified`] = verified.join(',');
    return { outcome: 'allow', ...route, headers };
  };
  let real: Got;
  let would = '';
  switch (outcome.kind) {
    case 'allow':
      return allow([]);
    case 'deny':
      real = { outcome: 'deny', code: outcome.code, ...route, headers: {} };
      would = `deny:${outcome.code}`;
      break;
    case 'verify': {
      if (!principal) {
        // The engine's answer when a step-up has no subject to verify.
        real = { outcome: 'deny', code: 'dependency_unavailable', ...route, headers: {} };
        would = 'deny:dependency_unavailable';
        break;
      }
      const satisfied: string[] = [];
      let unmet: Got | undefined;
      for (const need of outcome.needs) {
        const workflow = config.workflows[need.workflow];
        if (!workflow) {
          unmet = { outcome: 'deny', code: 'internal_error', ...route, headers: {} };
          would = 'deny:internal_error';
          break;
        }
        const evaluation = evaluateVerdict(toVerdict(principal.subject, need.workflow, verifications[need.workflow], now), need, workflow, now);
        if (evaluation.kind === 'satisfied') {
          satisfied.push(need.workflow);
          continue;
        }
        unmet = evaluation.kind === 'deny'
          ? { outcome: 'deny', code: evaluation.code, ...route, headers: {} }
          : { outcome: 'step_up', code: need.workflow, ...route, headers: {} };
        would = evaluation.kind === 'deny' ? `deny:${evaluation.code}` : `step_up:${need.workflow}`;
        break;
      }
      if (!unmet) return allow(satisfied);
      real = unmet;
      break;
    }
    default: {
      const never: never = outcome;
      return never;
    }
  }
  return outcome.shadow ? { outcome: 'allow', ...route, headers: { [`${prefix}shadow-decision`]: would } } : real;
}

function toVerdict(
  subject: string,
  workflow: string,
  simulated: NonNullable<SuiteCase['verifications']>[string] | undefined,
  now: number,
): Verdict | undefined {
  if (!simulated) return undefined;
  const age = simulated.age !== undefined ? parseDuration(simulated.age) : 0;
  const at = now - (typeof age === 'number' ? age : 0);
  return { subject, workflow, sessionId: 'policy-test', status: simulated.status, eventAt: at, decidedAt: at, facts: simulated.facts };
}

/** `- expected` / `+ got` lines for every asserted field that differs; `code` of a step-up is its workflow. */
export function diffExpectation(expected: Expectation, got: Got): string {
  const lines: string[] = [];
  const field = (name: string, want: string | undefined, have: string | undefined) => {
    if (want === undefined || want === have) return;
    lines.push(`  - ${name}: ${want}`, `  + ${name}: ${have ?? '(none)'}`);
  };
  field('outcome', expected.outcome, got.outcome);
  field('code', expected.code, got.code);
  field('route', expected.route, got.route);
  field('layer', expected.layer, got.layer);
  field('rule', expected.rule, got.rule);
  for (const [k, v] of Object.entries(expected.headers ?? {})) field(`header ${k.toLowerCase()}`, v, got.headers[k.toLowerCase()]);
  return lines.join('\n');
}

/** The human report: one ✓/✗ line per case, the diff and trace of a failure, and a summary line. */
export function renderPolicyTestText(result: PolicyTestResult): string {
  const out: string[] = [];
  for (const suite of result.suites) {
    out.push(suite.file);
    for (const c of suite.cases) {
      out.push(`  ${c.passed ? '✓' : '✗'} ${c.name}`);
      if (c.passed) continue;
      out.push(c.diff.split('\n').map((l) => `    ${l}`).join('\n'));
      if (c.trace) out.push('', c.trace.trimEnd().split('\n').map((l) => (l ? `      ${l}` : '')).join('\n'), '');
    }
  }
  const all = result.suites.flatMap((s) => s.cases);
  const failed = all.filter((c) => !c.passed).length;
  out.push(`${all.length - failed} passed, ${failed} failed (${all.length} case(s) in ${result.suites.length} suite(s))`);
  return `${out.join('\n')}\n`;
}

/** JUnit XML: one testsuite per file, one testcase per case, the diff as the failure message. */
export function renderJunit(result: PolicyTestResult): string {
  const all = result.suites.flatMap((s) => s.cases);
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="idgate policy test" tests="${all.length}" failures="${all.filter((c) => !c.passed).length}">`,
  ];
  for (const suite of result.suites) {
    const failures = suite.cases.filter((c) => !c.passed).length;
    lines.push(`  <testsuite name="${xml(suite.file)}" tests="${suite.cases.length}" failures="${failures}">`);
    for (const c of suite.cases) {
      const open = `    <testcase name="${xml(c.name)}" classname="${xml(suite.file)}"`;
      if (c.passed) {
        lines.push(`${open}/>`);
      } else {
        lines.push(`${open}>`, `      <failure message="${xml(c.diff)}">${xml(`${c.diff}\n\n${c.trace}`)}</failure>`, '    </testcase>');
      }
    }
    lines.push('  </testsuite>');
  }
  lines.push('</testsuites>');
  return `${lines.join('\n')}\n`;
}

/** Escapes text for an XML attribute or element; characters XML 1.0 forbids are dropped. */
function xml(text: string): string {
  return text
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/\n/g, '&#10;');
}
