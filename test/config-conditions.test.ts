import { describe, expect, it } from 'vitest';
import { ConfigError } from '../src/config/config-error.js';
import { parseConfig } from '../src/config/parse-config.js';

const HEAD = `issuers:
  - { name: corp, issuer: https://corp.example, audiences: [api], jwksUri: https://corp.example/jwks }
workflows: { liveness: { workflowId: wf-live, maxAge: 1d } }
didit: { mode: sandbox }
context: { countryHeader: x-geo-country }
risk: { enabled: true }
`;

function parse(text: string) {
  return parseConfig(text, { sourceName: 't.yaml', env: {} });
}

function errorOf(text: string): ConfigError {
  try {
    parse(text);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

function markedLine(text: string): number {
  const index = text.split('\n').findIndex((l) => l.includes('# <-'));
  if (index === -1) throw new Error('test YAML has no # <- marker');
  return index + 1;
}

/** A route `a` with the given condition lines (indented under `conditions:`). */
function route(conditions: string, extra = ''): string {
  return `${HEAD}policy:
  routes:
    - id: a
      match: { prefix: /a }
${extra}      conditions:
${conditions}`;
}

describe('context and risk sections', () => {
  it('fills the documented defaults', () => {
    const config = parse('');
    expect(config.context).toEqual({ deviceHeaders: [] });
    expect(config.risk).toEqual({
      enabled: false,
      weights: { new_device: 30, country_change: 40, impossible_travel: 60, velocity: 30, too_many_ips: 40 },
      impossibleTravelMs: 3_600_000,
      velocityWindowMs: 60_000,
      velocityMax: 300,
      tokenIpWindowMs: 3_600_000,
      maxIpsPerToken: 5,
      stateTtlMs: 30 * 86_400_000,
    });
  });

  it('reads every key, lower-casing header names and converting durations', () => {
    const config = parse(`
context: { countryHeader: X-Geo-Country, deviceHeaders: [X-Device-Id, user-agent, x-device-id] }
risk:
  enabled: true
  weights: { new_device: 10, velocity: 0 }
  impossibleTravel: 2h
  velocity: { window: 30s, max: 100 }
  tokenIps: { windowMs: 600000, max: 3 }
  stateTtl: 7d
`);
    expect(config.context).toEqual({ countryHeader: 'x-geo-country', deviceHeaders: ['x-device-id', 'user-agent'] });
    expect(config.risk).toEqual({
      enabled: true,
      weights: { new_device: 10, country_change: 40, impossible_travel: 60, velocity: 0, too_many_ips: 40 },
      impossibleTravelMs: 7_200_000,
      velocityWindowMs: 30_000,
      velocityMax: 100,
      tokenIpWindowMs: 600_000,
      maxIpsPerToken: 3,
      stateTtlMs: 7 * 86_400_000,
    });
  });

  it('builds the ICU region names only for a config with a country test (idle RSS, issue 15 §3)', () => {
    const Real = Intl.DisplayNames;
    // A counting subclass in place of the global (a Node built-in, not our code): the test reads how often
    // the schema constructs it.
    const intl = Intl as { DisplayNames: typeof Intl.DisplayNames };
    let built = 0;
    intl.DisplayNames = class extends Real {
      constructor(...args: ConstructorParameters<typeof Intl.DisplayNames>) {
        super(...args);
        built += 1;
      }
    };
    try {
      parse(route('        - { name: net, when: { sourceIp: { in: [10.0.0.0/8] } }, then: deny }\n'));
      expect(built).toBe(0);
      const config = parse(route('        - { name: geo, when: { country: { in: [ES, XX, PT] } }, then: deny }\n'));
      expect(config.policy.routes[0]?.conditions?.[0]?.when).toEqual({ kind: 'country', in: ['ES', 'XX', 'PT'] });
      // Once per config, not once per code.
      expect(built).toBe(1);
    } finally {
      intl.DisplayNames = Real;
    }
  });

  it('parses every condition form into the typed shape', () => {
    const config = parse(
      route(`        - { name: net, when: { sourceIp: { notIn: [10.0.0.0/8, "2001:db8::/32"] } }, then: deny }
        - { name: geo, when: { country: { in: [KP, IR] } }, then: { deny: country_denied, message: "not here" } }
        - name: hours
          when: { time: { outside: { days: [mon-fri], hours: "08:00-18:00", timeZone: Europe/Madrid } } }
          then: { stepUp: liveness, maxAge: 15m }
        - { name: night, when: { time: { within: { days: [fri-mon], hours: "22:00-06:00", timeZone: UTC } } }, then: allow }
        - { name: managed, when: { device: { header: X-Device-Managed, equals: "true" } }, then: allow }
        - { name: os, when: { device: { claim: device.os_version, atLeast: "14.2" } }, then: deny }
        - { name: risky, when: { risk: { scoreAtLeast: 50 } }, then: deny }
        - { name: del, when: { cel: 'request.method == "DELETE"' }, then: deny }
`, '      risk: [{ atLeast: 40, then: { stepUp: liveness, maxAgeMs: 60000 } }, { atLeast: 70, then: deny }]\n'),
    );
    const r = config.policy.routes[0];
    expect(r?.conditions).toEqual([
      { name: 'net', when: { kind: 'sourceIp', notIn: ['10.0.0.0/8', '2001:db8::/32'] }, then: { kind: 'deny', code: 'network_denied' } },
      { name: 'geo', when: { kind: 'country', in: ['KP', 'IR'] }, then: { kind: 'deny', code: 'country_denied', message: 'not here' } },
      {
        name: 'hours',
        when: { kind: 'time', outside: { days: ['mon', 'tue', 'wed', 'thu', 'fri'], fromMinute: 480, toMinute: 1080, timeZone: 'Europe/Madrid' } },
        then: { kind: 'step_up', workflow: 'liveness', maxAgeMs: 900_000 },
      },
      {
        name: 'night',
        when: { kind: 'time', within: { days: ['mon', 'fri', 'sat', 'sun'], fromMinute: 1320, toMinute: 360, timeZone: 'UTC' } },
        then: { kind: 'allow' },
      },
      { name: 'managed', when: { kind: 'device', header: 'x-device-managed', test: { equals: 'true' } }, then: { kind: 'allow' } },
      { name: 'os', when: { kind: 'device', claim: 'device.os_version', test: { atLeast: '14.2' } }, then: { kind: 'deny', code: 'device_denied' } },
      { name: 'risky', when: { kind: 'risk', scoreAtLeast: 50 }, then: { kind: 'deny', code: 'risk_denied' } },
      { name: 'del', when: { kind: 'cel', expression: 'request.method == "DELETE"' }, then: { kind: 'deny', code: 'condition_denied' } },
    ]);
    // Highest band first.
    expect(r?.riskBands).toEqual([
      { atLeast: 70, then: { kind: 'deny', code: 'risk_denied' } },
      { atLeast: 40, then: { kind: 'step_up', workflow: 'liveness', maxAgeMs: 60_000 } },
    ]);
  });

  it('defaults conditions and risk bands to none', () => {
    const config = parse(`${HEAD}policy:\n  routes:\n    - id: a\n`);
    expect(config.policy.routes[0]).toMatchObject({ conditions: [], riskBands: [] });
  });
});

interface ErrorCase {
  readonly name: string;
  readonly yaml: string;
  readonly path: string;
  readonly message: string | RegExp;
}

const cases: ErrorCase[] = [
  {
    name: 'invalid IPv4 CIDR (prefix too long)',
    yaml: route('        - { name: n, when: { sourceIp: { in: [10.0.0.0/33] } }, then: deny } # <-\n'),
    path: 'policy.routes[0].conditions[0].when.sourceIp.in[0]',
    message: 'invalid CIDR "10.0.0.0/33": prefix length must be 0..32',
  },
  {
    name: 'CIDR with host bits set',
    yaml: route('        - name: n\n          when: { sourceIp: { notIn: [192.168.1.1/16] } } # <-\n          then: deny\n'),
    path: 'policy.routes[0].conditions[0].when.sourceIp.notIn[0]',
    message: 'invalid CIDR "192.168.1.1/16": host bits set; did you mean 192.168.0.0/16?',
  },
  {
    name: 'invalid IPv6 CIDR',
    yaml: route('        - { name: n, when: { sourceIp: { in: ["2001:db8::g/32"] } }, then: deny } # <-\n'),
    path: 'policy.routes[0].conditions[0].when.sourceIp.in[0]',
    message: 'invalid CIDR "2001:db8::g/32": not an IPv4 or IPv6 address',
  },
  {
    name: 'sourceIp without in or notIn',
    yaml: route('        - { name: n, when: { sourceIp: {} }, then: deny } # <-\n'),
    path: 'policy.routes[0].conditions[0].when.sourceIp',
    message: 'set in, notIn or both',
  },
  {
    name: 'unknown key in a sourceIp test',
    yaml: route('        - { name: n, when: { sourceIp: { notin: [10.0.0.0/8] } }, then: deny } # <-\n'),
    path: 'policy.routes[0].conditions[0].when.sourceIp.notin',
    message: 'unknown key "notin" (did you mean "notIn"?)',
  },
  {
    name: 'lower-case country',
    yaml: route('        - { name: n, when: { country: { in: [es] } }, then: deny } # <-\n'),
    path: 'policy.routes[0].conditions[0].when.country.in[0]',
    message: 'country codes are upper-case: "ES", not "es"',
  },
  {
    name: 'unknown country',
    yaml: route('        - name: n\n          when:\n            country: { notIn: [ES, QQ] } # <-\n          then: deny\n'),
    path: 'policy.routes[0].conditions[0].when.country.notIn[1]',
    message: 'unknown country code "QQ" (ISO 3166-1 alpha-2, e.g. ES, PT, US)',
  },
  {
    name: 'a three-letter country',
    yaml: route('        - { name: n, when: { country: { in: [ESP] } }, then: deny } # <-\n'),
    path: 'policy.routes[0].conditions[0].when.country.in[0]',
    message: '"ESP" is not a country code: use ISO 3166-1 alpha-2 (two letters, e.g. ES)',
  },
  {
    name: 'country test without context.countryHeader',
    yaml: `${HEAD.replace('context: { countryHeader: x-geo-country }\n', '')}policy:
  routes:
    - id: a
      conditions:
        - name: n
          when:
            country: { in: [ES] } # <-
          then: deny
`,
    path: 'policy.routes[0].conditions[0].when.country',
    message: 'country tests need context.countryHeader (the trusted header carrying the client country)',
  },
  {
    name: 'unknown time zone, with a suggestion',
    yaml: route('        - { name: n, when: { time: { within: { timeZone: Europe/Madird } } }, then: deny } # <-\n'),
    path: 'policy.routes[0].conditions[0].when.time.within.timeZone',
    message: 'unknown time zone "Europe/Madird" (did you mean "Europe/Madrid"?) (an IANA name such as Europe/Madrid or UTC)',
  },
  {
    name: 'missing time zone',
    yaml: route('        - { name: n, when: { time: { within: { hours: "08:00-18:00" } } }, then: deny } # <-\n'),
    path: 'policy.routes[0].conditions[0].when.time.within',
    message: 'timeZone is required (an IANA name such as Europe/Madrid or UTC)',
  },
  {
    name: 'bad hours',
    yaml: route('        - name: n\n          when: { time: { outside: { hours: "8-18", timeZone: UTC } } } # <-\n          then: deny\n'),
    path: 'policy.routes[0].conditions[0].when.time.outside.hours',
    message: 'invalid hours "8-18": use "HH:MM-HH:MM", e.g. "08:00-18:00" (a window may wrap midnight: "22:00-06:00")',
  },
  {
    name: 'hours past 24:00',
    yaml: route('        - { name: n, when: { time: { outside: { hours: "08:00-24:30", timeZone: UTC } } }, then: deny } # <-\n'),
    path: 'policy.routes[0].conditions[0].when.time.outside.hours',
    message: 'invalid hours "08:00-24:30": the end must be 00:00..24:00',
  },
  {
    name: 'an empty window',
    yaml: route('        - { name: n, when: { time: { outside: { hours: "08:00-08:00", timeZone: UTC } } }, then: deny } # <-\n'),
    path: 'policy.routes[0].conditions[0].when.time.outside.hours',
    message: 'invalid hours "08:00-08:00": the window is empty (start equals end); omit hours for the whole day',
  },
  {
    name: 'unknown day',
    yaml: route('        - { name: n, when: { time: { within: { days: [mon, tues], timeZone: UTC } } }, then: deny } # <-\n'),
    path: 'policy.routes[0].conditions[0].when.time.within.days[1]',
    message: 'unknown day "tues" (did you mean "tue"?); use mon, tue, wed, thu, fri, sat, sun or a range like mon-fri',
  },
  {
    name: 'time test with both within and outside',
    yaml: route('        - { name: n, when: { time: { within: { timeZone: UTC }, outside: { timeZone: UTC } } }, then: deny } # <-\n'),
    path: 'policy.routes[0].conditions[0].when',
    message: 'use exactly one time window: within, outside (found: within, outside)',
  },
  {
    name: 'two tests in one condition',
    yaml: route('        - { name: n, when: { cel: "true", risk: { scoreAtLeast: 1 } }, then: deny } # <-\n'),
    path: 'policy.routes[0].conditions[0].when',
    message: 'use exactly one test: sourceIp, country, principal, time, device, risk, cel (found: cel, risk)',
  },
  {
    name: 'unknown test kind, with a suggestion',
    yaml: route('        - { name: n, when: { sourceIP: { in: [10.0.0.0/8] } }, then: deny } # <-\n'),
    path: 'policy.routes[0].conditions[0].when.sourceIP',
    message: 'unknown test "sourceIP" (did you mean "sourceIp"?); use one of: sourceIp, country, principal, time, device, risk, cel',
  },
  {
    name: 'device test with header and claim',
    yaml: route('        - { name: n, when: { device: { header: x-a, claim: b, equals: 1 } }, then: deny } # <-\n'),
    path: 'policy.routes[0].conditions[0].when.device',
    message: 'set either header or claim, not both',
  },
  {
    name: 'device test with two comparisons',
    yaml: route('        - { name: n, when: { device: { header: x-a, equals: 1, atLeast: 2 } }, then: deny } # <-\n'),
    path: 'policy.routes[0].conditions[0].when.device',
    message: 'use exactly one comparison: equals, notEquals, oneOf, atLeast, atMost, present (found: equals, atLeast)',
  },
  {
    name: 'device atLeast with a boolean',
    yaml: route('        - { name: n, when: { device: { claim: os, atLeast: true } }, then: deny } # <-\n'),
    path: 'policy.routes[0].conditions[0].when.device.atLeast',
    message: 'expected a number or a version string (e.g. "14.2")',
  },
  {
    name: 'unknown workflow in a step-up',
    yaml: route('        - { name: n, when: { cel: "true" }, then: { stepUp: livenes } } # <-\n'),
    path: 'policy.routes[0].conditions[0].then.stepUp',
    message: 'unknown workflow "livenes" (did you mean "liveness"?) (defined: liveness)',
  },
  {
    name: 'step-up on a public route',
    yaml: `${HEAD}policy:
  routes:
    - id: a
      public: true
      conditions:
        - { name: n, when: { cel: "true" }, then: { stepUp: liveness } } # <-
`,
    path: 'policy.routes[0].conditions[0].then.stepUp',
    message: 'a step-up needs an authenticated caller, but this route is public',
  },
  {
    name: 'bad step-up max age',
    yaml: route('        - { name: n, when: { cel: "true" }, then: { stepUp: liveness, maxAge: soon } } # <-\n'),
    path: 'policy.routes[0].conditions[0].then.maxAge',
    message: 'invalid duration "soon" (use 250ms, 30s, 5m, 1h30m, 7d or a number of seconds)',
  },
  {
    name: 'deny code not in DENY_CODES, with a suggestion',
    yaml: route('        - { name: n, when: { cel: "true" }, then: { deny: contry_denied } } # <-\n'),
    path: 'policy.routes[0].conditions[0].then.deny',
    message: /^unknown deny code "contry_denied" \(did you mean "country_denied"\?\); use one of: network_denied, /,
  },
  {
    name: 'a deny code that is not a 403 condition code',
    yaml: route('        - { name: n, when: { cel: "true" }, then: { deny: token_missing } } # <-\n'),
    path: 'policy.routes[0].conditions[0].then.deny',
    message: /^deny code "token_missing" cannot be used by a condition; use one of: /,
  },
  {
    name: 'unknown effect, with a suggestion',
    yaml: route('        - { name: n, when: { cel: "true" }, then: alow } # <-\n'),
    path: 'policy.routes[0].conditions[0].then',
    message: 'unknown effect "alow" (did you mean "allow"?); use allow, deny, { deny: <code>, message? } or { stepUp: <workflow>, maxAge? }',
  },
  {
    name: 'duplicate condition name',
    yaml: route('        - { name: n, when: { cel: "true" }, then: allow }\n        - { name: n, when: { cel: "true" }, then: allow } # <-\n'),
    path: 'policy.routes[0].conditions[1].name',
    message: 'duplicate condition name "n" (first used by conditions[0])',
  },
  {
    name: 'CEL syntax error, with the expression position',
    yaml: route(`        - name: n
          when:
            cel: 'request.method == "DELETE" &&' # <-
          then: deny
`),
    path: 'policy.routes[0].conditions[0].when.cel',
    message: /^CEL syntax error at 1:\d+: /,
  },
  {
    name: 'CEL unknown top-level variable',
    yaml: route(`        - name: n
          when: { cel: '!("admin" in claim.roles)' } # <-
          then: deny
`),
    path: 'policy.routes[0].conditions[0].when.cel',
    message: 'unknown variable "claim" (did you mean "claims"?) (variables: request, claims, context, verification, risk)',
  },
  {
    name: 'CEL that cannot yield a bool',
    yaml: route(`        - { name: n, when: { cel: 'request.path + "/"' }, then: deny } # <-\n`),
    path: 'policy.routes[0].conditions[0].when.cel',
    message: 'the expression must evaluate to a bool (true/false)',
  },
  {
    name: 'CEL that is not a string',
    yaml: route('        - { name: n, when: { cel: true }, then: deny } # <-\n'),
    path: 'policy.routes[0].conditions[0].when.cel',
    message: 'expected a CEL expression (a string), got boolean',
  },
  {
    name: 'risk test while risk scoring is off',
    yaml: route('        - { name: n, when: { risk: { scoreAtLeast: 50 } }, then: deny } # <-\n').replace('risk: { enabled: true }\n', ''),
    path: 'policy.routes[0].conditions[0].when.risk',
    message: 'a risk test has no effect unless risk.enabled is true (no risk score is computed)',
  },
  {
    name: 'CEL reading risk while risk scoring is off',
    yaml: route(`        - { name: n, when: { cel: 'risk.score > 50.0' }, then: deny } # <-\n`).replace('risk: { enabled: true }\n', ''),
    path: 'policy.routes[0].conditions[0].when.cel',
    message: 'an expression reading risk has no effect unless risk.enabled is true (no risk score is computed)',
  },
  {
    name: 'risk bands while risk scoring is off',
    yaml: `${HEAD.replace('risk: { enabled: true }\n', '')}policy:
  routes:
    - id: a
      risk: # <-
        - { atLeast: 50, then: deny }
`,
    path: 'policy.routes[0].risk',
    message: 'risk bands have no effect unless risk.enabled is true (no risk score is computed)',
  },
  {
    name: 'duplicate risk band threshold',
    yaml: `${HEAD}policy:
  routes:
    - id: a
      risk:
        - { atLeast: 50, then: deny }
        - { atLeast: 50, then: allow } # <-
`,
    path: 'policy.routes[0].risk[1].atLeast',
    message: 'duplicate risk band atLeast 50 (first used by risk[0])',
  },
  {
    name: 'unknown workflow in a risk band',
    yaml: `${HEAD}policy:
  routes:
    - id: a
      risk:
        - { atLeast: 50, then: { stepUp: kyc } } # <-
`,
    path: 'policy.routes[0].risk[0].then.stepUp',
    message: 'unknown workflow "kyc" (defined: liveness)',
  },
  {
    name: 'conditions on a deny route',
    yaml: `${HEAD}policy:
  routes:
    - id: a
      deny: true
      conditions: # <-
        - { name: n, when: { cel: "true" }, then: allow }
`,
    path: 'policy.routes[0].conditions',
    message: 'a deny route always denies; its conditions would never be evaluated',
  },
  {
    name: 'unknown risk weight, with a suggestion',
    yaml: `risk:
  weights: { new_devices: 10 } # <-
`,
    path: 'risk.weights.new_devices',
    message: 'unknown key "new_devices" (did you mean "new_device"?)',
  },
  {
    name: 'risk weight out of range',
    yaml: `risk:
  weights: { velocity: 150 } # <-
`,
    path: 'risk.weights.velocity',
    message: 'must be at most 100',
  },
  {
    name: 'invalid country header name',
    yaml: `context:
  countryHeader: "x geo" # <-
`,
    path: 'context.countryHeader',
    message: 'not a valid header name',
  },
  {
    name: 'trusted proxy with host bits set (would not compile at boot)',
    yaml: `network:
  trustedProxies: [10.0.0.1/8] # <-
`,
    path: 'network.trustedProxies[0]',
    message: 'invalid CIDR "10.0.0.1/8": host bits set; did you mean 10.0.0.0/8?',
  },
];

describe('load-time errors', () => {
  it.each(cases)('$name', ({ yaml, path, message }) => {
    const err = errorOf(yaml);
    const issue = err.issues.find((i) => i.path === path);
    expect(issue, `issues: ${err.format()}`).toBeDefined();
    if (typeof message === 'string') expect(issue?.message).toBe(message);
    else expect(issue?.message).toMatch(message);
    expect(issue?.line).toBe(markedLine(yaml));
  });

  it('reports every condition problem in one pass, in file:line:col form', () => {
    const yaml = route(`        - { name: a1, when: { sourceIp: { in: [nope] } }, then: deny }
        - { name: a2, when: { cel: 'claims.x ==' }, then: { deny: nope } }
`);
    const lines = errorOf(yaml).format().split('\n');
    expect(lines).toEqual([
      't.yaml:12:48 policy.routes[0].conditions[0].when.sourceIp.in[0]: invalid CIDR "nope": not an IPv4 or IPv6 address',
      expect.stringMatching(/^t\.yaml:13:36 policy\.routes\[0\]\.conditions\[1\]\.when\.cel: CEL syntax error at 1:10: /),
      expect.stringMatching(/^t\.yaml:13:67 policy\.routes\[0\]\.conditions\[1\]\.then\.deny: unknown deny code "nope"/),
    ]);
  });
});
