import type { IdgateConfig } from './types.js';

/** A valid but risky setting: reported by `idgate validate`, at start and on every reload. */
export interface ConfigWarning {
  readonly path: string;
  readonly message: string;
}

/** Pure: the warnings for a validated config (empty when there is nothing to flag). */
export function configWarnings(config: IdgateConfig): ConfigWarning[] {
  const warnings: ConfigWarning[] = [];
  if (config.policy.default === 'allow') {
    warnings.push({
      path: 'policy.default',
      message: 'is "allow": every request no route matches is let through unauthenticated (fail open); prefer "deny" and a public route',
    });
  }
  return warnings;
}
