import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testConfigYaml } from './support/config-yaml.js';
import { createEnvoyClient, type EnvoyClient } from './support/envoy-client.js';
import { startIdgate, type IdgateProcess } from './support/idgate-process.js';
import { startJwksServer, type JwksServer } from './support/jwks-server.js';
import { createTestKey, jwksOf, mintToken, type TestKey } from './support/tokens.js';

/**
 * `caches:` reaches the running process (the bundled CLI, as shipped): with `caches.tokens: 1` a second
 * token evicts the first, so the pattern A B A A hits once; idgate's default (10,000) would hit twice.
 * (Build first: `make build`.)
 */

const HOST = 'shop.example.com';

let jwks: JwksServer;
let key: TestKey;
let idgate: IdgateProcess;
let grpc: EnvoyClient;

beforeAll(async () => {
  key = await createTestKey('ES256', 'k1');
  jwks = await startJwksServer({ keys: jwksOf(key) });
  idgate = await startIdgate({
    configYaml: testConfigYaml({
      issuer: jwks.url,
      jwksUri: jwks.jwksUrl,
      storeYaml: '  type: memory\ncaches: { tokens: 1, allows: 1 }',
    }),
  });
  grpc = createEnvoyClient(`127.0.0.1:${idgate.ports.grpc}`);
}, 30_000);

afterAll(async () => {
  grpc?.close();
  await idgate?.stop();
  await jwks?.close();
});

async function check(token: string): Promise<number | undefined> {
  const response = await grpc.check({
    attributes: {
      request: {
        http: {
          method: 'GET',
          path: '/api/items',
          host: HOST,
          scheme: 'https',
          protocol: 'HTTP/1.1',
          headers: { ':authority': HOST, ':method': 'GET', ':path': '/api/items', ':scheme': 'https', authorization: `Bearer ${token}` },
        },
      },
    },
  });
  return response.status?.code;
}

async function tokenCacheCounts(): Promise<{ hit: number; miss: number }> {
  const text = await (await fetch(`http://127.0.0.1:${idgate.ports.admin}/metrics`)).text();
  const read = (result: string): number => Number(new RegExp(`^idgate_token_cache_total\\{result="${result}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 'NaN');
  return { hit: read('hit'), miss: read('miss') };
}

describe('caches: bounds reach the running authz role', () => {
  it('caches.tokens: 1 keeps one verified token, and every answer is still right', async () => {
    const mint = (sub: string) =>
      mintToken(key, { iss: jwks.url, aud: 'idgate-test', now: Date.now(), sub, ttlSeconds: 600, claims: { scope: 'read', email: `${sub}@example.com` } });
    const a = await mint('alice');
    const b = await mint('bob');
    for (const token of [a, b, a, a]) expect(await check(token)).toBe(0);
    expect(await tokenCacheCounts()).toEqual({ hit: 1, miss: 3 });
  });
});
