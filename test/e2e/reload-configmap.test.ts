import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readMetric, waitUntil } from '../support/admin-metrics.js';
import { testConfigYaml } from '../support/config-yaml.js';
import { createEnvoyClient, type EnvoyClient, type UpstreamCheckRequest } from '../support/envoy-client.js';
import { startIdgate, type IdgateProcess } from '../support/idgate-process.js';
import { startJwksServer, type JwksServer } from '../support/jwks-server.js';
import { createTestKey, jwksOf, mintToken, type TestKey } from '../support/tokens.js';

/**
 * Hot reload from a Kubernetes-style ConfigMap volume: the file idgate reads is a symlink through `..data`,
 * and an update swaps `..data` atomically to a new timestamped directory. Under continuous load the new
 * policy must take over without a failed Check and without ever mixing policies; an invalid update must
 * be rejected with its file:line error while the last valid policy keeps serving.
 */
const AUD = 'idgate-test';
let jwks: JwksServer;
let key: TestKey;
let dir: string;
let idgate: IdgateProcess;
let client: EnvoyClient;
let token: string;

const FEATURE_DENIED = `    - id: feature
      match: { prefix: /feature }
      deny: true
`;
const FEATURE_ALLOWED = `    - id: feature
      match: { prefix: /feature }
      require: { scopes: [read] }
`;
const FEATURE_BROKEN = `    - id: feature
      match: { prefix: /feature }
      requires: { scopes: [read] }
`;

const configWith = (routes: string): string => testConfigYaml({ issuer: jwks.url, jwksUri: jwks.jwksUrl, extraRoutes: routes });

/** Writes `..<name>/idgate.yaml` and points `..data` at it the way the kubelet does (symlink + rename). */
function publish(name: string, yaml: string): void {
  mkdirSync(join(dir, name));
  writeFileSync(join(dir, name, 'idgate.yaml'), yaml);
  symlinkSync(name, join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
}

function featureRequest(): UpstreamCheckRequest {
  return {
    attributes: {
      source: { address: { socket_address: { address: '203.0.113.20', port_value: 40000 } } },
      request: {
        http: {
          method: 'GET',
          path: '/feature/x',
          host: 'shop.example.com',
          scheme: 'https',
          headers: { ':authority': 'shop.example.com', ':method': 'GET', ':path': '/feature/x', authorization: `Bearer ${token}` },
        },
      },
    },
  };
}

interface Answer {
  readonly startedAt: number;
  readonly endedAt: number;
  /** `allow`, `deny:<status>:<code>`, or `error:<message>` for an RPC failure. */
  readonly result: string;
}

/** Runs `workers` concurrent Check loops until `stop()` (bounded: at most `maxPerWorker` calls each). */
function startLoad(workers: number, maxPerWorker: number): { answers: Answer[]; stop(): Promise<void> } {
  const answers: Answer[] = [];
  let stopped = false;
  const loops = Array.from({ length: workers }, async () => {
    for (let i = 0; i < maxPerWorker && !stopped; i += 1) {
      const startedAt = Date.now();
      let result: string;
      try {
        const res = await client.check(featureRequest(), { deadlineMs: 2000 });
        if ((res.status?.code ?? 0) === 0 && res.http_response === 'ok_response') result = 'allow';
        else result = `deny:${res.denied_response?.status?.code}:${(JSON.parse(res.denied_response?.body ?? '{}') as { code?: string }).code}`;
      } catch (err) {
        result = `error:${(err as Error).message}`;
      }
      answers.push({ startedAt, endedAt: Date.now(), result });
      // A short pause keeps the load steady without monopolising the two cores.
      await sleep(2);
    }
  });
  return {
    answers,
    async stop() {
      stopped = true;
      await Promise.all(loops);
    },
  };
}

const metric = (line: string): Promise<number> => readMetric(idgate.ports.admin, line);
const waitFor = waitUntil;

beforeAll(async () => {
  key = await createTestKey('RS256');
  jwks = await startJwksServer({ keys: jwksOf(key) });
  token = await mintToken(key, { iss: jwks.url, aud: AUD, now: Date.now(), sub: 'alice', claims: { scope: 'read' }, ttlSeconds: 600 });
  dir = mkdtempSync(join(tmpdir(), 'idgate-configmap-'));
  mkdirSync(join(dir, '..2026_a'));
  writeFileSync(join(dir, '..2026_a', 'idgate.yaml'), configWith(FEATURE_DENIED));
  symlinkSync('..2026_a', join(dir, '..data'));
  symlinkSync(join('..data', 'idgate.yaml'), join(dir, 'idgate.yaml'));
  idgate = await startIdgate({ configYaml: '', configPath: join(dir, 'idgate.yaml'), command: 'authz' });
  client = createEnvoyClient(`127.0.0.1:${idgate.ports.grpc}`);
}, 30_000);

afterAll(async () => {
  client?.close();
  await idgate?.stop();
  await jwks?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('hot reload from a ConfigMap-style symlinked volume', () => {
  it('swaps the policy under load: no failed Check, never a mix, the new policy within seconds', async () => {
    const successBefore = await metric('idgate_config_reloads_total{result="success"}');
    const load = startLoad(4, 5_000);
    let swappedAt = 0;
    try {
      await waitFor(() => load.answers.length >= 40, 10_000, 'load to start');
      swappedAt = Date.now();
      publish('..2026_b', configWith(FEATURE_ALLOWED));
      await waitFor(() => load.answers.some((a) => a.result === 'allow'), 10_000, 'the new policy to answer');
      const firstAllowEnded = Math.min(...load.answers.filter((a) => a.result === 'allow').map((a) => a.endedAt));
      await waitFor(() => load.answers.filter((a) => a.startedAt > firstAllowEnded).length >= 40, 10_000, 'load after the swap');
    } finally {
      await load.stop();
    }

    const { answers } = load;
    const results = new Set(answers.map((a) => a.result));
    expect([...results].sort()).toEqual(['allow', 'deny:403:route_denied']);
    // The old policy never allowed: every allow completed after the files were swapped.
    for (const a of answers.filter((x) => x.result === 'allow')) expect(a.endedAt).toBeGreaterThanOrEqual(swappedAt);
    // Once the new policy answered, it answered every request started afterwards (an atomic swap).
    const firstAllowEnded = Math.min(...answers.filter((a) => a.result === 'allow').map((a) => a.endedAt));
    const later = answers.filter((a) => a.startedAt > firstAllowEnded);
    expect(later.length).toBeGreaterThan(0);
    expect(later.every((a) => a.result === 'allow')).toBe(true);

    await idgate.waitForLog((l) => l.msg === 'policy reloaded');
    expect(await metric('idgate_config_reloads_total{result="success"}')).toBe(successBefore + 1);
  });

  it('rejects an invalid update with its file:line error and keeps serving the last valid policy', async () => {
    const failureBefore = await metric('idgate_config_reloads_total{result="failure"}');
    const broken = configWith(FEATURE_BROKEN);
    const badLine = broken.split('\n').findIndex((l) => l.includes('requires:')) + 1;
    publish('..2026_c', broken);

    const line = await idgate.waitForLog((l) => l.msg === 'config reload rejected; keeping the current policy');
    expect(line.level).toBe(50);
    expect(String(line.detail)).toContain(`idgate.yaml:${badLine}:`);
    expect(String(line.detail)).toContain('requires');
    await waitFor(async () => (await metric('idgate_config_reloads_total{result="failure"}')) === failureBefore + 1, 5_000, 'the failure metric');

    const load = startLoad(2, 25);
    await load.stop();
    expect(new Set(load.answers.map((a) => a.result))).toEqual(new Set(['allow']));
  });
});
