import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkRequest, eventually, isAllow, outcomeOf, tally } from '../support/check-requests.js';
import { testConfigYaml } from '../support/config-yaml.js';
import { createEnvoyClient, type EnvoyClient } from '../support/envoy-client.js';
import { startIdgate, type IdgateProcess } from '../support/idgate-process.js';
import { startJwksServer, type EndpointMode, type JwksServer } from '../support/jwks-server.js';
import { createTestKey, jwksOf, mintToken, type TestKey } from '../support/tokens.js';

/**
 * JWKS endpoint faults under concurrent load, against an `idgate authz` process (`minRefetchInterval: 1s`).
 * Counts fetches at the JWKS server and outcomes at the client; never asserts on timing.
 */
let jwks: JwksServer;
let idgate: IdgateProcess;
let client: EnvoyClient;
let keyA: TestKey;
let keyB: TestKey;
const summary: string[] = [];

async function token(key: TestKey, header: Record<string, unknown> = {}): Promise<string> {
  return mintToken(key, { iss: jwks.url, aud: 'idgate-test', now: Date.now(), sub: `u-${randomUUID().slice(0, 8)}`, claims: { scope: 'read' }, header });
}

/** Sends `n` Checks with fresh tokens from `make`, `concurrency` at a time; returns outcome counts and RPC errors. */
async function load(n: number, concurrency: number, make: () => Promise<string>, deadlineMs = 2_000): Promise<{ outcomes: string[]; rpcErrors: number }> {
  const outcomes: string[] = [];
  let rpcErrors = 0;
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        next += 1;
        try {
          outcomes.push(outcomeOf(await client.check(checkRequest({ path: '/api/orders', token: await make() }), { deadlineMs })));
        } catch {
          rpcErrors += 1;
        }
      }
    }),
  );
  return { outcomes, rpcErrors };
}

beforeAll(async () => {
  keyA = await createTestKey('RS256', 'jwks-a');
  keyB = await createTestKey('ES256', 'jwks-b');
  jwks = await startJwksServer({ keys: jwksOf(keyA) });
  // These cases are about which keys verify, not latency: a decision budget of 1.5 s (the default 150 ms
  // denied a few of 300 concurrent cold RS256 Checks as deadline_exceeded on a loaded 2-core CI machine).
  // (A caller's deadline below the budget bounds a Check too: test/extauthz-server.test.ts.)
  idgate = await startIdgate({
    command: 'authz',
    configYaml: testConfigYaml({ issuer: jwks.url, jwksUri: jwks.jwksUrl, grpcYaml: 'decisionTimeout: 1500ms' }),
  });
  client = createEnvoyClient(`127.0.0.1:${idgate.ports.grpc}`);
}, 30_000);

afterAll(async () => {
  client?.close();
  await idgate?.stop();
  await jwks?.close();
  console.log(`[scorecard] fault-jwks: ${summary.join('; ')}`);
});

describe('JWKS faults under load', () => {
  it.each<[string, () => Promise<void>, () => Promise<void>]>([
    ['endpoint down', () => jwks.takeDown(), () => jwks.bringUp()],
    ['endpoint answering 503', async () => jwks.setJwksMode('error'), async () => jwks.setJwksMode('ok')],
    ['endpoint answering garbage', async () => jwks.setJwksMode('garbage'), async () => jwks.setJwksMode('ok')],
    ['endpoint hanging', async () => jwks.setJwksMode('hang' as EndpointMode), async () => jwks.setJwksMode('ok')],
  ])('%s: cached keys keep verifying 300 Checks (30 concurrent)', async (name, breakIt, fixIt) => {
    await breakIt();
    try {
      const { outcomes, rpcErrors } = await load(300, 30, () => token(keyA));
      expect(rpcErrors).toBe(0);
      expect(tally(outcomes)).toEqual({ allow: 300 });
      summary.push(`${name}: 300/300 allowed from cached keys`);
    } finally {
      await fixIt();
    }
  });

  it('picks up a rotated-in kid under load, with a bounded number of fetches', async () => {
    await sleep(1_100);
    jwks.resetCounts();
    jwks.setKeys(jwksOf(keyA, keyB));
    const outcomes: string[] = [];
    let rpcErrors = 0;
    await eventually(
      async () => {
        const r = await load(40, 20, () => token(keyB));
        outcomes.push(...r.outcomes);
        rpcErrors += r.rpcErrors;
        return r.outcomes;
      },
      (o) => o.every((x) => x === 'allow'),
      5_000,
      100,
    );
    expect(rpcErrors).toBe(0);
    expect(outcomes.slice(-40).every((o) => o === 'allow')).toBe(true);
    for (const o of outcomes) expect(['allow', 'token_invalid']).toContain(o);
    // Single flight: every Check that met the new kid waited on the same one refetch.
    expect(jwks.counts.jwks).toBe(1);
    summary.push(`rotation: new kid accepted after ${outcomes.length} Checks with ${jwks.counts.jwks} fetch(es)`);
  });

  it('a flood of 500 random kids costs at most one JWKS fetch per second and lets nobody in', async () => {
    await sleep(1_100);
    jwks.resetCounts();
    const outcomes: string[] = [];
    let rpcErrors = 0;
    let legitAllowed = 0;
    const started = Date.now();
    for (let wave = 0; wave < 10; wave++) {
      const r = await load(50, 50, () => token(keyA, { kid: randomUUID() }));
      outcomes.push(...r.outcomes);
      rpcErrors += r.rpcErrors;
      // A legitimate caller in between is not hurt by the flood.
      if (isAllow(await client.check(checkRequest({ path: '/api/orders', token: await token(keyA) })))) legitAllowed += 1;
    }
    const elapsedMs = Date.now() - started;
    expect(rpcErrors).toBe(0);
    expect(tally(outcomes)).toEqual({ token_invalid: 500 });
    expect(legitAllowed).toBe(10);
    expect(jwks.counts.jwks).toBeGreaterThanOrEqual(1);
    // The limit is one request-triggered fetch per minRefetchInterval (1 s): a flood that took longer on a
    // slow machine may legitimately cost one more.
    expect(jwks.counts.jwks).toBeLessThanOrEqual(1 + Math.ceil(elapsedMs / 1_000));
    summary.push(`flood: 500 random kids in ${elapsedMs} ms → 500 token_invalid, ${jwks.counts.jwks} JWKS fetch(es), 10/10 legitimate Checks allowed`);
  });

  it('a hanging JWKS for a first-seen kid: deadline_exceeded denies at the decision budget, never an allow or an RPC error', async () => {
    const keyC = await createTestKey('ES256', 'jwks-c-unpublished');
    await sleep(1_100);
    jwks.setJwksMode('hang');
    try {
      // One wave of 40: the refetch for the unknown kid hangs for fetchTimeout (2 s) and is single flight, so
      // every Check waits on it until idgate's own decision budget (1.5 s here) runs out, well inside the
      // caller's 2 s deadline: all 40 are deadline_exceeded denies, answered (no RPC error), none allowed.
      const { outcomes, rpcErrors } = await load(40, 40, () => token(keyC));
      expect(rpcErrors).toBe(0);
      expect(tally(outcomes)).toEqual({ deadline_exceeded: 40 });
      // Known keys are still served while the refetch hangs.
      const ok = await load(50, 10, () => token(keyA));
      expect(ok.rpcErrors).toBe(0);
      expect(tally(ok.outcomes)).toEqual({ allow: 50 });
      summary.push(`hang + unknown kid, 1.5 s decision budget: ${JSON.stringify(tally(outcomes))}, 0 RPC errors; 50/50 known-kid Checks allowed meanwhile`);
    } finally {
      jwks.setJwksMode('ok');
    }
  });
});
