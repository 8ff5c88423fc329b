import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { IdgateConfig } from '../config/types.js';
import { createDecisionLog, type DecisionLog } from '../observability/decision-log.js';
import { policyReads } from '../policy/policy-reads.js';

/**
 * The decision log for one configuration: its allow sample rate, the platform revision logged when an
 * outcome names none, and (with `logging.decisionReplay`) what the policy reads, for replay records. Built
 * at start and on every reload, so each line names the revision that decided it.
 */
export function buildDecisionLog(logger: Logger, config: IdgateConfig, configPath: string | undefined): DecisionLog {
  const revision = platformRevision(config, configPath);
  return createDecisionLog({
    logger,
    allowSampleRate: config.logging.allowSampleRate,
    ...(revision !== '' ? { revision: `platform@${revision}` } : {}),
    ...(config.logging.decisionReplay ? { replay: policyReads(config) } : {}),
  });
}

/**
 * `policy.revision` (first 12 hex of the sha256 of the platform file's bytes, issue #14) when the loader
 * provides it; until then the same digest of the file on disk, read here. Integrator: once
 * `config.policy.revision` exists, delete the fallback (a file rewritten between load and this read would
 * be hashed as the newer one; the next reload corrects it). `''` without a file.
 */
export function platformRevision(config: IdgateConfig, configPath: string | undefined): string {
  const loaded = (config.policy as { readonly revision?: unknown }).revision;
  if (typeof loaded === 'string' && loaded !== '') return loaded;
  if (configPath === undefined) return '';
  try {
    return createHash('sha256').update(readFileSync(configPath)).digest('hex').slice(0, 12);
  } catch {
    return '';
  }
}
