import { z } from 'zod';
import { CidrError, compileCidr } from '../net/parse-cidr.js';
import { parseDuration } from './duration.js';

/** RFC 9110 `token`: what a header name may contain. */
export const HEADER_NAME_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** The refinement context zod hands to a `transform`. */
export type Ctx = z.core.$RefinementCtx;

/**
 * Reports a custom issue at `path` (relative to the value being transformed) and returns `z.NEVER`, so a
 * transform can `return fail(…)`.
 */
export function fail(ctx: Ctx, message: string, path: PropertyKey[] = []): typeof z.NEVER {
  ctx.addIssue({ code: 'custom', message, path: path as (string | number)[] });
  return z.NEVER;
}

/**
 * JSON Schema of a written duration (see `parseDuration`), for `idgate schema`: the shape only; the range
 * (at most 3650d, a key's minimum) is left to `idgate validate`.
 */
export function durationJsonSchema(unit: 's' | 'ms') {
  return {
    description: `A duration: 250ms, 30s, 5m, 1h30m, 7d, or a number of ${unit === 's' ? 'seconds' : 'milliseconds'}.`,
    anyOf: [
      { type: 'number', minimum: 0 },
      { type: 'string', pattern: '^\\s*(?:\\d+(?:\\.\\d+)?\\s*(?:ms|s|m|h|d)|(?:\\d+(?:\\.\\d+)?(?:ms|s|m|h|d))+)\\s*$' },
    ],
  };
}

/** A duration; `unit` says how a bare number is read (`s` for `timeout: 30`, `ms` for `timeoutMs: 150`). */
export function duration(unit: 's' | 'ms', min = 0) {
  return z
    .unknown()
    .transform((value, ctx): number | undefined => {
      if (value === undefined) return undefined;
      const ms = parseDuration(value, unit);
      if (typeof ms === 'string') return fail(ctx, ms);
      if (ms < min) return fail(ctx, min === 1 ? 'must be greater than 0' : `must be at least ${min} ms`);
      return ms;
    })
    .meta(durationJsonSchema(unit));
}

/** The two spellings of one duration key: `name` (number = seconds) and `nameMs` (number = milliseconds). */
export function durationKeys<N extends string>(name: N, min = 0) {
  const seconds = duration('s', min).optional();
  const millis = duration('ms', min).optional();
  return { [name]: seconds, [`${name}Ms`]: millis } as Record<N | `${N}Ms`, typeof seconds>;
}

/** The value of a duration pair written by {@link durationKeys}: `nameMs` or `name`, else `fallback`. */
export function pickDuration(o: Record<string, unknown>, name: string, fallback: number): number;
export function pickDuration(o: Record<string, unknown>, name: string, fallback?: number): number | undefined;
export function pickDuration(o: Record<string, unknown>, name: string, fallback?: number): number | undefined {
  const ms = o[`${name}Ms`] ?? o[name];
  return typeof ms === 'number' ? ms : fallback;
}

/** A header name, lower-cased (a new schema per call: see config-schema.ts on why none is module-level). */
export const headerName = () => z
  .string()
  .regex(HEADER_NAME_RE, { error: 'not a valid header name' })
  .transform((s) => s.toLowerCase());

/**
 * Checks a network (`10.0.0.0/8`, `2001:db8::/32`, a bare address) exactly as the request path will
 * compile it (`createCidrSet` in net/), so whatever loads also compiles: host bits must be zero, no zone ids.
 *
 * @returns undefined when usable, else the problem.
 */
export function checkNetwork(text: string): string | undefined {
  try {
    compileCidr(text, { exact: true });
    return undefined;
  } catch (err) {
    if (err instanceof CidrError) return err.message;
    throw err;
  }
}

/** JSON Schema of a scalar claim or posture value (what `isScalar` accepts), for `idgate schema`. */
export const SCALAR_JSON_SCHEMA = { type: ['string', 'number', 'boolean'] };

/** JSON Schema of a single-key mapping `{ key: <value> }` (matchers, tests, effects), for `idgate schema`. */
export function singleKeyJsonSchema(key: string, value: Record<string, unknown>): Record<string, unknown> {
  return { type: 'object', properties: { [key]: value }, required: [key], additionalProperties: false };
}
