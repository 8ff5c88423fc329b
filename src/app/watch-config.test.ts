import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../config/load-config.js';
import type { TenantConfig } from '../config/types.js';
import type { ReloadPlan } from './reload-plan.js';
import { watchConfig } from './watch-config.js';

/**
 * The hot-reload watcher on real files: a change to a tenant file is a change even when it lands while a
 * reload that took in a new tenant list is still being applied (between the load's read and the moment
 * the watcher records what it has seen).
 */
const PLATFORM = (tenants: string) => `issuers:
  - { name: corp, issuer: https://corp.example, audiences: [api], jwksUri: https://corp.example/jwks }
didit: { mode: sandbox }
policy:
  tenants:
${tenants}  routes:
    - { id: health, match: { path: /healthz }, public: true }
`;
const PAY = '    - { name: pay, owns: { hosts: [pay.example.com] }, files: [tenants/pay.yaml] }\n';
const SHOP = '    - { name: shop, owns: { hosts: [shop.example.com] }, files: [tenants/shop.yaml] }\n';
const routes = (scope: string) => `routes:\n  - { id: r, match: { prefix: /r }, require: { scopes: [${scope}] } }\n`;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'idgate-watch-'));
  mkdirSync(join(dir, 'tenants'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const write = (name: string, text: string): void => writeFileSync(join(dir, name), text);
const scopesOf = (tenants: readonly TenantConfig[], name: string): readonly string[] | undefined =>
  tenants.find((t) => t.name === name)?.routes[0]?.require.scopes;

describe('watchConfig', () => {
  it('a team edit that lands while a reload adding its tenant is applied is still reloaded', async () => {
    write('platform.yaml', PLATFORM(PAY));
    write('tenants/pay.yaml', routes('pay'));
    write('tenants/shop.yaml', routes('v1'));
    const path = join(dir, 'platform.yaml');
    const initial = await loadConfig(path, { env: {} });
    const applied: ReloadPlan[] = [];
    const seen: (readonly TenantConfig[])[] = [];
    const watcher = watchConfig(
      { logger: pino({ level: 'silent' }), env: {} },
      {
        path,
        initial,
        intervalMs: 3_600_000, // polled by hand below
        capabilities: { workflowsWired: false },
        apply: (plan) => {
          applied.push(plan);
          // The shop team ships v2 right after this load read v1, before the watcher records what it saw.
          if (applied.length === 1) write('tenants/shop.yaml', routes('v2'));
        },
        onTenants: (tenants) => seen.push(tenants),
      },
    );
    try {
      // The watcher's first check (run at start) only records the baseline; let it finish.
      await new Promise((resolve) => setTimeout(resolve, 500));
      await watcher.checkNow();
      write('platform.yaml', PLATFORM(PAY + SHOP));
      await watcher.checkNow();
      expect(applied).toHaveLength(1);
      expect(scopesOf(seen[0] ?? [], 'shop')).toEqual(['v1']);
      // The next poll sees shop's v2 as the change it is, not as what the first reload already loaded.
      await watcher.checkNow();
      expect(applied).toHaveLength(2);
      expect(scopesOf(seen[1] ?? [], 'shop')).toEqual(['v2']);
      // And then nothing changed: no further reload.
      await watcher.checkNow();
      expect(applied).toHaveLength(2);
    } finally {
      watcher.stop();
    }
  });

  it('a platform file replaced by a FIFO is skipped without blocking the watcher; restored, it reloads', async () => {
    write('platform.yaml', PLATFORM(PAY));
    write('tenants/pay.yaml', routes('pay'));
    const path = join(dir, 'platform.yaml');
    const applied: ReloadPlan[] = [];
    const watcher = watchConfig(
      { logger: pino({ level: 'silent' }), env: {} },
      { path, initial: await loadConfig(path, { env: {} }), intervalMs: 3_600_000, capabilities: { workflowsWired: false }, apply: (plan) => void applied.push(plan) },
    );
    try {
      await new Promise((resolve) => setTimeout(resolve, 500));
      rmSync(path);
      execFileSync('mkfifo', [path]);
      // With no writer, a plain read of the FIFO never returns: this poll (and every later one) would hang.
      await watcher.checkNow();
      expect(applied).toHaveLength(0);
      rmSync(path);
      write('platform.yaml', PLATFORM(PAY + SHOP));
      write('tenants/shop.yaml', routes('v1'));
      await watcher.checkNow();
      expect(applied.map((p) => p.effective.policy.tenants.map((t) => t.name))).toEqual([['pay', 'shop']]);
    } finally {
      watcher.stop();
    }
  });
});
