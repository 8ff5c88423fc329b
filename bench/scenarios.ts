import type { BenchAlgorithm } from './bench-issuer.js';
import type { ExpectedVerdict } from './check-sample.js';

/** The scenarios `run.js` runs by default (`all`), in the order they run. */
export const SCENARIO_NAMES = ['hot', 'hot-traced', 'redis', 'cold-rs256', 'cold-es256', 'stepup', 'mix', 'workers'] as const;
/**
 * Scenarios run only when named (`--scenario stepup-redis`, or `cpu-per-check.js --scenario …`): they show
 * one path's cost for an A/B and carry no goal, so the full run does not spend its time on them.
 */
export const OPTIONAL_SCENARIO_NAMES = ['stepup-redis'] as const;
export type ScenarioName = (typeof SCENARIO_NAMES)[number] | (typeof OPTIONAL_SCENARIO_NAMES)[number];

/**
 * Which load generator drives a scenario: `h2load` repeats one request body (one token) as fast as nghttp2
 * can; `node` is `grpc-load.ts`, which cycles through many pre-encoded bodies (distinct tokens or paths).
 * A scenario's ceiling is always measured with the same generator as its target.
 */
export type GeneratorName = 'h2load' | 'node';

/** One benchmark scenario: what idgate is configured with, what it is sent, what it must answer. */
export interface ScenarioDef {
  readonly name: ScenarioName;
  /** One line for the README and the report. */
  readonly description: string;
  readonly generator: GeneratorName;
  /** `redis-cached`: Redis store + local verdict cache; `redis-uncached`: every Check reads Redis; `memory`. */
  readonly store: 'redis-cached' | 'redis-uncached' | 'memory';
  /** `single`: one token for every request; `pool`: a distinct token per request (never repeated). */
  readonly tokens: 'single' | 'pool';
  readonly algorithm: BenchAlgorithm;
  /** `verified`: the subject has an Approved kyc verdict; `unverified`: none, so idgate steps up. */
  readonly subject: 'verified' | 'unverified';
  /** Routes in the policy; > 1 makes requests cycle over the generated routes. */
  readonly routes: number;
  /** Pin the server to core 0 (`taskset -c 0`); false lets it use both cores. */
  readonly pinServer: boolean;
  /** Extra `idgate serve` arguments. */
  readonly extraArgs: readonly string[];
  /** What idgate must answer; checked with a real gRPC call before measuring. */
  readonly expected: ExpectedVerdict;
  /** Tracing on at this root sample ratio, exporting to an OTLP/HTTP sink in the harness; unset = off. */
  readonly tracingSampleRatio?: number;
}

const base = {
  generator: 'h2load',
  store: 'redis-cached',
  tokens: 'single',
  algorithm: 'RS256',
  subject: 'verified',
  routes: 1,
  pinServer: true,
  extraArgs: [],
  expected: 'allow',
} as const;

/** Every scenario, keyed by name. */
export const SCENARIOS: Readonly<Record<ScenarioName, ScenarioDef>> = {
  hot: {
    ...base,
    name: 'hot',
    description: 'one token, verified once; verdict in the local cache — the steady-state hot path',
  },
  'hot-traced': {
    ...base,
    name: 'hot-traced',
    tracingSampleRatio: 0.01,
    description: 'the hot path with tracing on at 1 % sampling (OTLP/HTTP to a sink in the harness); compare its ratio with `hot`',
  },
  redis: {
    ...base,
    name: 'redis',
    store: 'redis-uncached',
    description: 'one token; local verdict cache off, so every Check reads the verdict from a real redis-server',
  },
  'cold-rs256': {
    ...base,
    name: 'cold-rs256',
    generator: 'node',
    tokens: 'pool',
    description: 'a distinct RS256 token per request (signature verified every time, JWKS cached); verdict cached',
  },
  'cold-es256': {
    ...base,
    name: 'cold-es256',
    generator: 'node',
    tokens: 'pool',
    algorithm: 'ES256',
    description: 'a distinct ES256 token per request (signature verified every time, JWKS cached); verdict cached',
  },
  stepup: {
    ...base,
    name: 'stepup',
    store: 'memory',
    subject: 'unverified',
    expected: 'step_up',
    description: 'one token whose subject has no verdict: idgate answers a step-up, reusing the pending sandbox session',
  },
  'stepup-redis': {
    ...base,
    name: 'stepup-redis',
    store: 'redis-uncached',
    subject: 'unverified',
    expected: 'step_up',
    description:
      'the `stepup` path on Redis without the local cache: every Check reads the verdicts and the pending session (one MGET since the fourth round); optional',
  },
  mix: {
    ...base,
    name: 'mix',
    generator: 'node',
    routes: 200,
    description: 'a 200-route policy (CEL conditions with --mix-cel); requests cycle over all routes, one token',
  },
  workers: {
    ...base,
    name: 'workers',
    pinServer: false,
    extraArgs: ['--workers', '2'],
    description: 'the hot path with `serve --workers 2`, server not pinned (both cores, shared with the generator)',
  },
};

/**
 * The `idgate` command a scenario's target runs: `serve` (every role, the embedded Didit sandbox) where a
 * step-up must be able to create its session or the store is in memory; `authz` alone otherwise.
 */
export function commandOf(def: ScenarioDef): 'serve' | 'authz' {
  return def.store === 'memory' || def.subject === 'unverified' ? 'serve' : 'authz';
}

/** Parses a comma-separated scenario list (`hot,redis`); `all` or undefined = every scenario. */
export function parseScenarioList(value: string | undefined): ScenarioName[] {
  if (value === undefined || value === 'all') return [...SCENARIO_NAMES];
  const names = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const name of names) {
    if (!(SCENARIO_NAMES as readonly string[]).includes(name) && !(OPTIONAL_SCENARIO_NAMES as readonly string[]).includes(name)) {
      throw new TypeError(`unknown scenario "${name}" (known: ${[...SCENARIO_NAMES, ...OPTIONAL_SCENARIO_NAMES].join(', ')})`);
    }
  }
  return names as ScenarioName[];
}
