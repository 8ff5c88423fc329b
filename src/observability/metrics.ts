import {
  collectDefaultMetrics,
  Counter,
  Gauge,
  Registry,
  type Metric,
} from 'prom-client';
import { DENY_CODES, type DenyCode } from '../core/deny-code.js';
import { SESSION_STATUSES } from '../core/verdict.js';

/** Outcome label of the checks metrics. */
export type CheckOutcome = 'allow' | 'deny' | 'step_up';
/** Which front end answered: gRPC ext_authz or the HTTP authorization mode. */
export type CheckMode = 'grpc' | 'http';
/** Result label of the token and verdict cache counters. */
export type CacheResult = 'hit' | 'miss' | 'error';

/**
 * Buckets of `idgate_check_duration_seconds`, in seconds: 100 µs to 1 s. The cached decision path takes
 * tens of microseconds, so the low end is dense; misses (JWKS, Redis, Didit) land in the millisecond range.
 */
export const CHECK_DURATION_BUCKETS: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
];

/** Label value used when a check had no deny code (allow) or matched no route. */
export const NO_LABEL = 'none';
/** Route label once `maxRouteLabels` distinct routes have been seen (cardinality guard). */
export const OVERFLOW_ROUTE_LABEL = 'other';

/** Didit session status → `idgate_verdicts_total` label (anything else is counted as `other`). */
const VERDICT_STATUS_LABELS: ReadonlyMap<string, string> = new Map(
  SESSION_STATUSES.map((status) => [status, status.toLowerCase().replace(/ /g, '_')]),
);

const OUTCOMES: readonly CheckOutcome[] = ['allow', 'deny', 'step_up'];
const MODES: readonly CheckMode[] = ['grpc', 'http'];
const KNOWN_CODES: ReadonlySet<string> = new Set<string>(DENY_CODES);

function outcomeIndex(outcome: CheckOutcome): number {
  switch (outcome) {
    case 'allow':
      return 0;
    case 'deny':
      return 1;
    case 'step_up':
      return 2;
    default: {
      const unreachable: never = outcome;
      throw new TypeError(`unknown outcome ${String(unreachable)}`);
    }
  }
}

/** A label set whose increments are accumulated in a plain number and handed to prom-client at scrape. */
interface PendingCell<L extends string> {
  readonly labels: Readonly<Record<L, string>>;
  pending: number;
}

/**
 * `idgate_check_duration_seconds{outcome}`: a histogram kept in typed arrays, exported through the
 * public `get()` metric contract. prom-client's own `observe()` hashes the label object on every call
 * (~200 ns); this costs a bucket scan and three additions.
 */
class OutcomeHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly labelNames = ['outcome'];
  private readonly bounds: readonly number[];
  private readonly buckets: Float64Array[];
  private readonly sums: Float64Array;
  private readonly counts: Float64Array;

  constructor(name: string, help: string, bounds: readonly number[]) {
    this.name = name;
    this.help = help;
    this.bounds = bounds;
    this.buckets = OUTCOMES.map(() => new Float64Array(bounds.length));
    this.sums = new Float64Array(OUTCOMES.length);
    this.counts = new Float64Array(OUTCOMES.length);
  }

  observe(index: number, seconds: number): void {
    if (!(seconds >= 0) || seconds === Infinity) return;
    const buckets = this.buckets[index] as Float64Array;
    const bounds = this.bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (seconds <= (bounds[i] as number)) {
        (buckets[i] as number)++;
        break;
      }
    }
    (this.sums[index] as number) += seconds;
    (this.counts[index] as number)++;
  }

  reset(): void {
    for (const buckets of this.buckets) buckets.fill(0);
    this.sums.fill(0);
    this.counts.fill(0);
  }

  async get(): Promise<{
    name: string;
    help: string;
    type: string;
    aggregator: string;
    values: { value: number; labels: Record<string, string | number>; metricName: string }[];
  }> {
    const values: { value: number; labels: Record<string, string | number>; metricName: string }[] = [];
    OUTCOMES.forEach((outcome, index) => {
      const count = this.counts[index] as number;
      if (count === 0) return;
      const buckets = this.buckets[index] as Float64Array;
      let cumulative = 0;
      this.bounds.forEach((bound, i) => {
        cumulative += buckets[i] as number;
        values.push({ value: cumulative, labels: { le: bound, outcome }, metricName: `${this.name}_bucket` });
      });
      values.push(
        { value: count, labels: { le: '+Inf', outcome }, metricName: `${this.name}_bucket` },
        { value: this.sums[index] as number, labels: { outcome }, metricName: `${this.name}_sum` },
        { value: count, labels: { outcome }, metricName: `${this.name}_count` },
      );
    });
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

/**
 * Sampling interval of the `nodejs_eventloop_lag_*` default metrics, ms. prom-client's default (10 ms)
 * arms a libuv timer that wakes the process 100 times a second even with no traffic (~7.6 millicores for
 * that timer alone, measured standalone; bench/README.md, "Hot path, fourth round"), and a wake-up of its
 * own between paced Checks. At 50 ms a stall of 50 ms or more (a third of the default decision budget)
 * always spans a sample and shows in `_max`; a shorter one shows when it spans a sample.
 */
export const EVENT_LOOP_LAG_RESOLUTION_MS = 50;

/** Options for {@link createMetrics}. */
export interface CreateMetricsOptions {
  /** Register prom-client's process/Node.js default metrics on the registry (default true). */
  readonly defaultMetrics?: boolean;
  /** Distinct `route` label values kept before further routes are counted as `other` (default 500). */
  readonly maxRouteLabels?: number;
}

/**
 * idgate's metrics, all prefixed `idgate_`. Label values are bounded: routes come from config (and are
 * capped), codes from `DENY_CODES`, everything else from small fixed sets documented per metric.
 */
export interface IdgateMetrics {
  readonly registry: Registry;
  /**
   * `idgate_checks_total{outcome,code,route,mode}`. Write through {@link IdgateMetrics.recordCheck};
   * increments are accumulated in plain numbers and applied at scrape time.
   */
  readonly checksTotal: Counter<'outcome' | 'code' | 'route' | 'mode'>;
  /** `idgate_jwks_fetches_total{issuer,result}`; issuer = configured issuer name, result e.g. `ok`, `error`, `timeout`. */
  readonly jwksFetchesTotal: Counter<'issuer' | 'result'>;
  /** `idgate_token_cache_total{result}`: `hit` | `miss`. Prefer {@link IdgateMetrics.recordTokenCache}. */
  readonly tokenCacheTotal: Counter<'result'>;
  /** `idgate_verdict_cache_total{result}`: `hit` | `miss` | `error`. Prefer {@link IdgateMetrics.recordVerdictCache}. */
  readonly verdictCacheTotal: Counter<'result'>;
  /** `idgate_webhooks_total{result}`: `written`, `duplicate`, `stale`, `superseded` (Didit's fetched decision differed from the delivery and was applied instead), `ignored_*`, `mismatch`, or a signature/parse rejection reason. */
  readonly webhooksTotal: Counter<'result'>;
  /** `idgate_didit_requests_total{op,result}`, e.g. op `create_session`/`get_decision`, result `ok`/`error`/`timeout`. */
  readonly diditRequestsTotal: Counter<'op' | 'result'>;
  /**
   * `idgate_config_reloads_total{result}`: `success` | `failure` (rejected whole, the running config stays) |
   * `partial` (applied, but some tenant's files were rejected: that tenant is stale or failed).
   */
  readonly configReloadsTotal: Counter<'result'>;
  /**
   * `idgate_policy_tenant_status{tenant,status}`: 1 for each tenant's current status (`ok`, `stale`: its
   * files failed and its last good routes serve, `failed`: its files failed and its requests are denied), 0
   * for the other two. Alert on `status!="ok"` being 1.
   */
  readonly policyTenantStatus: Gauge<'tenant' | 'status'>;
  /** `idgate_policy_tenant_load_failures_total{tenant}`: loads (start or reload) that rejected a tenant's files. */
  readonly policyTenantLoadFailuresTotal: Counter<'tenant'>;
  /** `idgate_tls_reloads_total{listener,result}`: certificate rotations, `success` | `failure` (old cert kept). */
  readonly tlsReloadsTotal: Counter<'listener' | 'result'>;
  /**
   * `idgate_config_reload_refused_total{section,reason}`: a changed config section (or key, e.g. `risk.enabled`)
   * a reload did not apply; reason `restart_required`.
   */
  readonly configReloadRefusedTotal: Counter<'section' | 'reason'>;
  /** `idgate_dependency_up{dependency}`: 1 up, 0 down (`redis`, `didit`, `jwks:<issuer>`…). */
  readonly dependencyUp: Gauge<'dependency'>;
  /** `idgate_shadow_decisions_total{would}`: what a shadow-mode route would have answered (`deny` | `step_up`). */
  readonly shadowDecisionsTotal: Counter<'would'>;
  /**
   * `idgate_stepup_starts_total{result}`: step-ups answered with idgate's start URL (`issued`), their
   * background creations that failed (`background_failed`), and start URLs opened: `redirected`,
   * `invalid`, `expired`, `loop`, `unavailable`.
   */
  readonly stepUpStartsTotal: Counter<'result'>;
  /**
   * `idgate_dependency_faults_total{dependency}`: requests that failed because a dependency (`store`,
   * `didit`, `jwks`) was unavailable. The log carries only state changes; this carries the volume.
   */
  readonly dependencyFaultsTotal: Counter<'dependency'>;
  /**
   * `idgate_verdicts_total{status}`: verdicts newly written to the store (webhook, callback or sweep), by
   * Didit status in snake case (`approved`, `declined`, `in_review`, … from `SESSION_STATUSES`). The
   * approved/declined stage of the step-up funnel. Prefer {@link IdgateMetrics.recordVerdict}.
   */
  readonly verdictsTotal: Counter<'status'>;
  /**
   * `idgate_reconcile_backlog`: stale pending sessions (webhook never arrived) the last sweep found, capped
   * at the per-sweep limit. Exported only by the replica that ran the latest sweep; the others drop it.
   */
  readonly reconcileBacklog: Gauge;
  /**
   * `idgate_jwks_last_success_timestamp_seconds{issuer}`: when the issuer's JWKS (or discovery) was last
   * fetched successfully (`ok` or `unchanged`), in Unix seconds. `time() - this` is the key set's age.
   */
  readonly jwksLastSuccess: Gauge<'issuer'>;
  /** Counts a written verdict by its Didit status (mapped to a bounded snake-case label). */
  recordVerdict(status: string): void;
  /**
   * Counts one decision and observes its duration in `idgate_check_duration_seconds{outcome}`.
   * Hot path: two Map lookups and a few additions, no allocation after the first call per label set.
   * A non-finite or negative duration is not observed (the count still is).
   */
  recordCheck(
    outcome: CheckOutcome,
    code: DenyCode | undefined,
    route: string | undefined,
    mode: CheckMode,
    seconds: number,
  ): void;
  /** Counts a verified-token cache lookup (hot path, no label hashing). */
  recordTokenCache(result: 'hit' | 'miss'): void;
  /** Counts a verdict cache lookup (hot path, no label hashing). */
  recordVerdictCache(result: CacheResult): void;
  /** Sets `idgate_dependency_up{dependency}` to 1 or 0. */
  setDependencyUp(dependency: string, up: boolean): void;
}

/**
 * Creates and registers idgate's metrics on `registry` (a fresh one by default: no global registry).
 *
 * @throws Error (from prom-client) if metrics with these names are already registered on `registry`.
 */
export function createMetrics(registry: Registry = new Registry(), options: CreateMetricsOptions = {}): IdgateMetrics {
  const maxRouteLabels = options.maxRouteLabels ?? 500;
  if (!Number.isSafeInteger(maxRouteLabels) || maxRouteLabels < 1) {
    throw new TypeError(`maxRouteLabels must be a positive integer, got ${String(maxRouteLabels)}`);
  }
  const registers = [registry];

  // route → code → cells indexed by outcome * 2 + mode.
  const checkCells = new Map<string, Map<string, (PendingCell<'outcome' | 'code' | 'route' | 'mode'> | undefined)[]>>();
  const checksTotal = new Counter({
    name: 'idgate_checks_total',
    help: 'Authorization decisions by outcome, deny code, policy route and front end.',
    labelNames: ['outcome', 'code', 'route', 'mode'] as const,
    registers,
    collect() {
      for (const byCode of checkCells.values()) {
        for (const cells of byCode.values()) {
          for (const cell of cells) {
            if (cell !== undefined && cell.pending > 0) {
              this.inc(cell.labels, cell.pending);
              cell.pending = 0;
            }
          }
        }
      }
    },
  });

  const duration = new OutcomeHistogram(
    'idgate_check_duration_seconds',
    'Time to reach an authorization decision, by outcome.',
    CHECK_DURATION_BUCKETS,
  );
  // The histogram satisfies the registry's metric contract (name, help, type, aggregator, get, reset).
  registry.registerMetric(duration as unknown as Metric<string>);

  const pendingCounter = <R extends string>(
    name: string,
    help: string,
    results: readonly R[],
  ): { counter: Counter<'result'>; cells: Map<R, PendingCell<'result'>> } => {
    const cells = new Map<R, PendingCell<'result'>>(results.map((result) => [result, { labels: { result }, pending: 0 }]));
    const counter = new Counter({
      name,
      help,
      labelNames: ['result'] as const,
      registers,
      collect() {
        for (const cell of cells.values()) {
          if (cell.pending > 0) {
            this.inc(cell.labels, cell.pending);
            cell.pending = 0;
          }
        }
      },
    });
    // Expose every known series from the start so rate() has a baseline.
    for (const result of results) counter.inc({ result }, 0);
    return { counter, cells };
  };
  const tokenCache = pendingCounter('idgate_token_cache_total', 'Verified-token cache lookups.', ['hit', 'miss'] as const);
  const verdictCache = pendingCounter('idgate_verdict_cache_total', 'Local verdict cache lookups.', [
    'hit',
    'miss',
    'error',
  ] as const);

  // One definition shape for the plain metrics; `baselines` are label sets exported at 0 from the start, so
  // rate() and increase() have a first sample (e.g. the step-up funnel counts its first session too).
  const counter = <L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
    baselines: readonly Readonly<Record<L, string>>[] = [],
  ): Counter<L> => {
    const metric = new Counter({ name, help, labelNames, registers });
    for (const labels of baselines) metric.inc(labels, 0);
    return metric;
  };
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[]): Gauge<L> =>
    new Gauge({ name, help, labelNames, registers });

  const jwksFetchesTotal = counter('idgate_jwks_fetches_total', 'JWKS and OIDC discovery fetches by issuer and result.', [
    'issuer',
    'result',
  ]);
  const webhooksTotal = counter('idgate_webhooks_total', 'Didit webhooks received, by result.', ['result']);
  const diditRequestsTotal = counter(
    'idgate_didit_requests_total',
    'Requests to the Didit API by operation and result.',
    ['op', 'result'],
    ['create_session', 'get_decision'].map((op) => ({ op, result: 'ok' })),
  );
  const configReloadsTotal = counter(
    'idgate_config_reloads_total',
    'Configuration reloads by result.',
    ['result'],
    ['success', 'failure', 'partial'].map((result) => ({ result })),
  );
  // `max` across cluster workers: each loads the same files, so a status held by any worker reads 1, not N.
  const policyTenantStatus = new Gauge({
    name: 'idgate_policy_tenant_status',
    help: 'Each tenant policy\'s status: 1 for the current one of ok, stale (its files failed; last good routes serve) or failed (its requests are denied).',
    labelNames: ['tenant', 'status'] as const,
    registers,
    aggregator: 'max',
  });
  const policyTenantLoadFailuresTotal = counter(
    'idgate_policy_tenant_load_failures_total',
    'Configuration loads (start or reload) that rejected a tenant\'s files, by tenant.',
    ['tenant'],
  );
  const tlsReloadsTotal = counter(
    'idgate_tls_reloads_total',
    'Authz listener certificate reloads by listener and result (failure = the running certificate was kept).',
    ['listener', 'result'],
  );
  const configReloadRefusedTotal = counter(
    'idgate_config_reload_refused_total',
    'Changed config sections a reload did not apply (the running value stays until a restart).',
    ['section', 'reason'],
  );
  const dependencyUp = gauge('idgate_dependency_up', 'Whether a dependency is reachable (1) or not (0).', ['dependency']);
  const shadowDecisionsTotal = counter(
    'idgate_shadow_decisions_total',
    'Decisions a shadow-mode route would have made but allowed instead, by would-be outcome.',
    ['would'],
  );
  const stepUpStartsTotal = counter(
    'idgate_stepup_starts_total',
    "Step-ups answered with idgate's start URL and start URLs opened, by result.",
    ['result'],
    ['issued', 'background_failed', 'redirected', 'invalid', 'expired', 'loop', 'unavailable'].map((result) => ({ result })),
  );
  const dependencyFaultsTotal = counter(
    'idgate_dependency_faults_total',
    'Requests that failed closed because a dependency was unavailable, by dependency.',
    ['dependency'],
    ['store', 'didit', 'other'].map((dependency) => ({ dependency })),
  );
  const verdictsTotal = counter(
    'idgate_verdicts_total',
    'Verdicts newly written to the store, by Didit session status.',
    ['status'],
    [...VERDICT_STATUS_LABELS.values()].map((status) => ({ status })),
  );
  const reconcileBacklog = gauge(
    'idgate_reconcile_backlog',
    'Stale pending sessions found by the last reconcile sweep (capped at the per-sweep limit).',
    [],
  );
  const jwksLastSuccess = gauge(
    'idgate_jwks_last_success_timestamp_seconds',
    "Unix time of the issuer's last successful JWKS or discovery fetch.",
    ['issuer'],
  );

  if (options.defaultMetrics ?? true) {
    collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_LAG_RESOLUTION_MS });
  }

  const createCheckCell = (
    routeLabel: string,
    codeLabel: string,
    outcome: CheckOutcome,
    mode: CheckMode,
  ): PendingCell<'outcome' | 'code' | 'route' | 'mode'> => {
    let byCode = checkCells.get(routeLabel);
    if (byCode === undefined) {
      byCode = new Map();
      checkCells.set(routeLabel, byCode);
    }
    let cells = byCode.get(codeLabel);
    if (cells === undefined) {
      cells = new Array<PendingCell<'outcome' | 'code' | 'route' | 'mode'> | undefined>(OUTCOMES.length * MODES.length);
      byCode.set(codeLabel, cells);
    }
    const index = outcomeIndex(outcome) * 2 + (mode === 'grpc' ? 0 : 1);
    let cell = cells[index];
    if (cell === undefined) {
      cell = { labels: { outcome, code: codeLabel, route: routeLabel, mode }, pending: 0 };
      cells[index] = cell;
    }
    return cell;
  };

  return {
    registry,
    checksTotal,
    jwksFetchesTotal,
    tokenCacheTotal: tokenCache.counter,
    verdictCacheTotal: verdictCache.counter,
    webhooksTotal,
    diditRequestsTotal,
    configReloadsTotal,
    policyTenantStatus,
    policyTenantLoadFailuresTotal,
    tlsReloadsTotal,
    configReloadRefusedTotal,
    dependencyUp,
    shadowDecisionsTotal,
    stepUpStartsTotal,
    dependencyFaultsTotal,
    verdictsTotal,
    reconcileBacklog,
    jwksLastSuccess,

    recordVerdict(status) {
      verdictsTotal.inc({ status: VERDICT_STATUS_LABELS.get(status) ?? 'other' });
    },
    recordCheck(outcome, code, route, mode, seconds) {
      const routeKey = route ?? NO_LABEL;
      const codeKey = code ?? NO_LABEL;
      const cell = checkCells.get(routeKey)?.get(codeKey)?.[outcomeIndex(outcome) * 2 + (mode === 'grpc' ? 0 : 1)];
      if (cell !== undefined) {
        cell.pending++;
      } else {
        // First sighting of this label set: validate and cap here, never on the cached path.
        const routeLabel =
          checkCells.has(routeKey) || checkCells.size < maxRouteLabels ? routeKey : OVERFLOW_ROUTE_LABEL;
        const codeLabel = code === undefined || KNOWN_CODES.has(code) ? codeKey : 'unknown';
        createCheckCell(routeLabel, codeLabel, outcome, mode).pending++;
      }
      duration.observe(outcomeIndex(outcome), seconds);
    },
    recordTokenCache(result) {
      const cell = tokenCache.cells.get(result);
      if (cell !== undefined) cell.pending++;
    },
    recordVerdictCache(result) {
      const cell = verdictCache.cells.get(result);
      if (cell !== undefined) cell.pending++;
    },
    setDependencyUp(dependency, up) {
      dependencyUp.set({ dependency }, up ? 1 : 0);
    },
  };
}
