import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { request as httpRequest } from 'node:http';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkRequest, outcomeOf, problemOf } from '../support/check-requests.js';
import { createEnvoyClient, type EnvoyClient } from '../support/envoy-client.js';
import { startIdgate, type IdgateProcess } from '../support/idgate-process.js';

/**
 * examples/org served exactly as shipped, the way its README tells a newcomer to (`make run
 * CONFIG=examples/org/platform.yaml`, i.e. `idgate serve --config examples/org/platform.yaml` from the
 * repository root): the file is neither copied nor edited, so the ports are the ones it names (gRPC 9191,
 * HTTP mode 9192, the demo issuer 8098, the Didit sandbox 8099 — a collision with another run is an
 * EADDRINUSE at start-up). Real Checks show each documented behaviour: a guardrail denying, a tenant route
 * allowing, a default route, an unowned request, and the decision log naming the layer, rule and the
 * revisions of the files that decided.
 */
const ROOT = resolve(import.meta.dirname, '../..');
const PLATFORM = 'examples/org/platform.yaml';
const GRPC = '127.0.0.1:9191';
const HTTP_PORT = 9192;
const DEMO_TOKEN_URL = 'http://127.0.0.1:8098/token';

const revisionOf = (...files: string[]): string => {
  const hash = createHash('sha256');
  for (const f of files) hash.update(readFileSync(join(ROOT, f)));
  return hash.digest('hex').slice(0, 12);
};

let idgate: IdgateProcess;
let grpc: EnvoyClient;

beforeAll(async () => {
  // The test runs from the repository root, as `make run` does: the config path is the README's, relative.
  expect(process.cwd()).toBe(ROOT);
  idgate = await startIdgate({ configYaml: '', configPath: PLATFORM, command: 'serve', timeoutMs: 30_000 });
  grpc = createEnvoyClient(GRPC);
}, 40_000);

afterAll(async () => {
  grpc?.close();
  await idgate?.stop();
});

interface Answer {
  readonly verdict: string;
  readonly decidedBy?: string;
  readonly decisionId?: string;
}

interface CheckOptions {
  readonly token?: string;
  readonly country?: string;
  readonly method?: string;
  /** The caller workload's SPIFFE ID (mTLS) and address, as Envoy reports them. */
  readonly principal?: string;
  readonly sourceAddress?: string;
}

async function check(host: string, path: string, o: CheckOptions = {}): Promise<Answer> {
  const headers = o.country !== undefined ? { 'x-geo-country': o.country } : undefined;
  const res = await grpc.check(
    checkRequest({
      host,
      path,
      ...(o.token !== undefined ? { token: o.token } : {}),
      ...(o.method !== undefined ? { method: o.method } : {}),
      ...(headers ? { headers } : {}),
      ...(o.principal !== undefined ? { sourcePrincipal: o.principal } : {}),
      ...(o.sourceAddress !== undefined ? { sourceAddress: o.sourceAddress } : {}),
    }),
  );
  const fields = res.dynamic_metadata?.fields;
  const id = problemOf(res).decision_id;
  return {
    verdict: outcomeOf(res) === 'allow' ? 'allow' : `${String(res.denied_response?.status?.code)} ${outcomeOf(res)}`,
    ...(fields?.layer?.stringValue !== undefined ? { decidedBy: `${fields.layer.stringValue} ${String(fields.rule?.stringValue)}` } : {}),
    ...(typeof id === 'string' ? { decisionId: id } : {}),
  };
}

/** What the README's `curl -i http://127.0.0.1:9192/check/<path> -H 'host: <host>'` gets: the status. */
function curl(host: string, path: string): Promise<number> {
  return new Promise((res, rej) => {
    const req = httpRequest({ host: '127.0.0.1', port: HTTP_PORT, path: `/check${path}`, headers: { host }, timeout: 5_000 }, (r) => {
      r.resume();
      r.on('end', () => res(r.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', rej);
    req.end();
  });
}

/** The demo issuer's token, as the platform file's comment shows: `curl -s '…:8098/token?sub=alice&amr=mfa'`. */
async function demoToken(query: string): Promise<string> {
  const res = await fetch(`${DEMO_TOKEN_URL}?${query}`);
  expect(res.status).toBe(200);
  return (await res.text()).trim();
}

/** The decision-log line of a decision id (the process logs it asynchronously). */
async function decisionLine(decisionId: string): Promise<Record<string, unknown>> {
  return idgate.waitForLog((l) => l.msg === 'decision' && l.decisionId === decisionId, 5_000);
}

describe('examples/org served as shipped', () => {
  it("the README's two curls: catalog browsing is public (200), the fee page on pay.example.com needs the floor (401)", async () => {
    expect(await curl('catalog.example.com', '/products/42')).toBe(200);
    expect(await curl('pay.example.com', '/v1/fees')).toBe(401);
  });

  it('guardrails deny whatever a team routed: the embargo on a public page, /actuator, /internal outside the mesh', async () => {
    expect(await check('catalog.example.com', '/products/42', { country: 'ES' })).toMatchObject({ verdict: 'allow' });
    const embargoed = await check('catalog.example.com', '/products/42', { country: 'KP' });
    expect(embargoed).toMatchObject({ verdict: '403 country_denied', decidedBy: 'guardrail embargo' });
    expect(await check('catalog.example.com', '/actuator/env')).toMatchObject({ verdict: '403 route_denied', decidedBy: 'guardrail no-actuator' });
    expect(await check('status.example.com', '/actuator/env')).toMatchObject({ verdict: '403 route_denied', decidedBy: 'guardrail no-actuator' });
    // catalog made /internal/sync public; internal-only still wants a mesh workload from 10.0.0.0/8.
    expect(await check('catalog.example.com', '/internal/sync')).toMatchObject({ verdict: '403 condition_denied', decidedBy: 'guardrail internal-only' });
    const mesh = { principal: 'spiffe://cluster.local/ns/search/sa/indexer', sourceAddress: '10.1.2.3' };
    expect(await check('catalog.example.com', '/internal/sync', { ...mesh, sourceAddress: '203.0.113.9' })).toMatchObject({ verdict: '403 network_denied', decidedBy: 'guardrail internal-only' });
    expect(await check('catalog.example.com', '/internal/sync', mesh)).toMatchObject({ verdict: 'allow' });

    // The decision log names the layer and rule, and the revision of the file that decided: a guardrail is
    // the platform file's (the route it overrode is in routeId).
    const line = await decisionLine(embargoed.decisionId ?? '');
    expect(line).toMatchObject({ layer: 'guardrail', rule: 'embargo', outcome: 'deny', code: 'country_denied', routeId: 'catalog/browse', host: 'catalog.example.com' });
    expect(line.revision).toBe(`platform@${revisionOf(PLATFORM)}`);
  });

  it("a tenant route decides an owned request, under every guardrail that matches", async () => {
    const write = await check('catalog.example.com', '/products/42', { method: 'POST' });
    expect(write).toMatchObject({ verdict: '401 token_missing', decidedBy: 'tenant catalog/products-write' });
    // A team's route decided: the log carries the team files' revision too, so a ticket leads to them.
    const line = await decisionLine(write.decisionId ?? '');
    expect(line).toMatchObject({ layer: 'tenant', rule: 'catalog/products-write', code: 'token_missing' });
    expect(line.revision).toBe(`platform@${revisionOf(PLATFORM)} tenant/catalog@${revisionOf('examples/org/tenants/catalog.yaml')}`);
    const noScope = await demoToken('sub=alice');
    expect(await check('catalog.example.com', '/products/42', { method: 'POST', token: noScope })).toMatchObject({ verdict: '403 claims_mismatch', decidedBy: 'tenant catalog/products-write' });
    // payments' public fee page under the payments floor: a multi-factor login, then a KYC verdict.
    expect(await check('pay.example.com', '/v1/fees')).toMatchObject({ verdict: '401 token_missing' });
    const mfa = await demoToken('sub=alice&amr=mfa');
    const stepUp = await check('pay.example.com', '/v1/fees', { token: mfa });
    expect(stepUp.verdict).toMatch(/^(302|401|403) verification_required$/);
    // The ledger's callbacks: its SPIFFE ID from the cluster network, on the mesh host the floor does not cover.
    const ledger = { method: 'POST', principal: 'spiffe://cluster.local/ns/ledger/sa/ledger', sourceAddress: '10.4.5.6' };
    expect(await check('payments.svc.cluster.local', '/internal/ledger/settled', ledger)).toMatchObject({ verdict: 'allow' });
    expect(await check('payments.svc.cluster.local', '/internal/ledger/settled', { ...ledger, principal: 'spiffe://cluster.local/ns/shop/sa/web' })).toMatchObject({
      verdict: '403 no_route',
      decidedBy: 'default default',
    });
  });

  it('the defaults serve owned requests no team route matched; unowned requests never see them', async () => {
    expect(await check('catalog.example.com', '/healthz')).toMatchObject({ verdict: 'allow' });
    expect(await curl('catalog.example.com', '/robots.txt')).toBe(200);
    // On pay.example.com the payments floor applies to the default route too.
    expect(await check('pay.example.com', '/healthz')).toMatchObject({ verdict: '401 token_missing' });
    // A host nobody owns: the defaults are not consulted, the platform routes are, then policy.default.
    expect(await check('nobody.example.com', '/healthz')).toMatchObject({ verdict: '403 no_route', decidedBy: 'default default' });
  });

  it('an unowned request is decided by the platform routes, then policy.default', async () => {
    expect(await check('status.example.com', '/')).toMatchObject({ verdict: 'allow' });
    expect(await curl('status.example.com', '/incidents')).toBe(200);
    expect(await check('intranet.example.com', '/wiki')).toMatchObject({ verdict: '401 token_missing', decidedBy: 'platform intranet' });
    expect(await check('intranet.example.com', '/wiki', { token: await demoToken('sub=alice&amr=mfa') })).toMatchObject({ verdict: 'allow' });
    const unowned = await check('shop.example.com', '/v1/refunds', { method: 'POST' });
    expect(unowned).toMatchObject({ verdict: '403 no_route', decidedBy: 'default default' });
    // A refund sent to the catalog's host never reaches the payments routes.
    const owned = await check('catalog.example.com', '/v1/refunds', { method: 'POST' });
    expect(owned).toMatchObject({ verdict: '403 no_route', decidedBy: 'default default' });
    // Unowned: the platform file alone decided. Owned by catalog: its files' revision is named too.
    const line = await decisionLine(unowned.decisionId ?? '');
    expect(line).toMatchObject({ layer: 'default', rule: 'default', code: 'no_route', revision: `platform@${revisionOf(PLATFORM)}` });
    const ownedLine = await decisionLine(owned.decisionId ?? '');
    expect(ownedLine).toMatchObject({ layer: 'default', rule: 'default', code: 'no_route' });
    expect(ownedLine.revision).toBe(`platform@${revisionOf(PLATFORM)} tenant/catalog@${revisionOf('examples/org/tenants/catalog.yaml')}`);
  });

  it("the served decision log replays under docs/decision-log.md's command: lines without replay records are counted, not failed", () => {
    // The example leaves logging.decisionReplay off, so its decision lines carry no replay record.
    const dir = mkdtempSync(join(tmpdir(), 'idgate-org-log-'));
    try {
      const log = join(dir, 'decisions.log');
      writeFileSync(log, `${idgate.output()}\n`);
      const decisions = idgate.logs.filter((l) => l.msg === 'decision').length;
      expect(decisions).toBeGreaterThan(0);
      const r = spawnSync(process.execPath, [join(ROOT, 'dist/idgate/cli.js'), 'policy', 'diff', '--from', PLATFORM, '--to', PLATFORM, '--replay', log], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
      expect(r.stderr).toBe('');
      expect(r.stdout).toContain(`replay: 0 decision(s) from 1 file(s): 0 unchanged, 0 changed; ${decisions} without a replay record, 0 malformed`);
      expect(r.stdout).toContain('result: nothing loosened');
      expect(r.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
