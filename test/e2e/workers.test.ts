import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testConfigYaml } from '../support/config-yaml.js';
import { createEnvoyClient, type UpstreamCheckRequest } from '../support/envoy-client.js';
import { startIdgate, type IdgateProcess } from '../support/idgate-process.js';
import { startJwksServer, type JwksServer } from '../support/jwks-server.js';
import { startRedis, type RedisServerHandle } from '../support/redis-server.js';
import { createTestKey, jwksOf, mintToken, type TestKey } from '../support/tokens.js';

/** `idgate serve --workers 2`: two authz worker processes share the gRPC port; the primary aggregates metrics. */
let redis: RedisServerHandle;
let jwks: JwksServer;
let key: TestKey;
let idgate: IdgateProcess;

beforeAll(async () => {
  redis = await startRedis();
  key = await createTestKey('ES256', 'w1');
  jwks = await startJwksServer({ keys: jwksOf(key) });
  idgate = await startIdgate({
    configYaml: testConfigYaml({ issuer: jwks.url, jwksUri: jwks.jwksUrl, redisUrl: redis.url, allowSampleRate: 1 }),
    args: ['--workers', '2'],
    timeoutMs: 30_000,
  });
}, 40_000);

afterAll(async () => {
  await idgate?.stop();
  await jwks?.close();
  await redis?.close();
});

function request(token: string): UpstreamCheckRequest {
  return {
    attributes: {
      source: { address: { socket_address: { address: '203.0.113.5' } } },
      request: { http: { method: 'GET', path: '/api/orders', host: 'shop.example.com', headers: { authorization: `Bearer ${token}` } } },
    },
  };
}

describe('serve --workers 2', () => {
  it('answers on the shared gRPC port from more than one worker process', async () => {
    const token = await mintToken(key, { iss: jwks.url, aud: 'idgate-test', now: Date.now(), sub: 'alice', claims: { scope: 'read' } });
    // Connections are spread over the workers; each client gets its own connection (own subchannel pool).
    const clients = Array.from({ length: 8 }, () =>
      createEnvoyClient(`127.0.0.1:${idgate.ports.grpc}`, { 'grpc.use_local_subchannel_pool': 1 }),
    );
    try {
      for (let round = 0; round < 5; round++) {
        const answers = await Promise.all(clients.map((c) => c.check(request(token))));
        for (const a of answers) expect(a.status?.code ?? 0).toBe(0);
      }
    } finally {
      for (const c of clients) c.close();
    }
    const pids = new Set(idgate.logs.filter((l) => l.msg === 'decision').map((l) => l.pid));
    expect(pids.size).toBe(2);
  });

  it('serves the sum of every worker’s metrics on the primary’s admin port', async () => {
    const text = await fetch(`http://127.0.0.1:${idgate.ports.admin}/metrics`).then((r) => r.text());
    const line = text.split('\n').find((l) => l.startsWith('idgate_checks_total{') && l.includes('outcome="allow"'));
    expect(line).toBeDefined();
    expect(Number(line!.split(' ').pop())).toBe(40);
  });

  it('refuses --workers with the in-memory store, saying why', () => {
    const dir = mkdtempSync(join(tmpdir(), 'idgate-workers-'));
    const file = join(dir, 'idgate.yaml');
    writeFileSync(file, testConfigYaml({ issuer: jwks.url, jwksUri: jwks.jwksUrl }));
    const res = spawnSync(process.execPath, [resolve(import.meta.dirname, '../../dist/idgate/cli.js'), 'serve', '--config', file, '--workers', '2'], {
      encoding: 'utf8',
      timeout: 10_000,
    });
    expect(res.status).toBe(1);
    expect(res.stderr).toContain('needs store.type: redis');
  });

  it('drains the workers and exits 0 on SIGTERM', async () => {
    expect(await idgate.stop()).toBe(0);
  });
});
