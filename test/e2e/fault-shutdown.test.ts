import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDiditSandbox, type DiditSandbox } from '../../src/sandbox/create-didit-sandbox.js';
import { checkRequest, eventually, outcomeOf, tally } from '../support/check-requests.js';
import { testConfigYaml } from '../support/config-yaml.js';
import { createEnvoyClient, type EnvoyClient } from '../support/envoy-client.js';
import { startIdgate, type IdgateProcess } from '../support/idgate-process.js';
import { startJwksServer, type JwksServer } from '../support/jwks-server.js';
import { createTestKey, jwksOf, mintToken, type TestKey } from '../support/tokens.js';

/**
 * SIGTERM under load: replica A is stopped while 30 Checks are provably inside it (each waits on a Didit
 * call the sandbox delays by 1 s; the sandbox counts them arriving), and while replica B takes traffic.
 * `shutdownGrace: 2s`, decision budget 1.5 s.
 */
const API_KEY = 'shutdown-api-key';
const SECRET = 'shutdown-webhook-secret-0123456789';
const IN_FLIGHT = 30;

let jwks: JwksServer;
let key: TestKey;
let sandbox: DiditSandbox;
let a: IdgateProcess;
let b: IdgateProcess;
let clientA: EnvoyClient;
let clientB: EnvoyClient;

async function tokenFor(sub: string): Promise<string> {
  return mintToken(key, { iss: jwks.url, aud: 'idgate-test', now: Date.now(), sub, ttlSeconds: 600, claims: { scope: 'read' } });
}

beforeAll(async () => {
  key = await createTestKey('ES256', 'sd1');
  jwks = await startJwksServer({ keys: jwksOf(key) });
  sandbox = createDiditSandbox({ logger: pino({ level: 'silent' }), apiKey: API_KEY, webhookSecret: SECRET });
  await sandbox.listen();
  const yaml = testConfigYaml({
    issuer: jwks.url,
    jwksUri: jwks.jwksUrl,
    grpcYaml: 'decisionTimeout: 1500ms',
    didit: {
      apiBaseUrl: sandbox.url,
      apiKey: API_KEY,
      webhookSecret: SECRET,
      kycWorkflowId: '11111111-2222-4333-8444-0000000000c1',
      ageWorkflowId: '11111111-2222-4333-8444-0000000000c2',
      publicBaseUrl: 'http://127.0.0.1:1',
    },
  });
  [a, b] = await Promise.all([startIdgate({ command: 'authz', configYaml: yaml }), startIdgate({ command: 'authz', configYaml: yaml })]);
  clientA = createEnvoyClient(`127.0.0.1:${a.ports.grpc}`);
  clientB = createEnvoyClient(`127.0.0.1:${b.ports.grpc}`);
}, 30_000);

afterAll(async () => {
  clientA?.close();
  clientB?.close();
  await Promise.all([a?.stop(), b?.stop()]);
  await sandbox?.close();
  await jwks?.close();
});

describe('SIGTERM under load', () => {
  it('finishes every in-flight Check, refuses only new ones, and the other replica keeps serving', async () => {
    const tokens = await Promise.all(Array.from({ length: IN_FLIGHT }, (_, i) => tokenFor(`drain-${i}`)));
    const before = sandbox.apiRequests();
    sandbox.injectApiFaults({ delayMs: 1_000, count: IN_FLIGHT });
    const inFlight = tokens.map((token) =>
      clientA.check(checkRequest({ path: '/payments/x', token }), { deadlineMs: 3_000 }).then(outcomeOf, (err: { code?: number }) => `rpc_error_${err.code ?? '?'}`),
    );
    // Every one of them is inside idgate once the sandbox has seen its Didit call.
    await eventually(async () => sandbox.apiRequests() - before, (n) => n >= IN_FLIGHT, 5_000, 10);
    expect(sandbox.apiRequests() - before).toBe(IN_FLIGHT);

    // Replica B under load meanwhile.
    let bErrors = 0;
    const bOutcomes: string[] = [];
    let stopB = false;
    const bLoad = (async () => {
      for (let i = 0; !stopB && i < 2_000; i++) {
        try {
          bOutcomes.push(outcomeOf(await clientB.check(checkRequest({ path: '/api/orders', token: await tokenFor(`b-${randomUUID().slice(0, 6)}`) }))));
        } catch {
          bErrors += 1;
        }
      }
    })();

    const exited = a.stop(10_000);
    const drained = await Promise.all(inFlight);
    const code = await exited;

    // New calls to the stopped replica: refused (UNAVAILABLE), never allowed.
    const after: string[] = [];
    for (let i = 0; i < 20; i++) {
      after.push(
        await clientA
          .check(checkRequest({ path: '/api/orders', token: await tokenFor('late') }), { deadlineMs: 500 })
          .then(outcomeOf, (err: { code?: number }) => `rpc_error_${err.code ?? '?'}`),
      );
    }
    stopB = true;
    await bLoad;

    expect(code).toBe(0);
    expect(drained.filter((o) => o.startsWith('rpc_error'))).toEqual([]);
    for (const o of drained) expect(['verification_required', 'deadline_exceeded', 'dependency_unavailable']).toContain(o);
    expect(after.every((o) => o === 'rpc_error_14')).toBe(true);
    expect(bErrors).toBe(0);
    expect(bOutcomes.length).toBeGreaterThan(0);
    expect(tally(bOutcomes)).toEqual({ allow: bOutcomes.length });
    console.log(
      `[scorecard] fault-shutdown: SIGTERM with ${IN_FLIGHT} Checks in flight → ${JSON.stringify(tally(drained))}, 0 RPC errors, exit ${code}; ` +
        `${after.length} later calls → UNAVAILABLE; replica B ${bOutcomes.length}/${bOutcomes.length} allowed, 0 errors`,
    );
  }, 30_000);
});
