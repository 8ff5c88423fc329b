import { z } from 'zod';
import { DENY_CODES, type DenyCode } from '../core/deny-code.js';
import type { CelCompiler, CelProgram } from '../cel/compile-cel.js';
import type { RiskSignalName } from '../core/risk-assessment.js';
import { describeType } from './duration.js';
import {
  checkNetwork,
  durationJsonSchema,
  durationKeys,
  fail,
  headerName,
  pickDuration,
  SCALAR_JSON_SCHEMA,
  singleKeyJsonSchema,
  type Ctx,
} from './schema-helpers.js';
import { didYouMean } from '../core/suggest.js';
import { checkPrincipalPattern } from './spiffe-id.js';
import type {
  ConditionConfig,
  ConditionEffect,
  ConditionTest,
  PostureComparison,
  RiskBand,
  TimeWindow,
} from './types.js';

/** The deny codes a condition or risk band may answer with (all 403). */
export const CONDITION_DENY_CODES = [
  'network_denied', 'country_denied', 'time_denied', 'device_denied', 'condition_denied', 'risk_denied', 'route_denied', 'claims_mismatch',
] as const satisfies readonly DenyCode[];

/** The code `then: deny` stands for, per kind of test. */
export const DEFAULT_DENY_CODE: Readonly<Record<ConditionTest['kind'], DenyCode>> = {
  sourceIp: 'network_denied',
  country: 'country_denied',
  principal: 'condition_denied',
  time: 'time_denied',
  device: 'device_denied',
  risk: 'risk_denied',
  cel: 'condition_denied',
};

const TEST_KINDS = ['sourceIp', 'country', 'principal', 'time', 'device', 'risk', 'cel'] as const;
const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
type Day = (typeof DAYS)[number];
const COMPARISONS = ['equals', 'notEquals', 'oneOf', 'atLeast', 'atMost', 'present'] as const;
const CONDITION_NAME_RE = /^[A-Za-z0-9_.-]+$/;
const WORKFLOW_RE = /^[a-z0-9_-]+$/;
const MAX_LIST = 10_000;
const MAX_MESSAGE = 200;

type Obj = Record<string, unknown>;

function asMapping(value: unknown): Obj | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Obj) : undefined;
}

/** The one key of a single-key mapping, or an issue. */
function singleKey(ctx: Ctx, value: unknown, allowed: readonly string[], what: string): [string, unknown] | undefined {
  const o = asMapping(value);
  if (o === undefined) {
    fail(ctx, `expected a mapping with one of: ${allowed.join(', ')}; got ${describeType(value)}`);
    return undefined;
  }
  const keys = Object.keys(o);
  const [key] = keys;
  if (keys.length !== 1 || key === undefined) {
    fail(ctx, `use exactly one ${what}: ${allowed.join(', ')}${keys.length > 1 ? ` (found: ${keys.join(', ')})` : ''}`);
    return undefined;
  }
  if (!allowed.includes(key)) {
    fail(ctx, `unknown ${what} "${key}"${didYouMean(key, allowed)}; use one of: ${allowed.join(', ')}`, [key]);
    return undefined;
  }
  return [key, o[key]];
}

/** Keys of `o` outside `allowed` are reported (with a suggestion) and make the result false. */
function onlyKeys(ctx: Ctx, o: Obj, allowed: readonly string[], path: PropertyKey[]): boolean {
  let ok = true;
  for (const key of Object.keys(o)) {
    if (!allowed.includes(key)) {
      fail(ctx, `unknown key "${key}"${didYouMean(key, allowed)}`, [...path, key]);
      ok = false;
    }
  }
  return ok;
}

/** A non-empty list (or one string) of strings, each checked; undefined when absent; issues reported. */
function checkedList(ctx: Ctx, value: unknown, path: PropertyKey[], check: (s: string) => string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const items: unknown[] = Array.isArray(value) ? value : [value];
  if (items.length === 0) {
    fail(ctx, 'must have at least 1 item', path);
    return undefined;
  }
  if (items.length > MAX_LIST) {
    fail(ctx, `must have at most ${MAX_LIST} items`, path);
    return undefined;
  }
  const out: string[] = [];
  items.forEach((item, i) => {
    const at = Array.isArray(value) ? [...path, i] : path;
    if (typeof item !== 'string' || item === '') {
      fail(ctx, typeof item === 'string' ? 'must not be empty' : `expected a string, got ${describeType(item)}`, at);
      return;
    }
    const problem = check(item);
    if (problem !== undefined) fail(ctx, problem, at);
    else out.push(item);
  });
  return out;
}

/** `in` / `notIn` lists (at least one). */
function inNotIn(
  ctx: Ctx,
  value: unknown,
  kind: 'sourceIp' | 'country' | 'principal',
  check: (s: string) => string | undefined,
): { in?: string[]; notIn?: string[] } | undefined {
  const o = asMapping(value);
  if (o === undefined) {
    fail(ctx, `expected { in: [...] } and/or { notIn: [...] }, got ${describeType(value)}`, [kind]);
    return undefined;
  }
  if (!onlyKeys(ctx, o, ['in', 'notIn'], [kind])) return undefined;
  if (o['in'] === undefined && o['notIn'] === undefined) {
    fail(ctx, 'set in, notIn or both', [kind]);
    return undefined;
  }
  const inList = checkedList(ctx, o['in'], [kind, 'in'], check);
  const notInList = checkedList(ctx, o['notIn'], [kind, 'notIn'], check);
  return { ...(inList !== undefined ? { in: inList } : {}), ...(notInList !== undefined ? { notIn: notInList } : {}) };
}

/**
 * ISO 3166-1 alpha-2: two upper-case letters that ICU knows as a region (also the exceptionally reserved
 * `EU`, `UK`), plus `XX`, which CDNs and geoip databases send for "unknown".
 */
function countryChecker(): (s: string) => string | undefined {
  // Built on the first country code, not with the schema: constructing it maps ~4.5 MiB of ICU's locale data
  // into the process (RSS, issue 15 §3), and every config load builds this schema, most without a country test.
  let names: Intl.DisplayNames | undefined;
  return (s) => {
    if (!/^[A-Za-z]{2}$/.test(s)) return `"${s}" is not a country code: use ISO 3166-1 alpha-2 (two letters, e.g. ES)`;
    if (s !== s.toUpperCase()) return `country codes are upper-case: "${s.toUpperCase()}", not "${s}"`;
    names ??= new Intl.DisplayNames(['en'], { type: 'region', fallback: 'code' });
    if (s !== 'XX' && names.of(s) === s) return `unknown country code "${s}" (ISO 3166-1 alpha-2, e.g. ES, PT, US)`;
    return undefined;
  };
}

/** Accepts what `Intl.DateTimeFormat` accepts (IANA names and their aliases, case-insensitively). */
function timeZoneChecker(): (s: string) => string | undefined {
  return (s) => {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: s });
      return undefined;
    } catch {
      const known = [...Intl.supportedValuesOf('timeZone'), 'UTC'];
      return `unknown time zone "${s}"${didYouMean(s, known)} (an IANA name such as Europe/Madrid or UTC)`;
    }
  };
}

const HOURS_RE = /^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$/;

/** `"08:00-18:00"` → minutes; `24:00` only as the end; equal ends are an empty window. */
function parseHours(text: string): { fromMinute: number; toMinute: number } | string {
  const m = HOURS_RE.exec(text);
  if (m === null) return `invalid hours "${text}": use "HH:MM-HH:MM", e.g. "08:00-18:00" (a window may wrap midnight: "22:00-06:00")`;
  const [h1, m1, h2, m2] = [Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4])];
  if (h1 > 23 || m1 > 59) return `invalid hours "${text}": the start must be 00:00..23:59`;
  if (h2 > 24 || m2 > 59 || (h2 === 24 && m2 !== 0)) return `invalid hours "${text}": the end must be 00:00..24:00`;
  const fromMinute = h1 * 60 + m1;
  const toMinute = h2 * 60 + m2;
  if (fromMinute === toMinute) {
    return `invalid hours "${text}": the window is empty (start equals end); omit hours for the whole day`;
  }
  return { fromMinute, toMinute };
}

/** `[mon, tue]`, `[mon-fri]` or `mon-fri`; empty/absent = every day. */
function parseDays(ctx: Ctx, value: unknown, path: PropertyKey[]): Day[] | undefined {
  if (value === undefined) return [];
  const items: unknown[] = Array.isArray(value) ? value : [value];
  const out = new Set<Day>();
  let ok = true;
  items.forEach((item, i) => {
    const at = Array.isArray(value) ? [...path, i] : path;
    if (typeof item !== 'string') {
      fail(ctx, `expected a day (mon..sun) or a range (mon-fri), got ${describeType(item)}`, at);
      ok = false;
      return;
    }
    const parts = item.toLowerCase().split('-').map((p) => p.trim());
    const idx = parts.map((p) => DAYS.indexOf(p as Day));
    if (parts.length > 2 || idx.some((n) => n < 0)) {
      const bad = parts.find((p) => !DAYS.includes(p as Day)) ?? item;
      fail(ctx, `unknown day "${bad}"${didYouMean(bad, DAYS)}; use mon, tue, wed, thu, fri, sat, sun or a range like mon-fri`, at);
      ok = false;
      return;
    }
    const [a = 0, b = a] = idx;
    // A range may wrap the week: fri-mon = fri, sat, sun, mon.
    for (let d = a; ; d = (d + 1) % 7) {
      out.add(DAYS[d] as Day);
      if (d === b) break;
    }
  });
  return ok ? DAYS.filter((d) => out.has(d)) : undefined;
}

function timeWindow(ctx: Ctx, value: unknown, path: PropertyKey[], checkZone: (s: string) => string | undefined): TimeWindow | undefined {
  const o = asMapping(value);
  if (o === undefined) {
    fail(ctx, `expected { days, hours, timeZone }, got ${describeType(value)}`, path);
    return undefined;
  }
  if (!onlyKeys(ctx, o, ['days', 'hours', 'timeZone'], path)) return undefined;
  const days = parseDays(ctx, o['days'], [...path, 'days']);
  let minutes: { fromMinute: number; toMinute: number } | undefined = { fromMinute: 0, toMinute: 1440 };
  const hours = o['hours'];
  if (hours !== undefined) {
    const parsed = typeof hours === 'string' ? parseHours(hours) : `expected "HH:MM-HH:MM", got ${describeType(hours)}`;
    if (typeof parsed === 'string') {
      fail(ctx, parsed, [...path, 'hours']);
      minutes = undefined;
    } else {
      minutes = parsed;
    }
  }
  const zone = o['timeZone'];
  let timeZone: string | undefined;
  if (typeof zone !== 'string' || zone === '') {
    fail(ctx, zone === undefined ? 'timeZone is required (an IANA name such as Europe/Madrid or UTC)' : `expected a time zone name, got ${describeType(zone)}`, zone === undefined ? path : [...path, 'timeZone']);
  } else {
    const problem = checkZone(zone);
    if (problem !== undefined) fail(ctx, problem, [...path, 'timeZone']);
    else timeZone = zone;
  }
  if (days === undefined || minutes === undefined || timeZone === undefined) return undefined;
  return { days, ...minutes, timeZone };
}

function isScalar(v: unknown): v is string | number | boolean {
  return typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
}

function postureTest(ctx: Ctx, o: Obj, path: PropertyKey[]): PostureComparison | undefined {
  const present = COMPARISONS.filter((k) => o[k] !== undefined);
  if (present.length !== 1) {
    fail(ctx, `use exactly one comparison: ${COMPARISONS.join(', ')}${present.length > 1 ? ` (found: ${present.join(', ')})` : ''}`, path);
    return undefined;
  }
  const key = present[0] as (typeof COMPARISONS)[number];
  const arg = o[key];
  const at = [...path, key];
  switch (key) {
    case 'equals':
      return isScalar(arg) ? { equals: arg } : fail(ctx, 'expected a string, number or boolean', at);
    case 'notEquals':
      return isScalar(arg) ? { notEquals: arg } : fail(ctx, 'expected a string, number or boolean', at);
    case 'oneOf':
      return Array.isArray(arg) && arg.length > 0 && arg.length <= MAX_LIST && arg.every(isScalar)
        ? { oneOf: arg }
        : fail(ctx, 'expected a non-empty list of strings, numbers or booleans', at);
    case 'atLeast':
      return (typeof arg === 'string' && arg !== '') || (typeof arg === 'number' && Number.isFinite(arg))
        ? { atLeast: arg }
        : fail(ctx, 'expected a number or a version string (e.g. "14.2")', at);
    case 'atMost':
      return (typeof arg === 'string' && arg !== '') || (typeof arg === 'number' && Number.isFinite(arg))
        ? { atMost: arg }
        : fail(ctx, 'expected a number or a version string (e.g. "14.2")', at);
    case 'present':
      return typeof arg === 'boolean' ? { present: arg } : fail(ctx, 'expected true or false', at);
    default: {
      const never: never = key;
      return fail(ctx, `unknown comparison ${String(never)}`, at);
    }
  }
}

function deviceTest(ctx: Ctx, value: unknown): ConditionTest | undefined {
  const o = asMapping(value);
  const path = ['device'];
  if (o === undefined) {
    fail(ctx, `expected { header | claim, <comparison> }, got ${describeType(value)}`, path);
    return undefined;
  }
  if (!onlyKeys(ctx, o, ['header', 'claim', ...COMPARISONS], path)) return undefined;
  const sources = ['header', 'claim'].filter((k) => o[k] !== undefined);
  if (sources.length !== 1) {
    fail(ctx, sources.length === 0 ? 'set header (a trusted request header) or claim (a token claim)' : 'set either header or claim, not both', path);
    return undefined;
  }
  const test = postureTest(ctx, o, path);
  if (o['header'] !== undefined) {
    const h = headerName().safeParse(o['header']);
    if (!h.success) return fail(ctx, 'not a valid header name', [...path, 'header']);
    return test === undefined ? undefined : { kind: 'device', header: h.data, test };
  }
  const claim = o['claim'];
  if (typeof claim !== 'string' || claim === '') return fail(ctx, 'expected a claim name (dotted paths allowed, e.g. device.os_version)', [...path, 'claim']);
  return test === undefined ? undefined : { kind: 'device', claim, test };
}

function conditionTest(ctx: Ctx, value: unknown, cel: CelCompiler, checks: Checks): ConditionTest | undefined {
  const entry = singleKey(ctx, value, TEST_KINDS, 'test');
  if (entry === undefined) return undefined;
  const [key, arg] = entry as [(typeof TEST_KINDS)[number], unknown];
  switch (key) {
    case 'sourceIp': {
      const lists = inNotIn(ctx, arg, key, checkNetwork);
      return lists === undefined ? undefined : { kind: 'sourceIp', ...lists };
    }
    case 'country': {
      const lists = inNotIn(ctx, arg, key, checks.country);
      return lists === undefined ? undefined : { kind: 'country', ...lists };
    }
    case 'principal': {
      const lists = inNotIn(ctx, arg, key, checkPrincipalPattern);
      return lists === undefined ? undefined : { kind: 'principal', ...lists };
    }
    case 'time': {
      const w = singleKey(ctx, arg, ['within', 'outside'], 'time window');
      if (w === undefined) return undefined;
      const [which, windowValue] = w;
      const window = timeWindow(ctx, windowValue, ['time', which], checks.timeZone);
      if (window === undefined) return undefined;
      return which === 'within' ? { kind: 'time', within: window } : { kind: 'time', outside: window };
    }
    case 'device':
      return deviceTest(ctx, arg);
    case 'risk': {
      const o = asMapping(arg);
      if (o === undefined) return fail(ctx, `expected { scoreAtLeast: <number> }, got ${describeType(arg)}`, [key]);
      if (!onlyKeys(ctx, o, ['scoreAtLeast'], [key])) return undefined;
      const score = o['scoreAtLeast'];
      if (typeof score !== 'number' || !Number.isFinite(score) || score < 0) {
        return fail(ctx, score === undefined ? 'scoreAtLeast is required' : 'expected a number ≥ 0', score === undefined ? [key] : [key, 'scoreAtLeast']);
      }
      return { kind: 'risk', scoreAtLeast: score };
    }
    case 'cel': {
      if (typeof arg !== 'string') return fail(ctx, `expected a CEL expression (a string), got ${describeType(arg)}`, [key]);
      const compiled = cel.compile(arg);
      return compiled.ok ? celTest(arg, compiled.program) : fail(ctx, compiled.message, [key]);
    }
    default: {
      const never: never = key;
      return fail(ctx, `unknown test ${String(never)}`, [key]);
    }
  }
}

/** A `cel` test carrying its compiled program out of sight of the data (JSON, equality, deep freeze). */
function celTest(expression: string, program: CelProgram): ConditionTest {
  return Object.defineProperty({ kind: 'cel', expression }, 'program', { value: program, enumerable: false });
}

/** An effect as written; `deny` without a code takes the test's default code. */
type WrittenEffect = Exclude<ConditionEffect, { kind: 'deny' }> | { readonly kind: 'deny'; readonly code?: DenyCode; readonly message?: string };

const EFFECT_FORMS = 'allow, deny, { deny: <code>, message? } or { stepUp: <workflow>, maxAge? }';

function denyCode(ctx: Ctx, value: unknown, path: PropertyKey[]): DenyCode | undefined {
  if (typeof value !== 'string') return fail(ctx, `expected a deny code (${CONDITION_DENY_CODES.join(', ')}), got ${describeType(value)}`, path);
  if ((CONDITION_DENY_CODES as readonly string[]).includes(value)) return value as DenyCode;
  if ((DENY_CODES as readonly string[]).includes(value)) {
    return fail(ctx, `deny code "${value}" cannot be used by a condition; use one of: ${CONDITION_DENY_CODES.join(', ')}`, path);
  }
  return fail(ctx, `unknown deny code "${value}"${didYouMean(value, CONDITION_DENY_CODES)}; use one of: ${CONDITION_DENY_CODES.join(', ')}`, path);
}

const maxAgeSchema = () => z.object({ ...durationKeys('maxAge', 1000) });

const effectSchema = () => z.unknown().transform((value, ctx): WrittenEffect => {
  if (value === 'allow') return { kind: 'allow' };
  if (value === 'deny') return { kind: 'deny' };
  if (typeof value === 'string') return fail(ctx, `unknown effect "${value}"${didYouMean(value, ['allow', 'deny', 'stepUp'])}; use ${EFFECT_FORMS}`);
  const o = asMapping(value);
  if (o === undefined) return fail(ctx, `expected ${EFFECT_FORMS}, got ${describeType(value)}`);
  if (o['deny'] !== undefined && o['stepUp'] !== undefined) return fail(ctx, 'set either deny or stepUp, not both');
  if (o['deny'] !== undefined) {
    if (!onlyKeys(ctx, o, ['deny', 'message'], [])) return z.NEVER;
    const code = denyCode(ctx, o['deny'], ['deny']);
    const message = o['message'];
    if (message !== undefined && (typeof message !== 'string' || message.trim() === '' || message.length > MAX_MESSAGE)) {
      return fail(ctx, `expected a non-empty message of at most ${MAX_MESSAGE} characters`, ['message']);
    }
    if (code === undefined) return z.NEVER;
    return message === undefined ? { kind: 'deny', code } : { kind: 'deny', code, message };
  }
  if (o['stepUp'] !== undefined) {
    if (!onlyKeys(ctx, o, ['stepUp', 'maxAge', 'maxAgeMs'], [])) return z.NEVER;
    const workflow = o['stepUp'];
    if (typeof workflow !== 'string' || !WORKFLOW_RE.test(workflow)) return fail(ctx, 'expected a workflow name (a key of workflows)', ['stepUp']);
    const maxAge = maxAgeSchema().safeParse(o);
    if (!maxAge.success) {
      for (const issue of maxAge.error.issues) fail(ctx, issue.message, issue.path);
      return z.NEVER;
    }
    const maxAgeMs = pickDuration(maxAge.data, 'maxAge');
    return maxAgeMs === undefined ? { kind: 'step_up', workflow } : { kind: 'step_up', workflow, maxAgeMs };
  }
  const [first = ''] = Object.keys(o);
  return fail(ctx, `unknown effect "${first}"${didYouMean(first, ['deny', 'stepUp'])}; use ${EFFECT_FORMS}`, [first]);
}).meta({
  description: `What happens: ${EFFECT_FORMS}.`,
  anyOf: [
    { enum: ['allow', 'deny'] },
    {
      type: 'object',
      properties: { deny: { enum: [...CONDITION_DENY_CODES] }, message: { type: 'string', minLength: 1, maxLength: MAX_MESSAGE } },
      required: ['deny'],
      additionalProperties: false,
    },
    {
      type: 'object',
      properties: { stepUp: { type: 'string', pattern: WORKFLOW_RE.source }, maxAge: durationJsonSchema('s'), maxAgeMs: durationJsonSchema('ms') },
      required: ['stepUp'],
      additionalProperties: false,
    },
  ],
});

/** JSON Schema of a written string list: one string or a list of them. */
const LIST_JSON_SCHEMA = {
  anyOf: [{ type: 'string', minLength: 1 }, { type: 'array', minItems: 1, maxItems: MAX_LIST, items: { type: 'string', minLength: 1 } }],
};
const IN_NOT_IN_JSON_SCHEMA = {
  type: 'object',
  properties: { in: LIST_JSON_SCHEMA, notIn: LIST_JSON_SCHEMA },
  minProperties: 1,
  additionalProperties: false,
};
const TIME_WINDOW_JSON_SCHEMA = {
  type: 'object',
  properties: {
    days: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }], description: 'mon..sun or a range such as mon-fri; absent = every day' },
    hours: { type: 'string', pattern: HOURS_RE.source, description: '"HH:MM-HH:MM", e.g. "08:00-18:00" (may wrap midnight)' },
    timeZone: { type: 'string', minLength: 1, description: 'An IANA time zone such as Europe/Madrid or UTC' },
  },
  required: ['timeZone'],
  additionalProperties: false,
};
const VERSION_OR_NUMBER_JSON_SCHEMA = { anyOf: [{ type: 'number' }, { type: 'string', minLength: 1 }] };

/** JSON Schema of a condition's `when:` (what {@link conditionTest} parses), for `idgate schema`. */
const CONDITION_TEST_JSON_SCHEMA = {
  description: 'Exactly one test: sourceIp, country, principal, time, device, risk or cel.',
  oneOf: [
    singleKeyJsonSchema('sourceIp', IN_NOT_IN_JSON_SCHEMA),
    singleKeyJsonSchema('country', IN_NOT_IN_JSON_SCHEMA),
    singleKeyJsonSchema('principal', IN_NOT_IN_JSON_SCHEMA),
    singleKeyJsonSchema('time', {
      oneOf: [singleKeyJsonSchema('within', TIME_WINDOW_JSON_SCHEMA), singleKeyJsonSchema('outside', TIME_WINDOW_JSON_SCHEMA)],
    }),
    singleKeyJsonSchema('device', {
      type: 'object',
      properties: {
        header: { type: 'string', minLength: 1 },
        claim: { type: 'string', minLength: 1 },
        equals: SCALAR_JSON_SCHEMA,
        notEquals: SCALAR_JSON_SCHEMA,
        oneOf: { type: 'array', minItems: 1, maxItems: MAX_LIST, items: SCALAR_JSON_SCHEMA },
        atLeast: VERSION_OR_NUMBER_JSON_SCHEMA,
        atMost: VERSION_OR_NUMBER_JSON_SCHEMA,
        present: { type: 'boolean' },
      },
      oneOf: [{ required: ['header'] }, { required: ['claim'] }],
      additionalProperties: false,
    }),
    singleKeyJsonSchema('risk', {
      type: 'object',
      properties: { scoreAtLeast: { type: 'number', minimum: 0 } },
      required: ['scoreAtLeast'],
      additionalProperties: false,
    }),
    singleKeyJsonSchema('cel', { type: 'string', description: 'A CEL expression that must be true' }),
  ],
};

function withCode(effect: WrittenEffect, fallback: DenyCode): ConditionEffect {
  if (effect.kind !== 'deny' || effect.code !== undefined) return effect as ConditionEffect;
  return { ...effect, code: fallback };
}

interface Checks {
  readonly country: (s: string) => string | undefined;
  readonly timeZone: (s: string) => string | undefined;
}

/**
 * A route's `conditions:` list: `{ name, when: { <one test> }, then: <effect> }` each, names unique per
 * route (checked in cross-check). CEL expressions are compiled with `cel` so syntax and reference errors
 * are load errors. `then: deny` takes the test's default code ({@link DEFAULT_DENY_CODE}).
 */
export function conditionListSchema(cel: CelCompiler) {
  const checks: Checks = { country: countryChecker(), timeZone: timeZoneChecker() };
  const condition = z
    .strictObject({
      name: z.string().regex(CONDITION_NAME_RE, { error: 'must match [A-Za-z0-9_.-]+' }),
      when: z.unknown().transform((value, ctx): ConditionTest => conditionTest(ctx, value, cel, checks) ?? z.NEVER).meta(CONDITION_TEST_JSON_SCHEMA),
      then: effectSchema(),
    })
    .transform((o): ConditionConfig => ({ name: o.name, when: o.when, then: withCode(o.then, DEFAULT_DENY_CODE[o.when.kind]) }));
  return z.array(condition).max(100);
}

/**
 * A route's `risk:` bands: `{ atLeast: <score>, then: <effect> }`, sorted highest first; `then: deny`
 * means `risk_denied`. Two bands with the same threshold are an error.
 */
export const riskBandListSchema = () => z
  .array(
    z
      .strictObject({ atLeast: z.number().min(0).max(10_000), then: effectSchema() })
      .transform((o): RiskBand => ({ atLeast: o.atLeast, then: withCode(o.then, 'risk_denied') })),
  )
  .max(20)
  .superRefine((bands, ctx) => {
    const seen = new Map<number, number>();
    bands.forEach((b, i) => {
      const first = seen.get(b.atLeast);
      if (first !== undefined) fail(ctx, `duplicate risk band atLeast ${b.atLeast} (first used by risk[${first}])`, [i, 'atLeast']);
      else seen.set(b.atLeast, i);
    });
  })
  .transform((bands): RiskBand[] => [...bands].sort((a, b) => b.atLeast - a.atLeast));

/**
 * Top-level `context:`: trusted request-context inputs. These headers are believed as Envoy sends them, so
 * the proxy must set (overwrite) them itself — e.g. Envoy's geoip filter or an edge CDN header — and never
 * pass a client's copy.
 */
export const contextSchema = () => z
  .strictObject({
    countryHeader: headerName().optional(),
    deviceHeaders: z.array(headerName()).max(16).default([]),
  })
  .transform((o) => ({
    /** Header carrying the client's ISO 3166-1 alpha-2 country (lower-case name), e.g. `x-geo-country`. */
    ...(o.countryHeader !== undefined ? { countryHeader: o.countryHeader } : {}),
    /** Headers whose values together fingerprint a device (hashed, never stored raw), e.g. `x-device-id`. */
    deviceHeaders: [...new Set(o.deviceHeaders)],
  }))
  .prefault({});

const weight = (fallback: number) => z.number().int().min(0).max(100).default(fallback);

/** Top-level `risk:` (what the risk stage records and how each signal is weighted). */
export const riskSchema = () => z
  .strictObject({
    enabled: z.boolean().default(false),
    weights: z
      .strictObject({
        new_device: weight(30),
        country_change: weight(40),
        impossible_travel: weight(60),
        velocity: weight(30),
        too_many_ips: weight(40),
      })
      .transform((o): Record<RiskSignalName, number> => o)
      .prefault({}),
    ...durationKeys('impossibleTravel', 60_000),
    velocity: z
      .strictObject({ ...durationKeys('window', 1000), max: z.number().int().min(1).max(1_000_000).default(300) })
      .prefault({}),
    tokenIps: z
      .strictObject({ ...durationKeys('window', 1000), max: z.number().int().min(1).max(1000).default(5) })
      .prefault({}),
    ...durationKeys('stateTtl', 60_000),
  })
  .transform((o) => ({
    /** Record activity and compute signals for authenticated requests (default false). */
    enabled: o.enabled,
    /** Weight each signal adds to the score (0..100 each; defaults new_device 30, country_change 40, impossible_travel 60, velocity 30, too_many_ips 40). */
    weights: o.weights,
    /** A country change faster than this is impossible travel (default 1 h). */
    impossibleTravelMs: pickDuration(o, 'impossibleTravel', 3_600_000),
    /** Velocity window and the most requests per subject allowed in it (default 1 min / 300). */
    velocityWindowMs: pickDuration(o.velocity, 'window', 60_000),
    velocityMax: o.velocity.max,
    /** Window and the most distinct source IPs one token may be used from (default 1 h / 5). */
    tokenIpWindowMs: pickDuration(o.tokenIps, 'window', 3_600_000),
    maxIpsPerToken: o.tokenIps.max,
    /** How long per-subject risk state is kept after the last request (default 30 d). */
    stateTtlMs: pickDuration(o, 'stateTtl', 30 * 86_400_000),
  }))
  .prefault({});
