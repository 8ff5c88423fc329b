import type { PostureComparison } from '../config/types.js';

const VERSION_RE = /^v?\d{1,15}(?:\.\d{1,15}){0,15}$/i;
const NUMBER_RE = /^-?\d{1,15}(?:\.\d{1,15})?$/;

/**
 * Tests a device-posture value against a comparison. Never throws; a value of an unexpected type simply
 * does not satisfy the comparison.
 *
 * `source: 'header'`: the value is the header text (undefined when absent) and configured scalars compare
 * as text (`equals: true` matches the header `true`). `source: 'claim'`: JSON values compare strictly
 * (`true` ≠ `"true"`).
 *
 * Ordering (`atLeast`, `atMost`): numbers numerically (a header's numeric text counts as a number);
 * dotted versions segment by segment, missing segments as 0 (`14.2.1` ≥ `14.2`, `14.10` > `14.9`, an
 * optional leading `v`); other strings in code-unit order; anything else is incomparable (false).
 *
 * Absent values: `notEquals` and `present: false` hold; every other comparison fails — so a deny
 * condition on `notEquals` denies a request that lacks the header.
 */
export function comparePosture(value: unknown, test: PostureComparison, source: 'header' | 'claim'): boolean {
  const missing = value === undefined || value === null;
  const same = (expected: string | number | boolean): boolean =>
    !missing && (source === 'header' ? value === String(expected) : value === expected);
  if ('equals' in test) return same(test.equals);
  if ('notEquals' in test) return !same(test.notEquals);
  if ('oneOf' in test) return test.oneOf.some(same);
  if ('present' in test) return test.present ? !missing && value !== '' : missing || value === '';
  if ('atLeast' in test) {
    const c = compareOrdered(value, test.atLeast, source);
    return c !== undefined && c >= 0;
  }
  const c = compareOrdered(value, test.atMost, source);
  return c !== undefined && c <= 0;
}

/** Sign of `value - threshold`, or undefined when the two cannot be ordered. */
export function compareOrdered(value: unknown, threshold: string | number, source: 'header' | 'claim'): number | undefined {
  let v: unknown = value;
  if (source === 'header' && typeof v === 'string' && typeof threshold === 'number' && NUMBER_RE.test(v.trim())) v = Number(v.trim());
  if (typeof v === 'number' && typeof threshold === 'number') return Number.isFinite(v) ? Math.sign(v - threshold) : undefined;
  if (typeof v !== 'string' && typeof v !== 'number') return undefined;
  const a = String(v).trim();
  const b = String(threshold).trim();
  if (VERSION_RE.test(a) && VERSION_RE.test(b)) return compareVersions(a, b);
  if (typeof v === 'string' && typeof threshold === 'string') return a < b ? -1 : a > b ? 1 : 0;
  return undefined;
}

function compareVersions(a: string, b: string): number {
  const pa = a.replace(/^v/i, '').split('.').map(Number);
  const pb = b.replace(/^v/i, '').split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}
