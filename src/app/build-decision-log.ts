import type { Logger } from 'pino';
import type { IdgateConfig } from '../config/types.js';
import { createDecisionLog, type DecisionLog } from '../observability/decision-log.js';
import { policyReads } from '../policy/policy-reads.js';

/**
 * The decision log for one configuration: its allow sample rate, the platform revision logged when an
 * outcome names none, and (with `logging.decisionReplay`) what the policy reads, for replay records. Built
 * at start and on every reload, so each line names the revision that decided it.
 */
export function buildDecisionLog(logger: Logger, config: IdgateConfig): DecisionLog {
  // `policy.revision`: the loader's digest of the platform file; '' for a configuration parsed from text.
  const revision = config.policy.revision;
  return createDecisionLog({
    logger,
    allowSampleRate: config.logging.allowSampleRate,
    ...(revision !== '' ? { revision: `platform@${revision}` } : {}),
    ...(config.logging.decisionReplay ? { replay: policyReads(config) } : {}),
  });
}
