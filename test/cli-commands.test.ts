import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startIdgate } from './support/idgate-process.js';
import { freePorts } from './support/redis-server.js';
import { createServer } from 'node:net';
import { readFileSync } from 'node:fs';

/** The offline commands a newcomer runs first: `validate` and `explain`, as separate processes. */
const ROOT = resolve(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist', 'idgate', 'cli.js');
const dir = mkdtempSync(join(tmpdir(), 'idgate-cli-'));

function idgate(...args: string[]) {
  const res = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 20_000 });
  return { code: res.status, out: res.stdout, err: res.stderr };
}

function claimsFile(claims: Record<string, unknown>): string {
  const file = join(dir, `claims-${Math.random().toString(36).slice(2)}.json`);
  const now = Math.floor(Date.now() / 1000);
  writeFileSync(file, JSON.stringify({ iss: 'http://127.0.0.1:8098', aud: 'idgate-demo', sub: 'alice', auth_time: now, exp: now + 600, ...claims }));
  return file;
}

describe('idgate validate', () => {
  it('accepts the example and summarises it', () => {
    const r = idgate('validate', 'examples/idgate.yaml');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/valid — 1 issuer\(s\), \d+ route\(s\)/);
  });

  it('lists every problem with file:line:col and exits 1', () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'policy:\n  defualt: deny\n  routes:\n    - id: a\n      match: { path: /a }\n      require: { issuers: [nope] }\n');
    const r = idgate('validate', file);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${file}:2:3 policy.defualt: unknown key "defualt" (did you mean "default"?)`);
    expect(r.err).toMatch(/:6:\d+ policy\.routes\[0\]\.require\.issuers\[0\]: unknown issuer "nope"/);
  });

  it('warns about policy.default: allow (fail open) but still exits 0', () => {
    const file = join(dir, 'open.yaml');
    writeFileSync(file, 'policy:\n  default: allow\n  routes:\n    - { id: a, match: { path: /a }, public: true }\n');
    const r = idgate('validate', file);
    expect(r.code).toBe(0);
    expect(r.err).toContain(`${file}: warning: policy.default is "allow"`);
  });

  it('warns when CEL conditions read request.country but context.countryHeader is not set (country tests are refused)', () => {
    const routes = '    - id: admin\n      match: { prefix: /admin }\n      public: true\n      conditions:\n        - { name: embargo, when: { country: { in: [KP] } }, then: deny }\n';
    const cel = '    - id: eu\n      match: { prefix: /eu }\n      public: true\n      conditions:\n        - { name: eu-only, when: { cel: \'request.country != "DE"\' }, then: deny }\n';
    const refused = join(dir, 'country-no-header.yaml');
    writeFileSync(refused, `policy:\n  routes:\n${routes}`);
    expect(idgate('validate', refused)).toMatchObject({ code: 1, err: expect.stringContaining('country tests need context.countryHeader') });
    for (const [name, text, warned] of [
      ['cel-no-header.yaml', `policy:\n  routes:\n${cel}`, true],
      ['with-header.yaml', `context: { countryHeader: x-geo-country }\npolicy:\n  routes:\n${routes}${cel}`, false],
    ] as const) {
      const file = join(dir, name);
      writeFileSync(file, text);
      const r = idgate('validate', file);
      expect(r.code, name).toBe(0);
      if (warned) expect(r.err, name).toContain(`${file}: warning: context.countryHeader is not set, but the CEL conditions of route eu read request.country`);
      else expect(r.err, name).not.toContain('context.countryHeader');
    }
  });

  it('rejects weak or sandbox Didit credentials and a plain-http API in live mode, in validate and serve, never printing them', () => {
    const file = join(dir, 'live-weak.yaml');
    const live = (didit: string) =>
      `server: { public: { baseUrl: "https://idgate.example.com" } }\ndidit:\n  mode: live\n${didit}`;
    writeFileSync(
      file,
      live('  apiKey: { env: K }\n  webhookSecret: { env: W }\n  webhookSecretPrevious: { env: P }\n  apiBaseUrl: "http://didit.internal:8099"\n'),
    );
    const env = { ...process.env, K: 'short-key', W: 'sandbox-webhook-secret', P: 'p'.repeat(31) };
    for (const command of [['validate', file], ['serve', '--config', file]]) {
      const res = spawnSync(process.execPath, [CLI, ...command], { cwd: ROOT, encoding: 'utf8', timeout: 20_000, env });
      expect(res.status, res.stderr).toBe(1);
      expect(res.stderr).toMatch(/didit\.apiKey: is too short for didit\.mode live \(at least 20 characters\)/);
      expect(res.stderr).toMatch(/didit\.webhookSecret: is the sandbox's built-in value/);
      expect(res.stderr).toMatch(/didit\.webhookSecretPrevious: is too short/);
      expect(res.stderr).toMatch(/didit\.apiBaseUrl: must use https when didit\.mode is live/);
      for (const secret of ['short-key', 'sandbox-webhook-secret', 'p'.repeat(31)]) expect(res.stderr).not.toContain(`${secret}`);
    }
    // Strong credentials and an explicitly allowed local stand-in are accepted.
    writeFileSync(file, live('  apiKey: { env: K }\n  webhookSecret: { env: W }\n  apiBaseUrl: "http://127.0.0.1:8099"\n  allowInsecureApiBaseUrl: true\n'));
    const ok = spawnSync(process.execPath, [CLI, 'validate', file], {
      cwd: ROOT, encoding: 'utf8', timeout: 20_000, env: { ...process.env, K: 'k'.repeat(24), W: 'w'.repeat(43) },
    });
    expect(ok.status, ok.stderr).toBe(0);
  });

  // Each of these passed `validate` before and then made `serve` crash (admin token, port) or misbehave at
  // request time (a CEL type error denies every request; `path` + `glob` matched either; `GTE` never matched).
  const ISSUER = '  - { name: corp, issuer: https://corp.example, audiences: [api], jwksUri: https://corp.example/jwks }\n';
  it.each<[string, string, string]>([
    ['an admin token under 16 characters', 'server:\n  admin: { port: 9090, token: fifteen-chars-x }\n', '2:31 server.admin.token: the admin token must be at least 16 characters'],
    ['two roles on one port', 'server:\n  grpc: { port: 9300 }\n  admin: { port: 9300 }\n', '3:18 server.admin.port: port 9300 is already used by server.grpc'],
    ['a role on the embedded sandbox port', 'server:\n  public: { port: 8099 }\ndidit: { mode: sandbox }\n', '3:8 didit.sandboxPort: port 8099 is already used by server.public'],
    [
      'a CEL type error',
      'policy:\n  routes:\n    - id: a\n      match: { prefix: /a }\n      public: true\n      conditions: [{ name: c, when: { cel: "request.path > 1" }, then: deny }]\n',
      "6:44 policy.routes[0].conditions[0].when.cel: CEL type error: found no matching overload for '_>_' applied to '(string, int)'",
    ],
    ['path and glob in one match', 'policy:\n  routes:\n    - { id: a, match: { path: /a, glob: /b/** }, public: true }\n', '3:41 policy.routes[0].match.glob: use one of path, prefix, glob or paths per match, not path and glob'],
    ['an unknown HTTP method', 'policy:\n  routes:\n    - { id: a, match: { prefix: /a, methods: [GET, GTE] }, public: true }\n', '3:52 policy.routes[0].match.methods[1]: unknown HTTP method "GTE" (did you mean "GET"?)'],
  ])('rejects %s with file:line:col', (name, yaml, expected) => {
    const file = join(dir, `${name.replace(/\W+/g, '-')}.yaml`);
    writeFileSync(file, `${yaml}issuers:\n${ISSUER}`);
    const r = idgate('validate', file);
    expect(r.code, r.out).toBe(1);
    expect(r.err).toContain(`${file}:${expected}`);
  });

  it('says so when the file does not exist', () => {
    const r = idgate('validate', join(dir, 'missing.yaml'));
    expect(r.code).toBe(1);
    expect(r.err).toContain('missing.yaml');
  });

  it('exits 1 and prints every tenant file error, though idgate serve would start with the other tenants', () => {
    const org = mkdtempSync(join(dir, 'org-'));
    const platform = join(org, 'idgate.yaml');
    writeFileSync(
      platform,
      `issuers: [{ name: corp, issuer: https://corp.example, audiences: [api], jwksUri: https://corp.example/jwks }]
policy:
  tenants:
    - { name: payments, owns: { hosts: [pay.example.com] }, files: [payments.yaml] }
    - { name: shop, owns: { hosts: [shop.example.com] }, files: [shop.yaml] }
`,
    );
    writeFileSync(join(org, 'payments.yaml'), 'routes:\n  - { id: a, match: { host: shop.example.com }, public: true }\n');
    writeFileSync(join(org, 'shop.yaml'), 'routes:\n  - { id: a, match: { prefix: /cart }, public: true }\n');
    const r = idgate('validate', platform);
    expect(r.code).toBe(1);
    expect(r.err).toBe(
      `tenant "payments" (failed): ${join(org, 'payments.yaml')}:2:29 routes[0].match.host: host "shop.example.com" is not owned by tenant "payments" (owns pay.example.com)\n${platform}: invalid — 1 tenant(s) failed to load\n`,
    );
    writeFileSync(join(org, 'payments.yaml'), 'routes: []\n');
    const ok = idgate('validate', platform);
    expect(ok.code).toBe(0);
    expect(ok.out).toContain('valid — 1 issuer(s), 0 route(s), 0 guardrail(s), 2 tenant(s) (1 tenant route(s))');
  });
});

describe('idgate explain', () => {
  it('explains an anonymous request to a protected route', () => {
    const r = idgate('explain', '--config', 'examples/idgate.yaml', '--request', 'examples/requests/api-anonymous.json');
    expect(r.code).toBe(4);
    expect(r.out).toContain('route     api');
    expect(r.out).toContain('DENY 401 token_missing');
  });

  it('selects a route by the caller workload (sourcePrincipal) and finds none for another', () => {
    const r = idgate('explain', '--config', 'examples/idgate.yaml', '--request', 'examples/requests/internal-workload.json');
    expect(r.code).toBe(0);
    expect(r.out).toContain('route     internal-orders');
    const other = join(dir, 'other-workload.json');
    const request = JSON.parse(readFileSync(resolve(ROOT, 'examples/requests/internal-workload.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(other, JSON.stringify({ ...request, sourcePrincipal: 'spiffe://cluster.local/ns/shopx/sa/web' }));
    const denied = idgate('explain', '--config', 'examples/idgate.yaml', '--request', other);
    expect(denied.code).toBe(4);
    expect(denied.out).toContain('DENY 403 no_route');
  });

  it('rejects a path trick before any route is matched', () => {
    const r = idgate('explain', '--config', 'examples/idgate.yaml', '--request', 'examples/requests/path-traversal.json');
    expect(r.out).toContain('DENY 400 path_invalid');
  });

  it('shows the verification a route needs for simulated claims', () => {
    const r = idgate('explain', '--config', 'examples/idgate.yaml', '--request', 'examples/requests/payments-browser.json', '--claims', claimsFile({ amr: ['mfa'] }));
    expect(r.code).toBe(5);
    expect(r.out).toContain('identity  verified demo:alice');
    expect(r.out).toContain('NEEDS VERIFICATION: kyc');
  });

  it('applies risk bands to a simulated assessment and names the signals', () => {
    const claims = claimsFile({ amr: ['mfa'] });
    const high = idgate('explain', '--config', 'examples/idgate.yaml', '--request', 'examples/requests/payments-browser.json', '--claims', claims, '--risk', '{"signals":["new_device","impossible_travel"]}');
    expect(high.out).toContain('risk      score 90 (new_device, impossible_travel)');
    expect(high.out).toContain('DENY 403 risk_denied');
    const json = idgate('explain', '--json', '--config', 'examples/idgate.yaml', '--request', 'examples/requests/payments-browser.json', '--claims', claims, '--risk', '{"signals":["country_change"]}');
    const parsed = JSON.parse(json.out) as { outcome: { kind: string; needs?: { workflow: string; maxAgeMs: number }[] } };
    expect(parsed.outcome.kind).toBe('verify');
    expect(parsed.outcome.needs?.find((n) => n.workflow === 'kyc')?.maxAgeMs).toBe(15 * 60_000);
  });

  it('prints usage and exits 2 for an unknown command', () => {
    const r = idgate('frobnicate');
    expect(r.code).toBe(2);
    expect(r.err).toContain('unknown command');
    expect(r.err).toContain('idgate serve');
  });
});

// Issue 16 §4: the rough edges a newcomer hits following the README.
describe('the newcomer\'s CLI', () => {
  it('validate without a file says FILE is required (its usage), not --config, and exits 2', () => {
    const r = idgate('validate');
    expect(r.code).toBe(2);
    expect(r.err).toContain('idgate validate: FILE is required');
    expect(r.err).not.toContain('--config');
  });

  it('--version and version print the package version', () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    for (const arg of ['--version', 'version']) {
      const r = idgate(arg);
      expect(r.code).toBe(0);
      expect(r.out.trim()).toBe(`idgate ${version}`);
    }
  });

  it('suggests the closest command for a typo', () => {
    const r = idgate('valdate', 'examples/idgate.yaml');
    expect(r.code).toBe(2);
    expect(r.err).toContain('unknown command "valdate" (did you mean "validate"?)');
    expect(idgate('frobnicate').err).not.toContain('did you mean');
  });

  it('explain exits 0 on allow, 4 on deny, 5 on step-up, in text and --json, and lists the upstream headers of an allow', () => {
    const claims = claimsFile({ scope: 'read', email: 'alice@example.com', roles: ['dev'] });
    const request = join(dir, 'get-orders.json');
    writeFileSync(request, JSON.stringify({ method: 'GET', host: 'app.example.com', path: '/api/orders' }));
    const allow = idgate('explain', '--config', 'examples/idgate.yaml', '--request', request, '--claims', claims);
    expect(allow.code, allow.out).toBe(0);
    expect(allow.out).toContain('decision  ALLOW');
    expect(allow.out).toContain('upstream header x-idgate-subject: demo:alice');
    expect(allow.out).toContain('upstream header x-idgate-issuer: demo');
    expect(allow.out).toContain('upstream header x-idgate-email: alice@example.com');
    expect(allow.out).toContain('upstream header x-idgate-roles: dev');
    const deny = idgate('explain', '--json', '--config', 'examples/idgate.yaml', '--request', 'examples/requests/api-anonymous.json');
    expect(deny.code).toBe(4);
    const stepUp = idgate('explain', '--json', '--config', 'examples/idgate.yaml', '--request', 'examples/requests/payments-browser.json', '--claims', claimsFile({ amr: ['mfa'] }));
    expect(stepUp.code).toBe(5);
  });
});

describe('moving the example', () => {
  it('changing only the port: values moves every role, the demo issuer included; tokens carry the mapped claims; no duplicate log keys', async () => {
    const moved: Record<string, number> = {};
    const originals = [9191, 9192, 8080, 9090, 8098, 8099];
    const fresh = await freePorts(originals.length); // all different, unlike six freePort() calls in a row
    originals.forEach((p, i) => (moved[p] = fresh[i] as number));
    const example = readFileSync(join(ROOT, 'examples/idgate.yaml'), 'utf8');
    // Only `port: N` and `sandboxPort: N` are edited — what the README tells a newcomer to change.
    const yaml = example.replace(/\b(port|sandboxPort): (\d+)/g, (all, key: string, n: string) => (moved[Number(n)] ? `${key}: ${moved[Number(n)]}` : all));
    expect(yaml).not.toBe(example);
    const proc = await startIdgate({ configYaml: yaml });
    try {
      expect(proc.ports).toMatchObject({ grpc: moved[9191], http: moved[9192], public: moved[8080], admin: moved[9090], demoIssuer: moved[8098], sandbox: moved[8099] });
      const tokenRes = await fetch(`http://127.0.0.1:${moved[8098]}/token?sub=alice&scope=read&email=alice@example.com&roles=dev,ops`);
      expect(tokenRes.status).toBe(200);
      const token = (await tokenRes.text()).trim();
      const check = await fetch(`http://127.0.0.1:${moved[9192]}/check/api/orders`, { headers: { authorization: `Bearer ${token}` } });
      expect(check.status).toBe(200);
      expect(check.headers.get('x-idgate-subject')).toBe('demo:alice');
      expect(check.headers.get('x-idgate-email')).toBe('alice@example.com');
      expect(check.headers.get('x-idgate-roles')).toBe('dev,ops');
      // Bounded, validated input: a header-smuggling email, an unknown claim and a long query are refused.
      for (const q of ['email=a%0d%0ax-idgate-subject:%20x@example.com', 'admin=true', `scope=${'r'.repeat(2000)}`, 'email=a@b.co&email=c@d.co']) {
        const bad = await fetch(`http://127.0.0.1:${moved[8098]}/token?${q}`);
        expect(bad.status, q).toBe(400);
        expect(((await bad.json()) as { error: string }).error).toMatch(/email|unknown parameter|too long|twice/);
      }
      // The README's curl step-up, as written there: follow verification_url (-L), post Approve to <page>/decide,
      // then the check passes (polled: the signed webhook is asynchronous).
      const bob = (await (await fetch(`http://127.0.0.1:${moved[8098]}/token?sub=carol&amr=mfa`)).text()).trim();
      const checkout = () => fetch(`http://127.0.0.1:${moved[9192]}/check/payments/checkout`, { headers: { authorization: `Bearer ${bob}` } });
      const first = await checkout();
      expect(first.status).toBe(401);
      const url = ((await first.json()) as { verification_url: string }).verification_url;
      // `curl -s -L -d ''`: a POST, redirects followed (a 302 turns it into a GET, as curl does). When Didit was
      // slower than the Check's budget the URL is idgate's own start URL, whose POST creates the session.
      // Only the effective URL is kept (`-o /dev/null -w '%{url_effective}'`): the sandbox's hosted page.
      const session = (await fetch(url, { method: 'POST', body: '' })).url;
      expect(new URL(session).port).toBe(String(moved[8099]));
      expect((await fetch(session)).status).toBe(200);
      const decided = await fetch(`${session}/decide`, { method: 'POST', body: new URLSearchParams({ decision: 'approve' }), redirect: 'manual' });
      expect(decided.status).toBe(302);
      const deadline = Date.now() + 10_000;
      let after = await checkout();
      while (after.status !== 200 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        after = await checkout();
      }
      expect(after.status).toBe(200);
      expect(after.headers.get('x-idgate-verified')).toBe('kyc');
      // One JSON key per log line (the admin line printed "component" twice).
      for (const line of proc.output().split('\n')) expect(line.match(/"component":/g)?.length ?? 0, line).toBeLessThanOrEqual(1);
      expect(proc.output()).toContain('"msg":"admin server listening"');
    } finally {
      await proc.stop();
    }
  });

  it('a port clash at startup names the config key, not only the address', async () => {
    const busy = createServer();
    await new Promise<void>((res) => busy.listen(0, '127.0.0.1', () => res()));
    const port = (busy.address() as { port: number }).port;
    try {
      const file = join(dir, 'clash.yaml');
      writeFileSync(file, `server:\n  grpc: { port: 0 }\n  httpAuthz: { port: 0 }\n  public: { port: 0 }\n  admin: { port: ${port} }\ndidit: { mode: sandbox, sandboxPort: 0 }\n`);
      const r = idgate('serve', '--config', file);
      expect(r.code).toBe(3);
      expect(r.out + r.err).toContain(`change server.admin.port in ${file}`);
    } finally {
      await new Promise<void>((res) => busy.close(() => res()));
    }
  });
});
