import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkRequest, outcomeOf } from '../support/check-requests.js';
import { createEnvoyClient, type EnvoyClient, type UpstreamCheckRequest } from '../support/envoy-client.js';
import { freeExamplePorts, renderExampleConfig, type ExampleConfigPorts } from '../support/example-policy.js';
import { startIdgate, type IdgateProcess } from '../support/idgate-process.js';

/**
 * Issue 11 §2, context headers: `idgate serve` on examples/idgate.yaml as shipped (ports only), asked over
 * gRPC (as Envoy's ext_authz filter) and over the HTTP mode (as Envoy's http_service). A trusted context
 * header that is not one well-formed value — `US,KP`, the same header twice, `USA`, a managed flag that is
 * not true/false — must deny on both front ends, where it used to read as "unknown" and slip past the
 * embargo. Build first: `npx tsc -p .`.
 */

let ports: ExampleConfigPorts;
let idgate: IdgateProcess;
let grpc: EnvoyClient;
let adminToken: string;
let buyerToken: string;

type Headers = ReadonlyArray<readonly [string, string]>;

async function demoToken(query: string): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${ports.demoIssuer}/token?${query}`);
  return (await res.text()).trim();
}

/** gRPC: repeated names go into header_map, as Envoy sends them (idgate joins them with `,`). */
function grpcRequest(path: string, token: string, headers: Headers): UpstreamCheckRequest {
  const base = checkRequest({ path, token });
  const http = base.attributes!.request!.http!;
  const all = [...Object.entries(http.headers ?? {}), ...headers];
  const { headers: _dropped, ...rest } = http;
  void _dropped;
  return { attributes: { ...base.attributes, request: { http: { ...rest, header_map: { headers: all.map(([key, value]) => ({ key, raw_value: Buffer.from(value) })) } } } } };
}

async function viaGrpc(path: string, token: string, headers: Headers): Promise<string> {
  return outcomeOf(await grpc.check(grpcRequest(path, token, headers)));
}

/** HTTP mode as Envoy http_service calls it; a repeated name is sent as separate header lines. */
function viaHttp(path: string, token: string, headers: Headers): Promise<string> {
  const raw: string[] = ['host', 'shop.example.com', 'accept', 'application/json', 'authorization', `Bearer ${token}`];
  for (const [k, v] of headers) raw.push(k, v);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: ports.http, path: `/check${path}`, headers: raw, timeout: 5_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200 ? 'allow' : String(res.headers['x-idgate-reason'])));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  ports = await freeExamplePorts();
  idgate = await startIdgate({ configYaml: renderExampleConfig(ports) });
  grpc = createEnvoyClient(`127.0.0.1:${ports.grpc}`);
  adminToken = await demoToken('sub=ada&scope=read&roles=admin&amr=mfa');
  buyerToken = await demoToken('sub=bea&scope=read&amr=mfa');
}, 30_000);

afterAll(async () => {
  grpc?.close();
  await idgate?.stop();
});

const ADMIN = '/api/admin/users';
const CASES: ReadonlyArray<readonly [string, string, 'admin' | 'buyer', Headers, string]> = [
  ['no country header (unknown)', ADMIN, 'admin', [], 'allow'],
  ['one allowed country', ADMIN, 'admin', [['x-geo-country', 'US']], 'allow'],
  ['one embargoed country', ADMIN, 'admin', [['x-geo-country', 'KP']], 'country_denied'],
  ['comma-joined US,KP', ADMIN, 'admin', [['x-geo-country', 'US,KP']], 'country_denied'],
  ['the header twice: US then KP', ADMIN, 'admin', [['x-geo-country', 'US'], ['x-geo-country', 'KP']], 'country_denied'],
  ['the header twice: US then US', ADMIN, 'admin', [['x-geo-country', 'US'], ['x-geo-country', 'US']], 'country_denied'],
  ['a three-letter code', ADMIN, 'admin', [['x-geo-country', 'USA']], 'country_denied'],
  ['a managed flag that is not true/false', '/payments/checkout', 'buyer', [['x-device-managed', 'yes']], 'device_denied'],
  ['the managed flag twice', '/payments/checkout', 'buyer', [['x-device-managed', 'true'], ['x-device-managed', 'false']], 'device_denied'],
  ['two device ids', '/api/orders', 'buyer', [['x-device-id', 'a'], ['x-device-id', 'b']], 'device_denied'],
];

describe('malformed trusted context headers fail closed on both front ends (example policy)', () => {
  it.each(CASES)('%s, on %s', async (_name, path, who, headers, expected) => {
    const token = who === 'admin' ? adminToken : buyerToken;
    const [g, h] = await Promise.all([viaGrpc(path, token, headers), viaHttp(path, token, headers)]);
    expect({ grpc: g, http: h }).toEqual({ grpc: expected, http: expected });
  });
});
