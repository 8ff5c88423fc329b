import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { ContextConfig, RiskConfig } from '../config/types.js';
import type { Principal } from '../core/principal.js';
import type { RequestContext } from '../core/request-context.js';
import type { RiskEvaluator } from '../core/stages.js';
import type { RiskLimits, RiskObservation, RiskSnapshot, RiskStore } from '../store/risk-store.js';
import type { RiskAssessment, RiskSignal } from '../core/risk-assessment.js';

/** Dependencies of {@link createRiskEvaluator}. */
export interface RiskEvaluatorDeps {
  /** Where per-subject state lives (the shared Redis store in production). */
  readonly store: Pick<RiskStore, 'recordActivity'>;
  /** Reports background-recording faults (throttled: at most one line per `faultLogIntervalMs`). */
  readonly logger?: Logger;
  /** Epoch-ms clock for the fault-log throttle (default `Date.now`). */
  readonly clock?: () => number;
}

/** Options of {@link createRiskEvaluator}: the validated `risk` and `context` config sections. */
export interface RiskEvaluatorOptions {
  readonly risk: RiskConfig;
  readonly context: ContextConfig;
  /** Background recordings allowed in flight at once; beyond it a recording is dropped (default 1000). */
  readonly maxInFlight?: number;
  /** Least time between two "recording failed" log lines (default 30 s). */
  readonly faultLogIntervalMs?: number;
}

/** Counters of the background recording path. */
export interface RiskEvaluatorStats {
  /** Background recordings that completed. */
  readonly recorded: number;
  /** Background recordings that failed (store fault); swallowed. */
  readonly failed: number;
  /** Background recordings skipped because `maxInFlight` were already running. */
  readonly dropped: number;
}

/** The engine's {@link RiskEvaluator} with its fire-and-forget recording path and counters. */
export interface ContinuousRiskEvaluator extends RiskEvaluator {
  record(ctx: RequestContext, principal: Principal, now: number): void;
  stats(): RiskEvaluatorStats;
}

const COUNTRY = /^[A-Z]{2}$/;

/**
 * Continuous verification: records every authenticated request in the subject's shared risk state and
 * turns what changed into weighted signals.
 *
 * Inputs per request: the client address (`ctx.sourceAddress`), the country from the trusted
 * `context.countryHeader` (two letters, else ignored), a device id = SHA-256 of the configured
 * `context.deviceHeaders` (only when at least one is present; the raw values are never stored) and the
 * token fingerprint. Signals (each adds its configured weight; the score is capped at 100):
 * - `new_device`: a device id never seen for this subject — except on the subject's very first request;
 * - `country_change`: the country differs from the last known one;
 * - `impossible_travel`: a country change within `risk.impossibleTravelMs` of the last sighting there;
 * - `velocity`: more than `risk.velocityMax` requests of the subject in `risk.velocityWindowMs`;
 * - `too_many_ips`: the token was used from more than `risk.maxIpsPerToken` addresses in its window.
 * Signal details never contain addresses, countries or device ids.
 *
 * `assess` rejects with the store's `StoreError` on a fault (the engine fails closed for routes that use
 * risk); `record` never rejects: it is for routes that do not use risk, so their answers never depend on
 * the risk store, while velocity and travel still see all of the subject's traffic. Its faults are
 * counted and logged (throttled); it is bounded by `maxInFlight`.
 *
 * @throws TypeError when `maxInFlight` is not a positive integer.
 */
export function createRiskEvaluator(deps: RiskEvaluatorDeps, options: RiskEvaluatorOptions): ContinuousRiskEvaluator {
  const { store } = deps;
  const { risk, context } = options;
  const clock = deps.clock ?? Date.now;
  const maxInFlight = options.maxInFlight ?? 1000;
  if (!Number.isInteger(maxInFlight) || maxInFlight <= 0) throw new TypeError('risk maxInFlight must be a positive integer');
  const faultLogIntervalMs = options.faultLogIntervalMs ?? 30_000;
  const limits: RiskLimits = {
    stateTtlMs: risk.stateTtlMs,
    velocityWindowMs: risk.velocityWindowMs,
    tokenIpWindowMs: risk.tokenIpWindowMs,
  };
  const countryHeader = context.countryHeader;
  const deviceHeaders = [...context.deviceHeaders];
  const { weights } = risk;
  const travelMinutes = Math.round(risk.impossibleTravelMs / 60_000);
  const velocityWindowS = Math.round(risk.velocityWindowMs / 1000);

  let inFlight = 0;
  let recorded = 0;
  let failed = 0;
  let dropped = 0;
  let lastFaultLogAt = Number.NEGATIVE_INFINITY;
  let faultsSinceLog = 0;

  const observe = (ctx: RequestContext, principal: Principal, now: number): RiskObservation => {
    const country = countryOf(ctx, countryHeader);
    const deviceId = deviceIdOf(ctx, deviceHeaders);
    return {
      now,
      ip: ctx.sourceAddress,
      ...(country !== undefined ? { country } : {}),
      ...(deviceId !== undefined ? { deviceId } : {}),
      tokenId: principal.tokenId,
    };
  };

  const signalsOf = (o: RiskObservation, s: RiskSnapshot): RiskAssessment => {
    const signals: RiskSignal[] = [];
    if (o.deviceId !== undefined && !s.knownDevice && !s.firstSeen) {
      signals.push({ name: 'new_device', weight: weights.new_device, detail: 'a device not seen before for this subject' });
    }
    if (o.country !== undefined && s.lastCountry !== undefined && o.country !== s.lastCountry) {
      signals.push({ name: 'country_change', weight: weights.country_change, detail: 'the country differs from the last request' });
      const elapsed = s.lastCountryAt === undefined ? Number.POSITIVE_INFINITY : o.now - s.lastCountryAt;
      if (elapsed < risk.impossibleTravelMs) {
        signals.push({
          name: 'impossible_travel',
          weight: weights.impossible_travel,
          detail: `country changed ${Math.max(0, Math.round(elapsed / 60_000))} min after the last sighting (limit ${travelMinutes} min)`,
        });
      }
    }
    if (s.velocityCount > risk.velocityMax) {
      signals.push({
        name: 'velocity',
        weight: weights.velocity,
        detail: `${s.velocityCount} requests within ${velocityWindowS} s (max ${risk.velocityMax})`,
      });
    }
    if (s.distinctIpsForToken > risk.maxIpsPerToken) {
      signals.push({
        name: 'too_many_ips',
        weight: weights.too_many_ips,
        detail: `token used from ${s.distinctIpsForToken} addresses within its window (max ${risk.maxIpsPerToken})`,
      });
    }
    let score = 0;
    for (const signal of signals) score += signal.weight;
    return { score: Math.min(100, score), signals };
  };

  const onRecordFault = (err: unknown): void => {
    failed += 1;
    faultsSinceLog += 1;
    const at = clock();
    if (deps.logger === undefined || at - lastFaultLogAt < faultLogIntervalMs) return;
    lastFaultLogAt = at;
    deps.logger.warn(
      { err: err instanceof Error ? err.message : String(err), failures: faultsSinceLog },
      'risk activity could not be recorded; risk signals may be incomplete',
    );
    faultsSinceLog = 0;
  };

  return {
    async assess(ctx, principal, now) {
      const o = observe(ctx, principal, now);
      const snapshot = await store.recordActivity(principal.subject, o, limits);
      return signalsOf(o, snapshot);
    },
    record(ctx, principal, now) {
      if (inFlight >= maxInFlight) {
        dropped += 1;
        return;
      }
      inFlight += 1;
      let pending: Promise<unknown>;
      try {
        pending = store.recordActivity(principal.subject, observe(ctx, principal, now), limits);
      } catch (err) {
        pending = Promise.reject(err);
      }
      pending.then(
        () => {
          inFlight -= 1;
          recorded += 1;
        },
        (err: unknown) => {
          inFlight -= 1;
          onRecordFault(err);
        },
      );
    },
    stats: () => ({ recorded, failed, dropped }),
  };
}

/** The trusted country header as an upper-case alpha-2 code, or undefined when absent or not one. */
function countryOf(ctx: RequestContext, header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const raw = ctx.headers[header];
  if (raw === undefined) return undefined;
  const code = raw.trim().toUpperCase();
  return COUNTRY.test(code) ? code : undefined;
}

/**
 * SHA-256 over the configured device headers (name and value of each, in config order), or undefined
 * when none of them is present. Only the hash is ever stored.
 */
function deviceIdOf(ctx: RequestContext, headers: readonly string[]): string | undefined {
  if (headers.length === 0) return undefined;
  let hash: ReturnType<typeof createHash> | undefined;
  for (const name of headers) {
    const value = ctx.headers[name];
    if (value === undefined) continue;
    hash ??= createHash('sha256');
    // Length-prefixed so that ("ab","c") and ("a","bc") never hash alike.
    hash.update(`${name.length}:${name}${value.length}:${value}\n`);
  }
  return hash?.digest('hex').slice(0, 32);
}
