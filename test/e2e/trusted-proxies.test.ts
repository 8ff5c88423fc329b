import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkRequest, outcomeOf } from '../support/check-requests.js';
import { testConfigYaml } from '../support/config-yaml.js';
import { createEnvoyClient, type EnvoyClient } from '../support/envoy-client.js';
import { startIdgate, type IdgateProcess } from '../support/idgate-process.js';
import { startJwksServer, type JwksServer } from '../support/jwks-server.js';
import { createTestKey, jwksOf, mintToken, type TestKey } from '../support/tokens.js';

/**
 * `network.trustedProxies` end to end (issue 17, item 5): an `idgate authz` process with trusted proxies
 * configured, fed forwarded chains whose left-most hops a client made up, over both front ends (gRPC
 * ext_authz and the HTTP authorization mode). Which address idgate took as the client is observed
 * exactly: each `/as/<name>` route admits one /32 only, so a Check is allowed on the route of the address
 * idgate resolved and `network_denied` on every other.
 */
const ADDR = {
  spoofed: '10.1.2.3', // what a client writes into X-Forwarded-For to look internal
  client: '203.0.113.7', // the real client, as the trusted proxy appended it
  grpcPeer: '198.51.100.4', // Envoy's reported peer: a trusted proxy (198.51.100.0/24)
  httpPeer: '127.0.0.1', // the HTTP mode's socket peer: a trusted proxy
  untrusted: '203.0.113.50', // a peer that is not a trusted proxy
} as const;
type Name = keyof typeof ADDR;
const NAMES = Object.keys(ADDR) as Name[];
const INNER_PROXY = '192.0.2.10'; // a second trusted hop

const ROUTES = NAMES.map(
  (name) => `    - id: as-${name}
      match: { prefix: /as/${name} }
      require: { scopes: [read] }
      conditions:
        - name: only-${name}
          when: { sourceIp: { notIn: [${ADDR[name]}/32] } }
          then: deny
`,
).join('');

let jwks: JwksServer;
let key: TestKey;
let idgate: IdgateProcess;
let client: EnvoyClient;

const token = () => mintToken(key, { iss: jwks.url, aud: 'idgate-test', now: Date.now(), sub: 'alice', claims: { scope: 'read' } });

/** The names whose route allowed the request: exactly one when the client address is one of ADDR. */
async function resolvedVia(send: (path: string) => Promise<string>): Promise<Name[]> {
  const allowed: Name[] = [];
  for (const name of NAMES) {
    const outcome = await send(`/as/${name}/x`);
    if (outcome === 'allow') allowed.push(name);
    else expect(outcome).toBe('network_denied');
  }
  return allowed;
}

async function viaGrpc(peer: string, xff: string | undefined): Promise<Name[]> {
  const t = await token();
  return resolvedVia(async (path) =>
    outcomeOf(await client.check(checkRequest({ path, token: t, sourceAddress: peer, ...(xff !== undefined ? { headers: { 'x-forwarded-for': xff } } : {}) }))),
  );
}

async function viaHttp(xff: string | undefined): Promise<Name[]> {
  const t = await token();
  return resolvedVia(async (path) => {
    const res = await fetch(`http://127.0.0.1:${idgate.ports.http}/check${path}`, {
      headers: { authorization: `Bearer ${t}`, ...(xff !== undefined ? { 'x-forwarded-for': xff } : {}) },
      signal: AbortSignal.timeout(5_000),
    });
    await res.arrayBuffer();
    return res.status === 200 ? 'allow' : (res.headers.get('x-idgate-reason') ?? String(res.status));
  });
}

beforeAll(async () => {
  key = await createTestKey('ES256', 'tp-1');
  jwks = await startJwksServer({ keys: jwksOf(key) });
  idgate = await startIdgate({
    command: 'authz',
    configYaml: testConfigYaml({
      issuer: jwks.url,
      jwksUri: jwks.jwksUrl,
      extraRoutes: ROUTES,
      trustedProxies: ['198.51.100.0/24', '127.0.0.1', INNER_PROXY],
    }),
  });
  client = createEnvoyClient(`127.0.0.1:${idgate.ports.grpc}`);
}, 30_000);

afterAll(async () => {
  client?.close();
  await idgate?.stop();
  await jwks?.close();
});

const { spoofed, client: real, untrusted } = ADDR;
// [case, X-Forwarded-For, the address idgate must use (as a name, with the front end's own peer as 'peer')]
const chains: [string, string | undefined, Name | 'peer'][] = [
  ['no X-Forwarded-For: the trusted peer itself', undefined, 'peer'],
  ['one hop appended by the trusted proxy', real, 'client'],
  ['a spoofed left-most hop before the real client', `${spoofed}, ${real}`, 'client'],
  ['two spoofed hops, the real client, then a second trusted proxy', `${spoofed}, 10.4.4.4, ${real}, ${INNER_PROXY}`, 'client'],
  ['a spoofed internal hop and an untrusted peer-looking hop before the real client', `${spoofed}, ${untrusted}, ${real}`, 'client'],
  ['only trusted hops to the right of the spoofed value: it was relayed by a trusted proxy', `${spoofed}, ${INNER_PROXY}`, 'spoofed'],
  ['a malformed hop stops the walk at the last trusted hop (the peer)', `${spoofed}, not-an-ip`, 'peer'],
  ['a malformed spoofed hop left of the real client is never read', `garbage, ${real}`, 'client'],
];

describe('trusted proxies: forwarded chains with spoofed left-most hops, end to end', () => {
  it.each(chains)('gRPC: %s', async (_name, xff, expected) => {
    expect(await viaGrpc(ADDR.grpcPeer, xff)).toEqual([expected === 'peer' ? 'grpcPeer' : expected]);
  });

  it.each(chains)('HTTP mode: %s', async (_name, xff, expected) => {
    expect(await viaHttp(xff)).toEqual([expected === 'peer' ? 'httpPeer' : expected]);
  });

  it('gRPC: an untrusted peer’s X-Forwarded-For is not read at all', async () => {
    expect(await viaGrpc(untrusted, `${spoofed}`)).toEqual(['untrusted']);
    expect(await viaGrpc(untrusted, `${spoofed}, ${real}`)).toEqual(['untrusted']);
  });
});
