import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../src/config/config-error.js';
import { parseDuration } from '../src/config/duration.js';
import { loadConfig } from '../src/config/load-config.js';
import { parseConfig, type ParseConfigOptions } from '../src/config/parse-config.js';

const EXAMPLE = 'examples/idgate.yaml';

const ISSUERS = `issuers:
  - name: corp
    issuer: https://corp.example
    audiences: [api]
    jwksUri: https://corp.example/jwks
  - name: partner
    issuer: https://partner.example
    audiences: [api]
    discoveryUrl: https://partner.example/.well-known/openid-configuration
`;

function parse(text: string, options: Partial<ParseConfigOptions> = {}) {
  return parseConfig(text, { sourceName: 't.yaml', env: {}, ...options });
}

function errorOf(text: string, options: Partial<ParseConfigOptions> = {}): ConfigError {
  try {
    parse(text, options);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

/** 1-based line of the line carrying the `# <-` marker. */
function markedLine(text: string): number {
  const index = text.split('\n').findIndex((l) => l.includes('# <-'));
  if (index === -1) throw new Error('test YAML has no # <- marker');
  return index + 1;
}

describe('loading the example', () => {
  it('loads examples/idgate.yaml with defaults applied and secrets resolved', async () => {
    const config = await loadConfig(EXAMPLE, { env: {} });
    expect(config.issuers.map((i) => i.name)).toEqual(['demo']);
    expect(config.issuers[0]?.clockSkewMs).toBe(30_000);
    expect(config.issuers[0]?.jwks.fetchTimeoutMs).toBe(2_000);
    expect(config.issuers[0]?.sources).toEqual([{ type: 'header', name: 'authorization', scheme: 'Bearer' }]);
    expect(config.workflows['age_over_18']).toMatchObject({ name: 'age_over_18', minAge: 18, maxAgeMs: 365 * 86_400_000 });
    expect(config.didit).toMatchObject({ mode: 'sandbox', apiBaseUrl: 'http://127.0.0.1:8099', webhookSecret: 'sandbox-webhook-secret' });
    expect(config.policy.default).toBe('deny');
    const ids = config.policy.routes.map((r) => r.id);
    expect(ids).toEqual(expect.arrayContaining(['healthz', 'public', 'admin', 'api', 'payments', 'partner-api']));
    const payments = config.policy.routes.find((r) => r.id === 'payments');
    expect(payments?.require).toMatchObject({ authenticated: true, verification: ['kyc'], verificationMaxAgeMs: 30 * 86_400_000 });
    expect(config.policy.routes.find((r) => r.id === 'admin')?.require).toMatchObject({ anyRoles: ['admin'], mfa: { amr: ['mfa'] } });
    expect(config.store.localCacheTtlMs).toBe(5_000);
  });

  it('returns a deep-frozen object', () => {
    const config = parse(readFileSync(EXAMPLE, 'utf8'));
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.policy.routes)).toBe(true);
    expect(Object.isFrozen(config.policy.routes[0]?.match.paths)).toBe(true);
    expect(() => {
      (config.server.grpc as { port: number }).port = 1;
    }).toThrow(TypeError);
  });

  it('fills every documented default for an empty document', () => {
    const config = parse('');
    expect(config.server).toEqual({
      grpc: { host: '0.0.0.0', port: 9191, maxMessageBytes: 1024 * 1024, decisionTimeoutMs: 150, transport: 'http2' },
      httpAuthz: { host: '0.0.0.0', port: 9192, enabled: true, pathPrefix: '/check' },
      public: { host: '0.0.0.0', port: 8080, baseUrl: 'http://127.0.0.1:8080', maxBodyBytes: 1024 * 1024 },
      admin: { host: '0.0.0.0', port: 9090 },
      shutdownGraceMs: 10_000,
    });
    expect(config.headers).toEqual({ prefix: 'x-idgate-', strip: [], removeAuthorization: false });
    expect(config.policy).toEqual({ default: 'deny', shadow: false, pathParameters: 'reject', methodOverride: 'deny', roleClaims: ['roles', 'groups', 'realm_access.roles'], acrOrder: [], sensitivity: {}, routes: [], guardrails: [], tenants: [], defaults: { routes: [] }, revision: '' });
    expect(config.store).toEqual({ type: 'memory', localCacheTtlMs: 5_000, localCacheMaxEntries: 2_000 });
    expect(config.caches).toEqual({ tokens: 2_000, allows: 2_000 });
    expect(config.network.trustedProxies).toEqual([]);
    expect(config.logging).toEqual({ level: 'info', allowSampleRate: 1, decisionReplay: false });
  });

  it('takes `caches` bounds and refuses ones that are not positive integers, naming the key', () => {
    expect(parse('caches: { tokens: 2000, allows: 500 }').caches).toEqual({ tokens: 2_000, allows: 500 });
    expect(() => parse('caches: { tokens: 0 }')).toThrow(/caches\.tokens/);
    expect(() => parse('caches: { allows: 1.5 }')).toThrow(/caches\.allows/);
    expect(() => parse('caches: { verdicts: 10 }')).toThrow(/caches/);
  });

  it('reports a missing file as a ConfigError', async () => {
    await expect(loadConfig('/nonexistent/idgate.yaml', { env: {} })).rejects.toThrow(/cannot read the configuration file \(ENOENT\)/);
  });
});

describe('shorthands', () => {
  it('expands match, action and require shorthands to the canonical form', () => {
    const config = parse(`${ISSUERS}
policy:
  routes:
    - id: a
      match: { paths: [{ exact: /x }, { prefix: /api/ }, { glob: /g/** }], host: API.Example.com, methods: [get] }
      require:
        claims: { email_verified: true, tier: { oneOf: [gold, 1] }, groups: { contains: eng }, org.id: { present: true } }
        roles: [admin]
        scopes: read write
        mfa: true
    - id: b
      public: true
    - id: c
      deny: true
`);
    const [a, b, c] = config.policy.routes;
    expect(a?.match).toEqual({ hosts: ['api.example.com'], paths: [{ exact: '/x' }, { prefix: '/api/' }, { glob: '/g/**' }], methods: ['GET'] });
    expect(a?.action).toBe('require');
    expect(a?.require).toMatchObject({
      authenticated: true,
      claims: { email_verified: { equals: true }, tier: { oneOf: ['gold', 1] }, groups: { contains: 'eng' }, 'org.id': { present: true } },
      anyRoles: ['admin'],
      scopes: ['read', 'write'],
      mfa: { amr: ['mfa'] },
    });
    expect(b?.action).toBe('public');
    expect(b?.require.authenticated).toBe(false);
    expect(c?.action).toBe('deny');
  });

  it('lower-cases claim header names', () => {
    const config = parse(`${ISSUERS}
policy:
  routes:
    - id: a
      claimHeaders: { X-Idgate-Email: email }
`);
    expect(config.policy.routes[0]?.claimHeaders).toEqual({ 'x-idgate-email': 'email' });
  });
});

describe('durations', () => {
  it.each([
    ['250ms', 250],
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['7d', 604_800_000],
    ['1.5h', 5_400_000],
    [30, 30_000],
    [0, 0],
  ])('parseDuration(%j) = %d ms', (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  it.each([['5x'], ['-1s'], [''], [-3], [true], [null]])('parseDuration(%j) is an error message', (input) => {
    expect(typeof parseDuration(input)).toBe('string');
  });

  // Issue 16 §4: Envoy, Go and Kubernetes users write compound durations.
  it.each([
    ['1h30m', 5_400_000],
    ['1m30s', 90_000],
    ['2d12h', 216_000_000],
    ['1s500ms', 1_500],
    ['1h0m0s', 3_600_000],
    ['1.5m30s', 120_000],
  ])('parseDuration(%j) = %d ms (compound)', (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  it.each([
    ['30m1h', 'invalid duration "30m1h": units must go from largest to smallest (write 1h30m)'],
    ['1h1h', 'invalid duration "1h1h": unit h appears twice'],
    ['1h 30m', 'invalid duration "1h 30m" (use 250ms, 30s, 5m, 1h30m, 7d or a number of seconds)'],
    ['1h30', 'invalid duration "1h30" (use 250ms, 30s, 5m, 1h30m, 7d or a number of seconds)'],
    ['h30m', 'invalid duration "h30m" (use 250ms, 30s, 5m, 1h30m, 7d or a number of seconds)'],
    ['1h-30m', 'invalid duration "1h-30m" (use 250ms, 30s, 5m, 1h30m, 7d or a number of seconds)'],
  ])('parseDuration(%j) explains what is wrong', (input, message) => {
    expect(parseDuration(input)).toBe(message);
  });

  it('demoIssuer: true derives the demo issuer from demoIssuer.port, and needs that section', () => {
    const config = parse(`issuers:\n  - { name: demo, demoIssuer: true }\ndidit: { mode: sandbox }\ndemoIssuer: { port: 18098, audience: aud-x }\n`);
    expect(config.issuers[0]).toMatchObject({
      issuer: 'http://127.0.0.1:18098',
      discoveryUrl: 'http://127.0.0.1:18098/.well-known/openid-configuration',
      audiences: ['aud-x'],
      algorithms: ['ES256'],
    });
    expect(() => parse('issuers:\n  - { name: demo, demoIssuer: true }\n')).toThrow(/issuers\[0\]\.demoIssuer: demoIssuer: true needs the top-level demoIssuer section/);
    expect(() => parse('issuers:\n  - { name: demo, demoIssuer: yes }\ndemoIssuer: {}\n')).toThrow(/issuers\[0\]\.demoIssuer: expected true or false/);
  });

  it('a compound duration works in a config file', () => {
    const config = parse(`${ISSUERS}
policy:
  sensitivity: { high: { maxTokenAge: 1h30m } }
  routes:
    - { id: a, match: { path: /a }, sensitivity: high }
`);
    expect(config.policy.sensitivity.high?.maxTokenAgeMs).toBe(5_400_000);
  });

  it('reads bare numbers as seconds, and as milliseconds in the …Ms spelling', () => {
    const config = parse(`${ISSUERS.replace('    jwksUri: https://corp.example/jwks', '    jwksUri: https://corp.example/jwks\n    clockSkew: 45')}
server:
  grpc: { decisionTimeoutMs: 250 }
  shutdownGrace: 1m
workflows:
  kyc: { workflowId: w, maxAge: 7d }
didit: { mode: sandbox, webhookTolerance: 10m }
`);
    expect(config.issuers[0]?.clockSkewMs).toBe(45_000);
    expect(config.server.grpc.decisionTimeoutMs).toBe(250);
    expect(config.server.shutdownGraceMs).toBe(60_000);
    expect(config.workflows['kyc']?.maxAgeMs).toBe(604_800_000);
    expect(config.didit.webhookToleranceMs).toBe(600_000);
  });
});

describe('secrets', () => {
  const LIVE = `
server: { public: { baseUrl: https://idgate.example.com } }
didit:
  mode: live
  apiKey: { env: DIDIT_API_KEY }
  webhookSecret: { file: /run/secrets/didit-webhook }
`;

  it('resolves env and file references through the injected sources', () => {
    const config = parse(LIVE, {
      env: { DIDIT_API_KEY: 'k-123-live-api-key-0123456789' },
      readFile: (path) => {
        if (path !== '/run/secrets/didit-webhook') throw Object.assign(new Error('nope'), { code: 'ENOENT' });
        return 'whsec-0123456789abcdefghijklmnopqrstuvw\n';
      },
    });
    expect(config.didit.apiKey).toBe('k-123-live-api-key-0123456789');
    expect(config.didit.webhookSecret).toBe('whsec-0123456789abcdefghijklmnopqrstuvw');
  });

  it('names the missing environment variable and the unreadable file, never a value', () => {
    const err = errorOf(LIVE, {
      env: { OTHER: 'x' },
      readFile: () => {
        throw Object.assign(new Error('denied'), { code: 'EACCES' });
      },
    });
    expect(err.issues).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ path: 'didit.apiKey', message: 'environment variable DIDIT_API_KEY is not set', line: 5 }),
        expect.objectContaining({ path: 'didit.webhookSecret', message: 'cannot read secret file /run/secrets/didit-webhook (EACCES)', line: 6 }),
      ]),
    );
  });

  it('rejects literal secrets outside sandbox mode and accepts them in sandbox mode', () => {
    const err = errorOf(`
server: { public: { baseUrl: https://idgate.example.com } }
didit: { mode: live, apiKey: plain-key, webhookSecret: { env: W } }
`, { env: { W: 'w'.repeat(43) } });
    expect(err.issues).toEqual([expect.objectContaining({ path: 'didit.apiKey', message: expect.stringMatching(/only allowed with didit.mode sandbox/) })]);
    expect(parse('didit: { mode: sandbox, apiKey: plain-key }').didit.apiKey).toBe('plain-key');
  });
});

interface CrossCase {
  readonly name: string;
  readonly yaml: string;
  readonly path: string;
  readonly message: string | RegExp;
  readonly env?: Record<string, string>;
}

const crossCases: CrossCase[] = [
  {
    name: 'unknown issuer in a route, with suggestion and the defined list',
    yaml: `${ISSUERS}
policy:
  routes:
    - id: a
      require:
        issuers: [crop] # <-
`,
    path: 'policy.routes[0].require.issuers[0]',
    message: 'unknown issuer "crop" (did you mean "corp"?) (defined: corp, partner)',
  },
  {
    name: 'duplicate route id',
    yaml: `${ISSUERS}
policy:
  routes:
    - id: a
    - id: a # <-
`,
    path: 'policy.routes[1].id',
    message: 'duplicate route id "a" (first used by policy.routes[0])',
  },
  {
    name: 'duplicate issuer name',
    yaml: `${ISSUERS}  - name: corp # <-
    issuer: https://x
    audiences: [a]
    jwksUri: https://x/jwks
`,
    path: 'issuers[2].name',
    message: 'duplicate issuer name "corp" (first used by issuers[0])',
  },
  {
    name: 'unknown workflow',
    yaml: `${ISSUERS}
workflows: { kyc: { workflowId: w } }
didit: { mode: sandbox }
policy:
  routes:
    - id: a
      require: { verification: [kcy] } # <-
`,
    path: 'policy.routes[0].require.verification[0]',
    message: 'unknown workflow "kcy" (did you mean "kyc"?) (defined: kyc)',
  },
  {
    name: 'unknown sensitivity level',
    yaml: `${ISSUERS}
policy:
  sensitivity: { high: { mfa: true } }
  routes:
    - id: a
      sensitivity: hihg # <-
`,
    path: 'policy.routes[0].sensitivity',
    message: 'unknown sensitivity level "hihg" (did you mean "high"?) (defined: high)',
  },
  {
    name: 'acrAtLeast outside acrOrder',
    yaml: `${ISSUERS}
policy:
  acrOrder: [bronze, silver]
  routes:
    - id: a
      require:
        mfa: { acrAtLeast: gold } # <-
`,
    path: 'policy.routes[0].require.mfa.acrAtLeast',
    message: 'acr "gold" is not listed in policy.acrOrder',
  },
  {
    name: 'HS256 without a secret',
    yaml: `issuers:
  - name: a
    issuer: https://a
    audiences: [x]
    jwksUri: https://a/jwks
    algorithms: [HS256] # <-
`,
    path: 'issuers[0].algorithms[0]',
    message: /HS256 needs a shared secret/,
  },
  {
    name: 'asymmetric algorithm with a secret',
    yaml: `issuers:
  - name: a
    issuer: https://a
    audiences: [x]
    secret: { env: S }
    algorithms: [RS256] # <-
`,
    env: { S: 's' },
    path: 'issuers[0].algorithms[0]',
    message: /RS256 is asymmetric/,
  },
  {
    name: 'alg none',
    yaml: `issuers:
  - name: a
    issuer: https://a
    audiences: [x]
    jwksUri: https://a/jwks
    algorithms: [none] # <-
`,
    path: 'issuers[0].algorithms[0]',
    message: 'alg "none" is never allowed',
  },
  {
    name: 'two key sources',
    yaml: `issuers:
  - name: a # <-
    issuer: https://a
    audiences: [x]
    jwksUri: https://a/jwks
    discoveryUrl: https://a/.well-known/openid-configuration
`,
    path: 'issuers[0]',
    message: 'set exactly one of jwksUri, discoveryUrl, secret (found: jwksUri, discoveryUrl)',
  },
  {
    name: 'empty audiences',
    yaml: `issuers:
  - name: a
    issuer: https://a
    audiences: [] # <-
    jwksUri: https://a/jwks
`,
    path: 'issuers[0].audiences',
    message: 'must have at least 1 item',
  },
  {
    name: 'claim header without the prefix',
    yaml: `${ISSUERS}
policy:
  routes:
    - id: a
      claimHeaders:
        x-email: email # <-
`,
    path: 'policy.routes[0].claimHeaders.x-email',
    message: /must start with "x-idgate-"/,
  },
  {
    name: 'claim header that is not a header name',
    yaml: `${ISSUERS}
policy:
  routes:
    - id: a
      claimHeaders:
        "x-idgate-bad name": email # <-
`,
    path: 'policy.routes[0].claimHeaders["x-idgate-bad name"]',
    message: 'not a valid header name',
  },
  {
    name: 'claim header overriding an idgate header',
    yaml: `${ISSUERS}
policy:
  routes:
    - id: a
      claimHeaders:
        x-idgate-subject: email # <-
`,
    path: 'policy.routes[0].claimHeaders.x-idgate-subject',
    message: 'x-idgate-subject is set by idgate itself',
  },
  {
    name: 'didit live without apiKey',
    yaml: `server: { public: { baseUrl: https://idgate.example.com } }
didit: { mode: live, webhookSecret: { env: W } } # <-
`,
    env: { W: 'w' },
    path: 'didit',
    message: 'didit.mode live needs apiKey',
  },
  {
    name: 'redis store without redis settings',
    yaml: `store: { type: redis } # <-
`,
    path: 'store',
    message: /store.type redis needs a redis section/,
  },
  {
    name: 'relative public base URL',
    yaml: `server:
  public: { baseUrl: idgate.example.com } # <-
`,
    path: 'server.public.baseUrl',
    message: 'must be an absolute http(s) URL',
  },
  {
    name: 'invalid trusted proxy CIDR',
    yaml: `network:
  trustedProxies: [10.0.0.0/8, 10.0.0.0/33] # <-
`,
    path: 'network.trustedProxies[1]',
    message: 'invalid CIDR "10.0.0.0/33": prefix length must be 0..32',
  },
  {
    name: 'invalid IPv6 CIDR',
    yaml: `network:
  trustedProxies: ["fd00::/129"] # <-
`,
    path: 'network.trustedProxies[0]',
    message: 'invalid CIDR "fd00::/129": prefix length must be 0..128',
  },
  {
    name: 'unknown key with a suggestion',
    yaml: `policy:
  defualt: allow # <-
`,
    path: 'policy.defualt',
    message: 'unknown key "defualt" (did you mean "default"?)',
  },
  {
    name: 'transposed key with a suggestion',
    yaml: `server:
  grpc: { prot: 1 } # <-
`,
    path: 'server.grpc.prot',
    message: 'unknown key "prot" (did you mean "port"?)',
  },
  {
    name: 'bad enum value with a suggestion',
    yaml: `policy:
  default: alow # <-
`,
    path: 'policy.default',
    message: 'expected one of "deny", "allow", got "alow" (did you mean "allow"?)',
  },
  {
    name: 'bad duration',
    yaml: `server:
  grpc: { decisionTimeout: 5x } # <-
`,
    path: 'server.grpc.decisionTimeout',
    message: 'invalid duration "5x" (use 250ms, 30s, 5m, 1h30m, 7d or a number of seconds)',
  },
  {
    name: 'both spellings of a duration',
    yaml: `server:
  grpc:
    decisionTimeout: 1s
    decisionTimeoutMs: 100 # <-
`,
    path: 'server.grpc.decisionTimeoutMs',
    message: 'set either decisionTimeout or decisionTimeoutMs, not both',
  },
  {
    name: 'public and action together',
    yaml: `policy:
  routes:
    - id: a
      action: deny
      public: true # <-
`,
    path: 'policy.routes[0].public',
    message: 'set only one of: action, public',
  },
  {
    name: 'requirements on a public route',
    yaml: `${ISSUERS}
policy:
  routes:
    - id: a
      public: true
      require: { scopes: [x] } # <-
`,
    path: 'policy.routes[0].require',
    message: 'a public route cannot have requirements',
  },
  {
    name: 'glob with ** inside a segment',
    yaml: `policy:
  routes:
    - id: a
      public: true
      match: { glob: /a** } # <-
`,
    path: 'policy.routes[0].match.glob',
    message: /"\*\*" must be a whole segment/,
  },
  {
    name: 'workflows without a didit section',
    yaml: `workflows: # <-
  kyc: { workflowId: w }
`,
    path: 'workflows',
    message: /workflows need a didit section/,
  },
  {
    name: 'a require route without any issuer configured',
    yaml: `policy:
  routes:
    - id: a # <-
`,
    path: 'policy.routes[0]',
    message: 'this route needs an authenticated caller but no issuers are configured',
  },
];

describe('validation issues', () => {
  it.each(crossCases)('$name', ({ yaml, path, message, env }) => {
    const err = errorOf(yaml, env !== undefined ? { env } : {});
    const issue = err.issues.find((i) => i.path === path);
    expect(issue, err.format()).toBeDefined();
    if (typeof message === 'string') expect(issue?.message).toBe(message);
    else expect(issue?.message).toMatch(message);
    expect(issue?.line).toBe(markedLine(yaml));
    expect(issue?.column).toBeGreaterThan(0);
  });

  it('reports every issue at once, sorted by position, in file:line:col form', () => {
    const err = errorOf(`${ISSUERS}
policy:
  defualt: deny
  routes:
    - id: a
      require: { issuers: [crop], verification: [kyc] }
network: { trustedProxies: [nope] }
`);
    const lines = err.format().split('\n');
    expect(lines).toEqual([
      't.yaml:12:3 policy.defualt: unknown key "defualt" (did you mean "default"?)',
      't.yaml:15:28 policy.routes[0].require.issuers[0]: unknown issuer "crop" (did you mean "corp"?) (defined: corp, partner)',
      't.yaml:15:50 policy.routes[0].require.verification[0]: unknown workflow "kyc" (defined: none)',
      't.yaml:16:29 network.trustedProxies[0]: invalid CIDR "nope": not an IPv4 or IPv6 address',
    ]);
    expect(err.message).toContain('4 problems');
  });

  it('reports YAML syntax errors with their line', () => {
    const err = errorOf('server:\n  grpc: { port: 1\npolicy: {}\n');
    expect(err.issues.length).toBeGreaterThan(0);
    expect(err.issues[0]?.message).toMatch(/^YAML syntax error: /);
    expect(err.issues[0]?.line).toBeGreaterThanOrEqual(2);
  });

  it('reports duplicate keys as syntax errors', () => {
    const err = errorOf('policy:\n  default: deny\n  default: allow\n');
    expect(err.issues[0]).toMatchObject({ line: 3, message: expect.stringMatching(/unique/i) });
  });

  it('rejects a document that is not a mapping', () => {
    expect(errorOf('- a\n- b\n').issues[0]?.message).toBe('the configuration must be a mapping, got a list');
  });
});

describe('loadConfig with file secrets', () => {
  it('reads { file } secrets from disk and strips one trailing newline', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'idgate-config-'));
    try {
      await writeFile(join(dir, 'webhook'), 'from-file-0123456789abcdefghijklmnopqrstu\n');
      await writeFile(
        join(dir, 'idgate.yaml'),
        `server: { public: { baseUrl: https://idgate.example.com } }\ndidit:\n  mode: live\n  apiKey: { env: K }\n  webhookSecret: { file: ${join(dir, 'webhook')} }\n`,
      );
      const config = await loadConfig(join(dir, 'idgate.yaml'), { env: { K: 'live-api-key-0123456789' } });
      expect(config.didit.webhookSecret).toBe('from-file-0123456789abcdefghijklmnopqrstu');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('issuer token profile', () => {
  it('reads maxTokenLifetime and authorizedParties, and leaves them unset by default', () => {
    const base = 'issuers:\n  - { name: corp, issuer: "https://idp", audiences: [api], jwksUri: "https://idp/jwks"'
    const config = parse(`${base}, requiredType: at+jwt, maxTokenLifetime: 1h, authorizedParties: [web-app] }\n`);
    expect(config.issuers[0]).toMatchObject({ requiredType: 'at+jwt', maxTokenLifetimeMs: 3_600_000, authorizedParties: ['web-app'] });
    const plain = parse(`${base} }\n`).issuers[0]!;
    expect(plain.maxTokenLifetimeMs).toBeUndefined();
    expect(plain.authorizedParties).toBeUndefined();
    expect(errorOf(`${base}, authorizedParties: [] }\n`).issues).toEqual([
      expect.objectContaining({ path: 'issuers[0].authorizedParties', message: 'must have at least 1 item' }),
    ]);
  });
});
