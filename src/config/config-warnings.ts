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
  // (`country` tests without the header are a load error; CEL can only be inspected by its text.)
  const readsCountry = config.policy.routes
    .filter((route) => route.conditions.some((c) => c.when.kind === 'cel' && COUNTRY_IN_CEL.test(c.when.expression)))
    .map((route) => route.id);
  if (config.context.countryHeader === undefined && readsCountry.length > 0) {
    // Nothing else would say so: `request.country` is then "" on every request, which a deny list lets
    // through silently.
    warnings.push({
      path: 'context.countryHeader',
      message:
        `is not set, but the CEL conditions of ${readsCountry.map((id) => `route ${id}`).join(', ')} read request.country: every request's ` +
        'country is then unknown (""), so a country deny list never fires; set it to a header your edge sets from the client ' +
        'address after removing client copies (envoy/README.md)',
    });
  }
  return warnings;
}

/** A CEL expression that reads the request's country. */
const COUNTRY_IN_CEL = /\brequest\s*\.\s*country\b|\brequest\s*\[\s*["']country["']\s*\]/;
