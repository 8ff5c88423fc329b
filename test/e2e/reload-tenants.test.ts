import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readMetric, waitUntil } from '../support/admin-metrics.js';
import { testConfigYaml } from '../support/config-yaml.js';
import { startIdgate, type IdgateProcess } from '../support/idgate-process.js';
import { startJwksServer, type JwksServer } from '../support/jwks-server.js';
import { createTestKey, jwksOf } from '../support/tokens.js';

/**
 * Org-wide policy delivery (issue #14 item 4) on a real `idgate authz` process: the platform file and each
 * tenant's file are watched; a broken tenant file keeps that tenant's last good routes while another
 * tenant's change applies; a broken platform file keeps everything; a tenant whose file is missing at
 * start-up is reported and does not stop idgate. The process is observed through what an operator sees:
 * its logs (which file, which error, which revision serves) and its metrics (decisions on reloaded tenants
 * are in org-policy-front-ends.test.ts).
 */
let jwks: JwksServer;
let dir: string;
let idgate: IdgateProcess;

const PAYMENTS = `routes:
  - { id: refunds, match: { prefix: /refunds }, require: { scopes: [refunds] } }
`;
const SHOP = `routes:
  - { id: cart, match: { prefix: /cart }, require: { scopes: [cart] } }
`;
const OPS = `routes:
  - { id: status, match: { prefix: /status }, public: true }
`;
const TENANTS = `  guardrails:
    - { id: floor, match: { hosts: [pay.example.com] }, require: { scopes: [pay] } }
  tenants:
    - { name: payments, owns: { hosts: [pay.example.com] }, files: [tenants/payments.yaml] }
    - { name: shop, owns: { hosts: [shop.example.com] }, files: [tenants/shop.yaml] }
    - { name: ops, owns: { hosts: [ops.example.com] }, files: [tenants/ops.yaml] }
`;

const rev = (text: string): string => createHash('sha256').update(text).digest('hex').slice(0, 12);
const write = (name: string, text: string): void => writeFileSync(join(dir, name), text);

const metric = (line: string): Promise<number> => readMetric(idgate.ports.admin, line);
const waitFor = waitUntil;

const status = (tenant: string, s: string): Promise<number> => metric(`idgate_policy_tenant_status{tenant="${tenant}",status="${s}"}`);

/** The next `policy reloaded` line after `from` log lines whose tenants match `tenants`. */
function reloadedWith(from: number, tenants: Record<string, string>): Promise<Record<string, unknown>> {
  return idgate.waitForLog(
    (l) =>
      idgate.logs.indexOf(l) >= from &&
      l.msg === 'policy reloaded' &&
      Object.entries(tenants).every(([name, value]) => (l.tenants as Record<string, string> | undefined)?.[name] === value),
    15_000,
  );
}

beforeAll(async () => {
  const key = await createTestKey('RS256');
  jwks = await startJwksServer({ keys: jwksOf(key) });
  dir = mkdtempSync(join(tmpdir(), 'idgate-tenants-reload-'));
  mkdirSync(join(dir, 'tenants'));
  write('idgate.yaml', testConfigYaml({ issuer: jwks.url, jwksUri: jwks.jwksUrl, policyYaml: TENANTS }));
  write('tenants/payments.yaml', PAYMENTS);
  write('tenants/shop.yaml', SHOP);
  // tenants/ops.yaml is missing at start-up.
  idgate = await startIdgate({ configYaml: '', configPath: join(dir, 'idgate.yaml'), command: 'authz' });
}, 30_000);

afterAll(async () => {
  await Promise.all([idgate?.stop(), jwks?.close()]);
  rmSync(dir, { recursive: true, force: true });
});

describe('tenant files on a running process', () => {
  it('a tenant whose file is missing at start-up is logged and failed; idgate serves the others', async () => {
    const line = await idgate.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('tenant "ops" policy rejected'));
    expect(line).toMatchObject({ level: 50, tenant: 'ops', status: 'failed', revision: 'failed', files: [join(dir, 'tenants/ops.yaml')] });
    expect(String(line.detail)).toBe(`${join(dir, 'tenants/ops.yaml')}: cannot read the tenant file (ENOENT)`);
    expect(await status('ops', 'failed')).toBe(1);
    expect(await status('ops', 'ok')).toBe(0);
    expect(await status('payments', 'ok')).toBe(1);
    expect(await status('shop', 'ok')).toBe(1);
    expect(await metric('idgate_policy_tenant_load_failures_total{tenant="ops"}')).toBe(1);
  });

  it('a broken tenant file keeps that tenant\'s last good routes while another tenant\'s change applies', async () => {
    const partialBefore = await metric('idgate_config_reloads_total{result="partial"}');
    const from = idgate.logs.length;
    const broken = 'routes:\n  - { id: refunds, match: { prefix: /refunds }, requires: { scopes: [x] } }\n';
    const shop2 = SHOP.replace('[cart]', '[cart, write]');
    write('tenants/payments.yaml', broken);
    write('tenants/shop.yaml', shop2);

    const reloaded = await reloadedWith(from, { payments: `stale@${rev(PAYMENTS)}`, shop: `ok@${rev(shop2)}` });
    expect(reloaded.tenants).toMatchObject({ ops: 'failed@failed' });
    const error = idgate.logs.slice(from).find((l) => l.tenant === 'payments' && l.level === 50);
    expect(error?.msg).toBe('tenant "payments" policy rejected; keeping its last good routes');
    expect(String(error?.detail)).toBe(`${join(dir, 'tenants/payments.yaml')}:2:49 routes[0].requires: unknown key "requires" (did you mean "require"?)`);
    await waitFor(async () => (await status('payments', 'stale')) === 1, 5_000, 'the stale gauge');
    expect(await status('payments', 'ok')).toBe(0);
    expect(await status('shop', 'ok')).toBe(1);
    expect(await metric('idgate_config_reloads_total{result="partial"}')).toBeGreaterThan(partialBefore);
  });

  it('a broken platform file keeps everything, tenants included', async () => {
    const failureBefore = await metric('idgate_config_reloads_total{result="failure"}');
    const from = idgate.logs.length;
    const good = testConfigYaml({ issuer: jwks.url, jwksUri: jwks.jwksUrl, policyYaml: TENANTS });
    write('idgate.yaml', good.replace('  tenants:', '  tenantz:'));
    const rejected = await idgate.waitForLog((l) => idgate.logs.indexOf(l) >= from && l.msg === 'config reload rejected; keeping the current policy', 15_000);
    expect(rejected).toMatchObject({ level: 50, reason: 'invalid' });
    expect(String(rejected.detail)).toContain(`${join(dir, 'idgate.yaml')}:`);
    expect(String(rejected.detail)).toContain('unknown key "tenantz" (did you mean "tenants"?)');
    await waitFor(async () => (await metric('idgate_config_reloads_total{result="failure"}')) === failureBefore + 1, 5_000, 'the failure metric');
    expect(await status('payments', 'stale')).toBe(1);
    expect(await status('shop', 'ok')).toBe(1);
    expect(await status('ops', 'failed')).toBe(1);
    write('idgate.yaml', good);
  });

  it('fixing the files (and creating the missing one) brings every tenant back to ok', async () => {
    const from = idgate.logs.length;
    write('tenants/payments.yaml', PAYMENTS);
    write('tenants/ops.yaml', OPS);
    await reloadedWith(from, { payments: `ok@${rev(PAYMENTS)}`, ops: `ok@${rev(OPS)}` });
    await waitFor(async () => (await status('ops', 'ok')) === 1 && (await status('payments', 'ok')) === 1, 5_000, 'the ok gauges');
    expect(await status('payments', 'stale')).toBe(0);
    expect(await status('ops', 'failed')).toBe(0);
  });

  it('a tenant file replaced by a FIFO is refused without blocking the watcher', async () => {
    const from = idgate.logs.length;
    rmSync(join(dir, 'tenants/shop.yaml'));
    execFileSync('mkfifo', [join(dir, 'tenants/shop.yaml')]);
    await reloadedWith(from, { shop: `stale@${rev(SHOP.replace('[cart]', '[cart, write]'))}` });
    const error = idgate.logs.slice(from).find((l) => l.tenant === 'shop' && l.level === 50);
    expect(String(error?.detail)).toBe(`${join(dir, 'tenants/shop.yaml')}: cannot read the tenant file: it is not a regular file`);
    // The watcher still polls: the next change is seen.
    const next = idgate.logs.length;
    rmSync(join(dir, 'tenants/shop.yaml'));
    write('tenants/shop.yaml', SHOP);
    await reloadedWith(next, { shop: `ok@${rev(SHOP)}` });
  });

  it('a tenant file replaced by a directory goes stale on its last good routes; restored, it loads again', async () => {
    const from = idgate.logs.length;
    rmSync(join(dir, 'tenants/payments.yaml'));
    mkdirSync(join(dir, 'tenants/payments.yaml'));
    await reloadedWith(from, { payments: `stale@${rev(PAYMENTS)}`, shop: `ok@${rev(SHOP)}` });
    const error = idgate.logs.slice(from).find((l) => l.tenant === 'payments' && l.level === 50);
    expect(String(error?.detail)).toBe(`${join(dir, 'tenants/payments.yaml')}: cannot read the tenant file: it is not a regular file`);
    await waitFor(async () => (await status('payments', 'stale')) === 1, 5_000, 'the stale gauge');
    const next = idgate.logs.length;
    rmSync(join(dir, 'tenants/payments.yaml'), { recursive: true });
    write('tenants/payments.yaml', PAYMENTS);
    await reloadedWith(next, { payments: `ok@${rev(PAYMENTS)}` });
  });

  it('a tenant added by the platform file is loaded once (its file list joins the watch without a second reload)', async () => {
    const from = idgate.logs.length;
    write('tenants/docs.yaml', OPS);
    const withDocs = TENANTS.replace(
      '    - { name: ops,',
      '    - { name: docs, owns: { hosts: [docs.example.com] }, files: [tenants/docs.yaml] }\n    - { name: ops,',
    );
    write('idgate.yaml', testConfigYaml({ issuer: jwks.url, jwksUri: jwks.jwksUrl, policyYaml: withDocs }));
    await reloadedWith(from, { docs: `ok@${rev(OPS)}` });
    expect(await status('docs', 'ok')).toBe(1);
    await sleep(2_500);
    expect(idgate.logs.slice(from).filter((l) => l.msg === 'policy reloaded')).toHaveLength(1);
  });
});
