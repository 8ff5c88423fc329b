import type { IssuerStatus } from '../identity/authenticator.js';
import type { ReadinessCheck, ReadinessReport } from './admin-server.js';

/** This process's readiness for `/readyz`, and the switch shutdown flips first. */
export interface Readiness {
  /** What `/readyz` reports now (pings the store). */
  report(): Promise<ReadinessReport>;
  /** Shutdown started: report not ready from now on, so load balancers stop sending traffic. */
  setDraining(): void;
}

/**
 * Readiness reflects this process only. Redis or an IdP being down is reported, not fatal: the routes that
 * need them answer 503 while everything else keeps being decided correctly — so only draining makes the
 * process not ready. Each report pings the store and records the result (`onStore`, the dependency gauge).
 * `issuers` is read per report: a reload that swaps the authenticator is reported at once.
 */
export function createReadiness(deps: {
  ping: () => Promise<boolean>;
  onStore?: (up: boolean) => void;
  issuers?: () => readonly IssuerStatus[];
  /** Whether other replicas' verdict invalidations are arriving (false: the verdict cache is bypassed). */
  invalidationsLive?: () => boolean;
}): Readiness {
  let draining = false;
  return {
    async report() {
      const checks: Record<string, ReadinessCheck> = {};
      checks.process = { ok: !draining, ...(draining ? { detail: 'draining' } : {}) };
      const storeUp = await deps.ping();
      deps.onStore?.(storeUp);
      checks.store = { ok: storeUp };
      if (deps.invalidationsLive !== undefined) {
        const live = deps.invalidationsLive();
        checks.invalidations = { ok: live, ...(live ? {} : { detail: 'not subscribed; verdict cache bypassed' }) };
      }
      for (const issuer of deps.issuers?.() ?? []) {
        checks[`issuer:${issuer.name}`] = { ok: issuer.keysLoaded, ...(issuer.lastError ? { detail: issuer.lastError } : {}) };
      }
      return { ready: !draining, checks };
    },
    setDraining() {
      draining = true;
    },
  };
}
