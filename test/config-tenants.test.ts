import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../src/config/config-error.js';
import { loadConfig } from '../src/config/load-config.js';
import { parseConfig } from '../src/config/parse-config.js';
import type { IdgateConfig, TenantConfig } from '../src/config/types.js';

/**
 * Org-wide policy, the config layer (issue #14): a platform file with guardrails and tenants, each tenant's
 * routes in its own files. Real files in a temp dir, loaded by `loadConfig` exactly as `idgate` loads them.
 */
const PLATFORM_HEAD = `issuers:
  - { name: corp, issuer: https://corp.example, audiences: [api], jwksUri: https://corp.example/jwks }
  - { name: partner, issuer: https://partner.example, audiences: [api], jwksUri: https://partner.example/jwks }
workflows:
  kyc: { workflowId: 11111111-1111-4111-8111-111111111111 }
didit: { mode: sandbox }
context: { countryHeader: x-geo-country }
policy:
  default: deny
  sensitivity:
    high: { mfa: true }
`;

const GUARDRAILS = `  guardrails:
    - id: embargo
      match: { paths: [{ glob: /** }] }
      conditions: [{ name: embargo, when: { country: { in: [KP, IR] } }, then: deny }]
    - id: payments-floor
      match: { hosts: [pay.example.com] }
      require: { issuers: [corp], mfa: { amr: [mfa] }, verification: [kyc], verificationMaxAge: 30d }
`;

const TENANTS = `  tenants:
    - { name: payments, owns: { hosts: [pay.example.com], prefixes: [/] }, files: [tenants/payments.yaml] }
    - { name: shop, owns: { hosts: [shop.example.com, "*.shop.example.com"], prefixes: [/cart, /orders] }, files: [tenants/shop.yaml, tenants/shop-extra.yaml] }
`;

const PLATFORM = `${PLATFORM_HEAD}${GUARDRAILS}${TENANTS}  defaults:
    routes:
      - { id: fallback, match: { prefix: / }, require: { scopes: [read] } }
  routes:
    - { id: health, match: { path: /healthz }, public: true }
`;

const PAYMENTS = `routes:
  - id: refunds
    match: { prefix: /refunds }
    require: { scopes: [refunds] }
  - id: status
    match: { path: /status }
    public: true
`;
const SHOP = `routes:
  - { id: cart, match: { prefix: /cart }, require: { scopes: [cart] } }
`;
const SHOP_EXTRA = `routes:
  - { id: orders, match: { hosts: [eu.shop.example.com], prefix: /orders/eu }, require: { scopes: [orders] } }
`;

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'idgate-tenants-'));
  mkdirSync(join(dir, 'tenants'));
  write('idgate.yaml', PLATFORM);
  write('tenants/payments.yaml', PAYMENTS);
  write('tenants/shop.yaml', SHOP);
  write('tenants/shop-extra.yaml', SHOP_EXTRA);
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function write(name: string, text: string): void {
  writeFileSync(join(dir, name), text);
}

const platformPath = (): string => join(dir, 'idgate.yaml');

async function load(previous?: IdgateConfig): Promise<IdgateConfig> {
  return loadConfig(platformPath(), { env: {}, ...(previous !== undefined ? { previous } : {}) });
}

function tenant(config: IdgateConfig, name: string): TenantConfig {
  const t = config.policy.tenants.find((x) => x.name === name);
  if (t === undefined) throw new Error(`no tenant ${name}`);
  return t;
}

async function platformError(): Promise<ConfigError> {
  try {
    await load();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected the platform file to be rejected');
}

/** 1-based line and column of `needle`'s first occurrence in `text`. */
function at(text: string, needle: string): string {
  const index = text.indexOf(needle);
  if (index < 0) throw new Error(`${needle} not in text`);
  const before = text.slice(0, index).split('\n');
  return `${before.length}:${(before.at(-1)?.length ?? 0) + 1}`;
}

const rev = (...texts: string[]): string => {
  const h = createHash('sha256');
  for (const t of texts) h.update(t);
  return h.digest('hex').slice(0, 12);
};

describe('loading a platform file with guardrails, tenants and defaults', () => {
  it('reads each tenant\'s files in order, qualifies route ids and computes revisions', async () => {
    const config = await load();
    expect(config.policy.revision).toBe(rev(PLATFORM));
    const payments = tenant(config, 'payments');
    expect(payments).toMatchObject({ status: 'ok', revision: rev(PAYMENTS), owns: { hosts: ['pay.example.com'], prefixes: ['/'] } });
    expect(payments.error).toBeUndefined();
    expect(payments.files).toEqual([join(dir, 'tenants/payments.yaml')]);
    expect(payments.routes.map((r) => r.id)).toEqual(['payments/refunds', 'payments/status']);
    expect(payments.routes[1]?.action).toBe('public');
    const shop = tenant(config, 'shop');
    expect(shop.routes.map((r) => r.id)).toEqual(['shop/cart', 'shop/orders']);
    expect(shop.revision).toBe(rev(SHOP, SHOP_EXTRA));
    expect(config.policy.defaults.routes.map((r) => r.id)).toEqual(['fallback']);
    expect(config.policy.routes.map((r) => r.id)).toEqual(['health']);
    expect(Object.isFrozen(shop.routes[0])).toBe(true);
  });

  it('parses guardrails: deny conditions, floors, and NO_REQUIREMENTS when require is absent', async () => {
    const [embargo, floor] = (await load()).policy.guardrails;
    expect(embargo).toMatchObject({ id: 'embargo', action: 'require', require: { authenticated: false, issuers: [] }, riskBands: [] });
    expect(embargo?.conditions[0]).toMatchObject({ name: 'embargo', when: { kind: 'country', in: ['KP', 'IR'] }, then: { kind: 'deny' } });
    expect(floor).toMatchObject({
      id: 'payments-floor',
      match: { hosts: ['pay.example.com'], paths: [] },
      require: { authenticated: true, issuers: ['corp'], mfa: { amr: ['mfa'] }, verification: ['kyc'], verificationMaxAgeMs: 30 * 86_400_000 },
    });
  });

  it('records where routes and guardrails were declared, non-enumerable', async () => {
    const config = await load();
    const floor = config.policy.guardrails[1];
    expect(floor?.source).toEqual({ file: platformPath(), line: Number(at(PLATFORM, 'id: payments-floor').split(':')[0]), column: 7 });
    expect(Object.keys(floor ?? {})).not.toContain('source');
    const refunds = tenant(config, 'payments').routes[0];
    expect(refunds?.source).toEqual({ file: join(dir, 'tenants/payments.yaml'), line: 2, column: 5 });
    expect(JSON.stringify(refunds)).not.toContain('"source"');
    expect(config.policy.routes[0]?.source?.line).toBe(Number(at(PLATFORM, '{ id: health').split(':')[0]));
    expect(config.policy.defaults.routes[0]?.source?.file).toBe(platformPath());
  });

  it('a single-file config without org keys loads as before, with empty org sections', () => {
    const text = readFileSync('examples/idgate.yaml', 'utf8');
    const config = parseConfig(text, { sourceName: 'examples/idgate.yaml', env: {} });
    expect(config.policy).toMatchObject({ guardrails: [], tenants: [], defaults: { routes: [] }, revision: '' });
    expect(config.policy.routes.length).toBeGreaterThan(0);
  });

  it('parseConfig without a tenant reader marks every tenant failed (never silently empty)', () => {
    const config = parseConfig(PLATFORM, { sourceName: join(dir, 'idgate.yaml'), env: {} });
    expect(config.policy.tenants.map((t) => [t.name, t.status, t.revision])).toEqual([['payments', 'failed', 'failed'], ['shop', 'failed', 'failed']]);
    expect(tenant(config, 'payments').error).toContain('not read');
  });
});

describe('tenant file errors fail only that tenant, with file:line:col and the rule broken', () => {
  async function tenantError(file: string, text: string, name: string): Promise<string> {
    write(file, text);
    const config = await load();
    const t = tenant(config, name);
    expect(t.status).toBe('failed');
    expect(t.routes).toEqual([]);
    expect(t.revision).toBe('failed');
    // The other tenants load regardless.
    for (const other of config.policy.tenants.filter((x) => x.name !== name)) expect(other.status).toBe('ok');
    return t.error ?? '';
  }

  it('a host the tenant does not own', async () => {
    const text = `routes:\n  - { id: api, match: { hosts: [api.example.com] }, require: { scopes: [x] } }\n`;
    const error = await tenantError('tenants/payments.yaml', text, 'payments');
    expect(error).toBe(`${join(dir, 'tenants/payments.yaml')}:${at(text, 'api.example.com')} routes[0].match.hosts[0]: host "api.example.com" is not owned by tenant "payments" (owns pay.example.com)`);
  });

  it('a wildcard route host needs an owned wildcard; an exact host under an owned wildcard is fine', async () => {
    const text = `routes:\n  - { id: a, match: { host: x.shop.example.com, prefix: /cart }, require: { scopes: [x] } }\n  - { id: b, match: { host: "*.example.com", prefix: /cart }, require: { scopes: [x] } }\n`;
    const error = await tenantError('tenants/shop.yaml', text, 'shop');
    expect(error.split('\n')).toEqual([
      `${join(dir, 'tenants/shop.yaml')}:${at(text, '"*.example.com"')} routes[1].match.host: host "*.example.com" is not owned by tenant "shop" (owns shop.example.com, *.shop.example.com)`,
    ]);
  });

  it('a path outside the owned prefixes (segment-aware: /cartx is not under /cart)', async () => {
    const text = `routes:\n  - { id: a, match: { paths: [{ prefix: /cart/x }, { glob: "/cartx/**" }] }, require: { scopes: [x] } }\n`;
    const error = await tenantError('tenants/shop.yaml', text, 'shop');
    expect(error).toBe(
      `${join(dir, 'tenants/shop.yaml')}:${at(text, '"/cartx/**"')} routes[0].match.paths[1].glob: path glob "/cartx/**" is not under a prefix owned by tenant "shop" (owns /cart, /orders)`,
    );
  });

  it('an unsatisfiable merge with a guardrail: no issuer accepted by both', async () => {
    const text = `routes:\n  - id: refunds\n    match: { prefix: /refunds }\n    require: { issuers: [partner] }\n`;
    const error = await tenantError('tenants/payments.yaml', text, 'payments');
    expect(error).toBe(
      `${join(dir, 'tenants/payments.yaml')}:${at(text, '[partner]')} routes[0].require.issuers: unsatisfiable merge with guardrail "payments-floor" (${platformPath()}:${at(PLATFORM, 'id: payments-floor')}): no issuer is accepted by both (route: partner; guardrail: corp)`,
    );
  });

  it('an unsatisfiable merge with a guardrail: no country allowed by both', async () => {
    const text = `routes:\n  - id: refunds\n    match: { prefix: /refunds }\n    conditions:\n      - { name: only-iran, when: { country: { notIn: [IR] } }, then: deny }\n`;
    const error = await tenantError('tenants/payments.yaml', text, 'payments');
    expect(error).toContain(`${join(dir, 'tenants/payments.yaml')}:${at(text, '{ name: only-iran')} routes[0].conditions[0]: unsatisfiable merge with guardrail "embargo"`);
    expect(error).toContain('no country is allowed by both');
  });

  it('a guardrail whose hosts cannot overlap the route does not count', async () => {
    // shop routes never meet payments-floor (pay.example.com only), so its issuers do not conflict.
    write('tenants/shop.yaml', `routes:\n  - { id: cart, match: { prefix: /cart }, require: { issuers: [partner] } }\n`);
    expect(tenant(await load(), 'shop').status).toBe('ok');
  });

  it('platform keys in a tenant file', async () => {
    const text = `guardrails: []\ntenants: []\nroutes: []\nroutez: []\n`;
    const error = await tenantError('tenants/payments.yaml', text, 'payments');
    const file = join(dir, 'tenants/payments.yaml');
    expect(error.split('\n')).toEqual([
      `${file}:1:1 guardrails: a tenant file holds only routes: "guardrails" belongs to the platform file`,
      `${file}:2:1 tenants: a tenant file holds only routes: "tenants" belongs to the platform file`,
      `${file}:4:1 routez: unknown key "routez" (did you mean "routes"?)`,
    ]);
  });

  it('duplicate route ids within a tenant, across its files', async () => {
    const text = `routes:\n  - { id: cart, match: { prefix: /orders }, require: { scopes: [x] } }\n`;
    const error = await tenantError('tenants/shop-extra.yaml', text, 'shop');
    expect(error).toBe(`${join(dir, 'tenants/shop-extra.yaml')}:2:11 routes[0].id: duplicate route id "cart" (first used by routes[0] in ${join(dir, 'tenants/shop.yaml')})`);
  });

  it('the platform\'s references are checked in tenant routes (issuers, workflows, sensitivity)', async () => {
    const text = `routes:\n  - { id: a, match: { prefix: /a }, require: { issuers: [crop], verification: [kcy] }, sensitivity: hihg }\n`;
    const error = await tenantError('tenants/payments.yaml', text, 'payments');
    expect(error).toContain('routes[0].require.issuers[0]: unknown issuer "crop"');
    expect(error).toContain('unknown workflow "kcy"');
    expect(error).toContain('unknown sensitivity level "hihg"');
  });

  it('a missing file, an empty file, a YAML error', async () => {
    rmSync(join(dir, 'tenants/payments.yaml'));
    expect(tenant(await load(), 'payments').error).toBe(`${join(dir, 'tenants/payments.yaml')}: cannot read the tenant file (ENOENT)`);
    expect(await tenantError('tenants/payments.yaml', '# nothing yet\n', 'payments')).toContain('the tenant file is empty or holds only comments');
    expect(await tenantError('tenants/payments.yaml', 'routes:\n  - { id: a\n', 'payments')).toMatch(/payments\.yaml:\d+:\d+: YAML syntax error/);
  });

  it('a huge file is refused without reading it all', async () => {
    const error = await tenantError('tenants/payments.yaml', `routes: []\n${'#'.repeat(5 * 1024 * 1024)}\n`, 'payments');
    expect(error).toContain('tenant file too large');
  });

  it('a symlink leading outside the platform file\'s directory is refused', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'idgate-outside-'));
    try {
      writeFileSync(join(outside, 'evil.yaml'), SHOP);
      rmSync(join(dir, 'tenants/payments.yaml'));
      symlinkSync(join(outside, 'evil.yaml'), join(dir, 'tenants/payments.yaml'));
      const error = tenant(await load(), 'payments').error;
      expect(error).toBe(`${join(dir, 'tenants/payments.yaml')}: cannot read the tenant file: it resolves (through a symlink) outside the platform file's directory`);
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it('a symlink loop', async () => {
    rmSync(join(dir, 'tenants/payments.yaml'));
    symlinkSync('loop-b.yaml', join(dir, 'tenants/payments.yaml'));
    symlinkSync('payments.yaml', join(dir, 'tenants/loop-b.yaml'));
    expect(tenant(await load(), 'payments').error).toBe(`${join(dir, 'tenants/payments.yaml')}: cannot read the tenant file (ELOOP)`);
  });

  it('a FIFO or a directory is refused, never read (a read of a FIFO would block the load)', async () => {
    rmSync(join(dir, 'tenants/payments.yaml'));
    execFileSync('mkfifo', [join(dir, 'tenants/payments.yaml')]);
    expect(tenant(await load(), 'payments').error).toBe(`${join(dir, 'tenants/payments.yaml')}: cannot read the tenant file: it is not a regular file`);
    rmSync(join(dir, 'tenants/payments.yaml'));
    mkdirSync(join(dir, 'tenants/payments.yaml'));
    expect(tenant(await load(), 'payments').error).toBe(`${join(dir, 'tenants/payments.yaml')}: cannot read the tenant file: it is not a regular file`);
  });

  it('a YAML alias bomb is refused at its first alias, without expanding it', async () => {
    const text = `a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\nroutes: []\n`;
    const started = Date.now();
    const error = await tenantError('tenants/payments.yaml', text, 'payments');
    expect(error).toBe(`${join(dir, 'tenants/payments.yaml')}:${at(text, '*a')}: YAML error: Excessive alias count indicates a resource exhaustion attack`);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('deeply nested YAML is a located syntax error, not a stack overflow that escapes the load', async () => {
    const text = `routes: ${'['.repeat(20_000)}${']'.repeat(20_000)}\n`;
    const error = await tenantError('tenants/payments.yaml', text, 'payments');
    const lines = error.split('\n');
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(line).toMatch(new RegExp(`^${join(dir, 'tenants/payments.yaml')}:1:\\d+: YAML syntax error: Maximum call stack size exceeded$`));
  });

  it('anchors, aliases and merge keys cannot smuggle keys in: a merge key is an unknown key, not a merge', async () => {
    const text = `x: &x { public: true }\nroutes:\n  - { <<: *x, id: a, match: { prefix: /refunds } }\n`;
    const error = await tenantError('tenants/payments.yaml', text, 'payments');
    const file = join(dir, 'tenants/payments.yaml');
    expect(error.split('\n')).toEqual([`${file}:1:1 x: unknown key "x"`, `${file}:${at(text, '<<')} routes[0]["<<"]: unknown key "<<"`]);
  });

  it('duplicate keys, at the top and inside a route, are syntax errors (never "the last one wins")', async () => {
    const file = join(dir, 'tenants/payments.yaml');
    expect(await tenantError('tenants/payments.yaml', 'routes: []\nroutes: []\n', 'payments')).toBe(`${file}:2:1: YAML syntax error: Map keys must be unique`);
    const text = `routes:\n  - { id: a, match: { prefix: /refunds }, require: { scopes: [x] }, public: false, public: true }\n`;
    expect(await tenantError('tenants/payments.yaml', text, 'payments')).toBe(`${file}:${at(text, 'public: true')}: YAML syntax error: Map keys must be unique`);
  });

  it('every platform-only section is refused by name, whatever a team copies into its file', async () => {
    const keys = ['server', 'issuers', 'workflows', 'didit', 'store', 'network', 'headers', 'policy', 'defaults', 'default', 'shadow', 'sensitivity', 'revision'];
    const text = `${keys.map((k) => `${k}: {}`).join('\n')}\nroutes: []\n`;
    const lines = (await tenantError('tenants/payments.yaml', text, 'payments')).split('\n');
    expect(lines).toEqual(keys.map((k, i) => `${join(dir, 'tenants/payments.yaml')}:${i + 1}:1 ${k}: a tenant file holds only routes: "${k}" belongs to the platform file`));
  });

  it('a route naming another team\'s host or prefix fails the team (never widens it), whatever its spelling', async () => {
    // payments owns pay.example.com; shop owns /cart and /orders on shop.example.com and *.shop.example.com.
    for (const [file, name, route, message] of [
      ['tenants/payments.yaml', 'payments', '{ id: a, match: { host: SHOP.Example.com }, public: true }', 'host "shop.example.com" is not owned by tenant "payments"'],
      ['tenants/payments.yaml', 'payments', '{ id: a, match: { host: "*.example.com" }, public: true }', 'host "*.example.com" is not owned by tenant "payments"'],
      ['tenants/shop.yaml', 'shop', '{ id: a, match: { prefix: /car }, public: true }', 'path prefix "/car" is not under a prefix owned by tenant "shop"'],
      ['tenants/shop.yaml', 'shop', '{ id: a, match: { glob: "/*/x" }, public: true }', 'path glob "/*/x" is not under a prefix owned by tenant "shop"'],
      ['tenants/shop.yaml', 'shop', '{ id: a, match: { prefix: /cart/../admin }, public: true }', 'path is not canonical'],
    ] as const) {
      const error = await tenantError(file, `routes:\n  - ${route}\n`, name);
      expect(error, route).toContain(message);
      write(file, name === 'shop' ? SHOP : PAYMENTS);
    }
  });

  it('a case-insensitive route cannot escape a case-sensitive guardrail: refused where they can overlap', async () => {
    // /ADMIN/x would match this route (the team says its upstream ignores case) but not the guardrail.
    const guarded = PLATFORM.replace('  tenants:', '    - { id: no-admin, match: { paths: [{ prefix: /cart/admin }] }, deny: true }\n  tenants:');
    write('idgate.yaml', guarded);
    const text = `routes:\n  - { id: cart, match: { prefix: /cart, caseSensitive: false }, public: true }\n`;
    const error = await tenantError('tenants/shop.yaml', text, 'shop');
    expect(error).toBe(
      `${join(dir, 'tenants/shop.yaml')}:${at(text, 'false')} routes[0].match.caseSensitive: a case-insensitive route can escape the case-sensitive guardrail "no-admin" (${platformPath()}:${at(guarded, '{ id: no-admin')}): a path spelled in another case would match this route but not the guardrail (ask the platform team for caseSensitive: false on the guardrail, or drop it here)`,
    );
    // Fine where they cannot overlap (ignoring case), or once the guardrail ignores case too.
    write('tenants/shop.yaml', `routes:\n  - { id: list, match: { prefix: /orders/list, caseSensitive: false }, public: true }\n  - { id: cart, match: { prefix: /cart/admin }, deny: true }\n`);
    expect(tenant(await load(), 'shop').status).toBe('ok');
    write('idgate.yaml', guarded.replace('[{ prefix: /cart/admin }] }', '[{ prefix: /cart/admin }], caseSensitive: false }'));
    write('tenants/shop.yaml', text);
    expect(tenant(await load(), 'shop').status).toBe('ok');
  });

  it('a ConfigMap-style symlink (..data inside the directory) is followed', async () => {
    mkdirSync(join(dir, 'tenants/..2026_01_01'));
    writeFileSync(join(dir, 'tenants/..2026_01_01/payments.yaml'), PAYMENTS);
    symlinkSync('..2026_01_01', join(dir, 'tenants/..data'));
    rmSync(join(dir, 'tenants/payments.yaml'));
    symlinkSync('..data/payments.yaml', join(dir, 'tenants/payments.yaml'));
    expect(tenant(await load(), 'payments')).toMatchObject({ status: 'ok', revision: rev(PAYMENTS) });
  });
});

describe('tenant states across loads', () => {
  it('stale: a tenant whose files break keeps its previous good routes and revision; the others load anew', async () => {
    const first = await load();
    write('tenants/payments.yaml', 'routes:\n  - { id: refunds, match: { prefix: /refunds }, requires: {} }\n');
    const changedShop = SHOP.replace('[cart]', '[cart, write]');
    write('tenants/shop.yaml', changedShop);
    const second = await load(first);
    const payments = tenant(second, 'payments');
    expect(payments).toMatchObject({ status: 'stale', revision: rev(PAYMENTS) });
    expect(payments.routes).toEqual(tenant(first, 'payments').routes);
    expect(payments.error).toContain('unknown key "requires" (did you mean "require"?)');
    expect(tenant(second, 'shop')).toMatchObject({ status: 'ok', revision: rev(changedShop, SHOP_EXTRA) });
    expect(tenant(second, 'shop').routes[0]?.require.scopes).toEqual(['cart', 'write']);

    // Still broken on the next load: still the first good version (a stale tenant is a good previous).
    const third = await load(second);
    expect(tenant(third, 'payments')).toMatchObject({ status: 'stale', revision: rev(PAYMENTS) });
    expect(tenant(third, 'payments').routes.map((r) => r.id)).toEqual(['payments/refunds', 'payments/status']);

    write('tenants/payments.yaml', PAYMENTS);
    expect(tenant(await load(third), 'payments')).toMatchObject({ status: 'ok', revision: rev(PAYMENTS) });
  });

  it('a tenant file replaced by a directory or a FIFO after a good load: stale on its last good routes, never read', async () => {
    const first = await load();
    const file = join(dir, 'tenants/payments.yaml');
    rmSync(file);
    mkdirSync(file);
    const second = await load(first);
    expect(tenant(second, 'payments')).toMatchObject({ status: 'stale', revision: rev(PAYMENTS), error: `${file}: cannot read the tenant file: it is not a regular file` });
    expect(tenant(second, 'payments').routes).toEqual(tenant(first, 'payments').routes);
    rmSync(file, { recursive: true });
    execFileSync('mkfifo', [file]);
    expect(tenant(await load(second), 'payments')).toMatchObject({ status: 'stale', revision: rev(PAYMENTS), error: `${file}: cannot read the tenant file: it is not a regular file` });
  });

  it('a ConfigMap ..data link swapped to a directory outside after a good load: stale, the outside file never read', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'idgate-outside-'));
    try {
      mkdirSync(join(dir, 'tenants/..2026_01_01'));
      writeFileSync(join(dir, 'tenants/..2026_01_01/payments.yaml'), PAYMENTS);
      symlinkSync('..2026_01_01', join(dir, 'tenants/..data'));
      rmSync(join(dir, 'tenants/payments.yaml'));
      symlinkSync('..data/payments.yaml', join(dir, 'tenants/payments.yaml'));
      const first = await load();
      expect(tenant(first, 'payments').status).toBe('ok');
      // A looser copy outside the platform file's directory, then the swap kubelet would do, but outward.
      writeFileSync(join(outside, 'payments.yaml'), 'routes:\n  - { id: refunds, match: { prefix: /refunds }, public: true }\n');
      rmSync(join(dir, 'tenants/..data'));
      symlinkSync(outside, join(dir, 'tenants/..data'));
      const second = await load(first);
      expect(tenant(second, 'payments')).toMatchObject({ status: 'stale', revision: rev(PAYMENTS) });
      expect(tenant(second, 'payments').error).toContain("outside the platform file's directory");
      expect(tenant(second, 'payments').routes.find((r) => r.id === 'payments/refunds')?.action).toBe('require');
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it('failed: broken with no previous good version (e.g. at start-up)', async () => {
    write('tenants/payments.yaml', 'routes: 3\n');
    const config = await load();
    expect(tenant(config, 'payments')).toMatchObject({ status: 'failed', routes: [], revision: 'failed' });
    expect(tenant(config, 'payments').error).toBe(`${join(dir, 'tenants/payments.yaml')}:1:9 routes: expected a list, got number`);
    expect(tenant(config, 'shop').status).toBe('ok');
  });
});

describe('platform file errors fail the load', () => {
  async function platformErrorFor(policyPart: string): Promise<{ text: string; message: string }> {
    const text = `${PLATFORM_HEAD}${policyPart}`;
    write('idgate.yaml', text);
    return { text, message: (await platformError()).format() };
  }

  it('overlapping ownership between tenants names both tenants and both grants', async () => {
    const { text, message } = await platformErrorFor(`  tenants:
    - { name: payments, owns: { hosts: [pay.example.com], prefixes: [/api] }, files: [tenants/payments.yaml] }
    - { name: shop, owns: { hosts: ["*.example.com"], prefixes: [/api/shop] }, files: [tenants/shop.yaml] }
`);
    expect(message).toBe(
      `${platformPath()}:${at(text, '"*.example.com"')} policy.tenants[1].owns.hosts[0]: ownership overlap: tenant "shop" (host *.example.com, prefix /api/shop) overlaps tenant "payments" (host pay.example.com, prefix /api, policy.tenants[0]); a request may belong to one tenant only`,
    );
  });

  it('prefixes that differ only in letter case overlap: two teams cannot split /shop and /Shop', async () => {
    const { text, message } = await platformErrorFor(`  tenants:
    - { name: payments, owns: { hosts: [pay.example.com], prefixes: [/shop] }, files: [tenants/payments.yaml] }
    - { name: shop, owns: { hosts: [pay.example.com], prefixes: [/Shop/cart] }, files: [tenants/shop.yaml] }
`);
    expect(message).toBe(
      `${platformPath()}:${at(text, 'pay.example.com], prefixes: [/Shop')} policy.tenants[1].owns.hosts[0]: ownership overlap: tenant "shop" (host pay.example.com, prefix /Shop/cart) overlaps tenant "payments" (host pay.example.com, prefix /shop, policy.tenants[0]) (prefixes compared ignoring case); a request may belong to one tenant only`,
    );
  });

  it('disjoint grants do not overlap (segment-aware prefixes, one-label wildcards)', async () => {
    write('idgate.yaml', `${PLATFORM_HEAD}  tenants:
    - { name: a, owns: { hosts: [pay.example.com], prefixes: [/api] }, files: [tenants/payments.yaml] }
    - { name: b, owns: { hosts: [pay.example.com], prefixes: [/apix] }, files: [tenants/shop.yaml] }
    - { name: c, owns: { hosts: ["*.example.com"], prefixes: [/] }, files: [tenants/shop-extra.yaml] }
`);
    // c's wildcard covers pay.example.com under / : it overlaps a and b; a and b do not overlap each other.
    const lines = (await platformError()).format().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain('tenant "c" (host *.example.com, prefix /) overlaps tenant "a" (host pay.example.com, prefix /api,');
    expect(lines[1]).toContain('tenant "c" (host *.example.com, prefix /) overlaps tenant "b" (host pay.example.com, prefix /apix,');
  });

  it('tenant names, tenant file paths escaping the directory, duplicate and malformed guardrails', async () => {
    const { text, message } = await platformErrorFor(`  guardrails:
    - { id: g1, match: { contextExtensions: { policy: x } }, deny: true }
    - { id: g1, match: { prefix: / }, sensitivity: hihg, require: { verification: [kcy] } }
    - { id: "bad id", deny: true, require: { scopes: [a] } }
  tenants:
    - { name: Payments, owns: { hosts: [pay.example.com] }, files: [../../etc/passwd] }
    - { name: shop, owns: { hosts: [shop.example.com] }, files: [/etc/passwd] }
    - { name: shop, owns: { hosts: [other.example.com] }, files: [tenants/shop.yaml] }
`);
    const lines = message.split('\n');
    const file = platformPath();
    expect(lines).toEqual([
      `${file}:${at(text, 'contextExtensions')} policy.guardrails[0].match.contextExtensions: a guardrail applies to every request it matches, whatever the proxy labels it: contextExtensions is not allowed in guardrails (match on hosts, paths, methods or principals)`,
      `${file}:${at(text, 'g1, match: { prefix')} policy.guardrails[1].id: duplicate guardrail id "g1" (first used by policy.guardrails[0])`,
      `${file}:${at(text, 'hihg')} policy.guardrails[1].sensitivity: unknown sensitivity level "hihg" (did you mean "high"?) (defined: high)`,
      `${file}:${at(text, 'kcy')} policy.guardrails[1].require.verification[0]: unknown workflow "kcy" (did you mean "kyc"?) (defined: kyc)`,
      `${file}:${at(text, '"bad id"')} policy.guardrails[2].id: must match [A-Za-z0-9_.-]+`,
      `${file}:${at(text, 'require: { scopes: [a] } }')} policy.guardrails[2].require: a deny guardrail cannot have requirements`,
      `${file}:${at(text, 'Payments')} policy.tenants[0].name: tenant names must match [a-z0-9_-]+`,
      `${file}:${at(text, '../../etc/passwd')} policy.tenants[0].files[0]: tenant file "../../etc/passwd" escapes the platform file's directory`,
      `${file}:${at(text, '/etc/passwd] }\n    - { name: shop, owns: { hosts: [other')} policy.tenants[1].files[0]: tenant files are relative to the platform file's directory, not absolute: "/etc/passwd"`,
      `${file}:${at(text, 'shop, owns: { hosts: [other')} policy.tenants[2].name: duplicate tenant name "shop" (first used by policy.tenants[1])`,
    ]);
  });

  it('a platform or default route whose merge with an overlapping guardrail is unsatisfiable', async () => {
    const { text, message } = await platformErrorFor(`${GUARDRAILS}  defaults:
    routes:
      - { id: fallback, match: { prefix: / }, require: { issuers: [partner] } }
  routes:
    - { id: other-host, match: { host: api.example.com }, require: { issuers: [partner] } }
    - id: pay
      match: { host: pay.example.com }
      conditions: [{ name: iran-only, when: { country: { notIn: [IR] } }, then: deny }]
`);
    const file = platformPath();
    const floor = `guardrail "payments-floor" (${file}:${at(text, 'id: payments-floor')})`;
    expect(message.split('\n')).toEqual([
      // fallback has no host: it can meet pay.example.com.
      `${file}:${at(text, '[partner] } }\n  routes')} policy.defaults.routes[0].require.issuers: unsatisfiable merge with ${floor}: no issuer is accepted by both (route: partner; guardrail: corp)`,
      // other-host (api.example.com) never meets payments-floor; pay never meets an issuer list, but meets the embargo.
      `${file}:${at(text, '{ name: iran-only')} policy.routes[1].conditions[0]: unsatisfiable merge with guardrail "embargo" (${file}:${at(text, 'id: embargo')}): no country is allowed by both the route's and the guardrail's country conditions`,
    ]);
  });

  it('a user cannot write policy.revision', async () => {
    const { message } = await platformErrorFor('  revision: abc\n');
    expect(message).toContain('policy.revision: unknown key "revision"');
  });
});
