import type { IdgateConfig } from '../config/types.js';
import type { DenyCode } from '../core/deny-code.js';
import type { RequestContext } from '../core/request-context.js';

/** Why a trusted context header cannot be believed; the policy denies with `code`. */
export interface ContextHeaderFault {
  readonly code: Extract<DenyCode, 'country_denied' | 'device_denied'>;
  /** Names the header, never its value. */
  readonly message: string;
}

/** Checks one request's trusted context headers; undefined when every one present is well-formed. */
export type ContextHeaderGuard = (ctx: RequestContext) => ContextHeaderFault | undefined;

const COUNTRY = /^[A-Za-z]{2}$/;

/**
 * Compiles the guard over the headers the policy trusts as request context: `context.countryHeader`,
 * `context.deviceHeaders` and every header a `device` condition reads.
 *
 * A trusted header is set by the edge (a geoip filter, a device-posture proxy), so a value that is not one
 * well-formed value means a client copy got past the edge or the edge is broken. Either way idgate cannot
 * say what the value is, and a deny list must not be slipped by `US,KP` (Envoy and the HTTP mode join
 * repeated headers with `,`). Rules, for a header that is present and not empty (absent or empty is
 * "unknown", as before):
 * - the country header: exactly one ISO 3166-1 alpha-2 code (surrounding spaces allowed) → else
 *   `country_denied`;
 * - a device header: no `,` (one value) → else `device_denied`; a header that `device` conditions only
 *   compare with booleans (`"true"`, `false`…) must be exactly `true` or `false` → else `device_denied`.
 */
export function compileContextHeaderGuard(config: IdgateConfig): ContextHeaderGuard {
  const country = config.context.countryHeader?.toLowerCase();
  const device = new Map<string, { boolean: boolean }>();
  for (const name of config.context.deviceHeaders) device.set(name.toLowerCase(), { boolean: false });
  const conditionHeaders = new Map<string, boolean>();
  for (const route of config.policy.routes) {
    for (const condition of route.conditions) {
      const test = condition.when;
      if (test.kind !== 'device' || test.header === undefined) continue;
      const name = test.header.toLowerCase();
      conditionHeaders.set(name, (conditionHeaders.get(name) ?? true) && comparesBooleansOnly(test.test));
    }
  }
  for (const [name, boolean] of conditionHeaders) {
    // A header listed in deviceHeaders as well stays free-form only if no condition reads it as a flag.
    device.set(name, { boolean });
  }
  if (country === undefined && device.size === 0) return () => undefined;
  const devices = [...device.entries()].filter(([name]) => name !== country);

  return (ctx) => {
    const headers = ctx.headers;
    if (country !== undefined) {
      const value = headers[country];
      if (value !== undefined && value.trim() !== '' && !COUNTRY.test(value.trim())) {
        return { code: 'country_denied', message: `the ${country} header is not exactly one ISO 3166-1 alpha-2 country code` };
      }
    }
    for (const [name, rule] of devices) {
      const value = headers[name];
      if (value === undefined || value.trim() === '') continue;
      if (value.includes(',')) return { code: 'device_denied', message: `the ${name} header carries more than one value` };
      if (rule.boolean) {
        const v = value.trim();
        if (v !== 'true' && v !== 'false') return { code: 'device_denied', message: `the ${name} header is not true or false` };
      }
    }
    return undefined;
  };
}

function comparesBooleansOnly(test: Readonly<Record<string, unknown>>): boolean {
  const values: unknown[] = [];
  if ('equals' in test) values.push(test['equals']);
  else if ('notEquals' in test) values.push(test['notEquals']);
  else if ('oneOf' in test && Array.isArray(test['oneOf'])) values.push(...(test['oneOf'] as unknown[]));
  else return false;
  return values.length > 0 && values.every((v) => v === true || v === false || v === 'true' || v === 'false');
}
