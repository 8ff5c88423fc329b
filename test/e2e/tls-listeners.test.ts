import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkRequest, eventually, problemOf } from '../support/check-requests.js';
import { testConfigYaml } from '../support/config-yaml.js';
import { createEnvoyClient, type EnvoyClient, type UpstreamCheckResponse } from '../support/envoy-client.js';
import { startIdgate, type IdgateProcess } from '../support/idgate-process.js';
import { startJwksServer, type JwksServer } from '../support/jwks-server.js';
import { createTestCa, createSecretVolume, issueTestLeaf, type SecretVolume, type TestCa, type TestLeaf } from '../support/test-pki.js';
import { createTestKey, jwksOf, mintToken, type TestKey } from '../support/tokens.js';

/**
 * TLS between Envoy and idgate (issue 16 §3), against the spawned CLI: both authz listeners serve a
 * certificate from a Secret-volume-like directory and require a client certificate from the client CA
 * whose SAN is on the allow list. A grpc-js TLS client (what Envoy's UpstreamTlsContext does) and a raw
 * HTTPS client check decisions, refusals and rotation.
 */
const ENVOY_SPIFFE = 'spiffe://cluster.local/ns/edge/sa/envoy';
let dir: string;
let serverCa: TestCa;
let clientCa: TestCa;
let rogueCa: TestCa;
let envoyLeaf: TestLeaf;
let strangerLeaf: TestLeaf;
let rogueLeaf: TestLeaf;
let volume: SecretVolume;
let jwks: JwksServer;
let key: TestKey;
let idgate: IdgateProcess;

function grpcClient(opts: { ca: Buffer; leaf?: TestLeaf }): EnvoyClient {
  const creds = grpc.credentials.createSsl(opts.ca, opts.leaf?.keyPem ?? null, opts.leaf?.certPem ?? null);
  return createEnvoyClient(`127.0.0.1:${idgate.ports.grpc}`, {}, creds);
}

function check(client: EnvoyClient, path: string, token?: string, deadlineMs = 3_000): Promise<UpstreamCheckResponse> {
  return client.check(checkRequest({ path, ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}) }), { deadlineMs });
}

/** One HTTPS request to the HTTP authz listener on a fresh connection: status, or the transport error's code. */
function httpsCheck(path: string, opts: { ca: Buffer; leaf?: TestLeaf }): Promise<number | string> {
  return new Promise((resolve) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port: idgate.ports.http,
        path: `/check${path}`,
        headers: { host: 'shop.example.com' },
        servername: 'localhost', // SNI and name check (node would take them from the Host header)
        ca: opts.ca,
        ...(opts.leaf ? { cert: opts.leaf.certPem, key: opts.leaf.keyPem } : {}),
        agent: false,
        timeout: 5_000,
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    req.end();
  });
}

/** The serial number of the certificate a listener presents to a new connection. */
function servedSerial(port: number, ca: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca, cert: envoyLeaf.certPem, key: envoyLeaf.keyPem, ALPNProtocols: ['h2', 'http/1.1'] }, () => {
      const serial = socket.getPeerCertificate().serialNumber;
      socket.destroy();
      resolve(serial);
    });
    socket.on('error', reject);
  });
}

function serialOf(pem: Buffer): string {
  return new X509Certificate(pem).serialNumber;
}

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${idgate.ports.admin}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(name));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'idgate-tls-'));
  serverCa = createTestCa(dir, 'server-ca');
  clientCa = createTestCa(dir, 'client-ca');
  rogueCa = createTestCa(dir, 'rogue-ca');
  const serverLeaf = issueTestLeaf(dir, serverCa, 'idgate-1', ['DNS:localhost', 'IP:127.0.0.1']);
  envoyLeaf = issueTestLeaf(dir, clientCa, 'envoy', [`URI:${ENVOY_SPIFFE}`]);
  strangerLeaf = issueTestLeaf(dir, clientCa, 'stranger', ['URI:spiffe://cluster.local/ns/other/sa/app', 'DNS:envoy.evil']);
  rogueLeaf = issueTestLeaf(dir, rogueCa, 'rogue', [`URI:${ENVOY_SPIFFE}`]);
  volume = createSecretVolume(join(dir, 'secret'), { 'tls.crt': serverLeaf.certPem, 'tls.key': serverLeaf.keyPem, 'ca.crt': clientCa.certPem });
  key = await createTestKey('ES256', 'k1');
  jwks = await startJwksServer({ keys: jwksOf(key) });
  const tls = `tls: { certFile: ${volume.certFile}, keyFile: ${volume.keyFile}, clientCaFile: ${volume.caFile}, allowedSans: ["${ENVOY_SPIFFE}", envoy.internal], reloadInterval: 200ms }`;
  idgate = await startIdgate({
    configYaml: testConfigYaml({ issuer: jwks.url, jwksUri: jwks.jwksUrl, grpcYaml: `decisionTimeout: 5s, ${tls}`, httpAuthzYaml: tls }),
    command: 'authz',
  });
}, 60_000);

afterAll(async () => {
  await idgate?.stop();
  await jwks?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('gRPC ext_authz over mTLS', () => {
  it('decides for Envoy presenting an allowed client certificate', async () => {
    const client = grpcClient({ ca: serverCa.certPem, leaf: envoyLeaf });
    try {
      expect((await check(client, '/healthz')).http_response).toBe('ok_response');
      const token = await mintToken(key, { iss: jwks.url, aud: 'idgate-test', now: Date.now(), sub: 'alice', claims: { scope: 'read' } });
      expect((await check(client, '/api/orders', token)).http_response).toBe('ok_response');
      const denied = await check(client, '/api/orders');
      expect(denied.denied_response?.status?.code).toBe(401);
    } finally {
      client.close();
    }
  });

  it('refuses a client without a certificate at the handshake', async () => {
    const client = grpcClient({ ca: serverCa.certPem });
    try {
      await expect(check(client, '/healthz')).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    } finally {
      client.close();
    }
  });

  it('refuses a client certificate from another CA at the handshake', async () => {
    const client = grpcClient({ ca: serverCa.certPem, leaf: rogueLeaf });
    try {
      await expect(check(client, '/healthz')).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    } finally {
      client.close();
    }
  });

  it('denies (403 network_denied, never an allow) a client certificate from the CA whose SAN is not listed', async () => {
    const client = grpcClient({ ca: serverCa.certPem, leaf: strangerLeaf });
    try {
      const res = await check(client, '/healthz');
      expect(res.http_response).toBe('denied_response');
      expect(res.denied_response?.status?.code).toBe(403);
      expect(problemOf(res).code).toBe('network_denied');
    } finally {
      client.close();
    }
  });
});

describe('HTTP authz over mTLS', () => {
  it('decides for an allowed client certificate', async () => {
    expect(await httpsCheck('/healthz', { ca: serverCa.certPem, leaf: envoyLeaf })).toBe(200);
    expect(await httpsCheck('/api/orders', { ca: serverCa.certPem, leaf: envoyLeaf })).toBe(401);
  });

  it('refuses no certificate, a foreign CA and a SAN not listed: no status is ever returned', async () => {
    for (const leaf of [undefined, rogueLeaf, strangerLeaf]) {
      const result = await httpsCheck('/healthz', { ca: serverCa.certPem, ...(leaf ? { leaf } : {}) });
      expect(typeof result, `leaf ${leaf === undefined ? 'none' : leaf === rogueLeaf ? 'rogue' : 'stranger'} got ${String(result)}`).toBe('string');
    }
  });
});

describe('certificate rotation (Secret volume ..data swap)', () => {
  it('keeps the running certificate when the new files are bad, with a log line and a metric', async () => {
    const before = await servedSerial(idgate.ports.grpc!, serverCa.certPem);
    const failuresBefore = await metric('idgate_tls_reloads_total{listener="grpc",result="failure"}');
    const other = issueTestLeaf(dir, serverCa, 'idgate-mismatch', ['DNS:localhost', 'IP:127.0.0.1']);
    const current = issueTestLeaf(dir, serverCa, 'idgate-unused', ['DNS:localhost']);
    volume.swap({ 'tls.crt': other.certPem, 'tls.key': current.keyPem, 'ca.crt': clientCa.certPem }); // key of another cert
    await idgate.waitForLog((l) => l.msg === 'TLS certificate reload rejected; keeping the current certificate' && l.listener === 'grpc', 10_000);
    await eventually(() => metric('idgate_tls_reloads_total{listener="grpc",result="failure"}'), (n) => n === failuresBefore + 1);
    expect(await servedSerial(idgate.ports.grpc!, serverCa.certPem)).toBe(before);
    expect(await httpsCheck('/healthz', { ca: serverCa.certPem, leaf: envoyLeaf })).toBe(200);
    expect(idgate.output()).not.toContain(current.keyPem.toString('utf8').split('\n')[1]);
  });

  it('serves the new certificate to new connections while an in-flight Check on the old one finishes', async () => {
    const oldClient = grpcClient({ ca: serverCa.certPem, leaf: envoyLeaf });
    try {
      expect((await check(oldClient, '/healthz')).http_response).toBe('ok_response'); // connection is up
      // A Check that stays in flight: a token signed by a key the JWKS does not have, while the JWKS hangs.
      jwks.setJwksMode('hang');
      const stranger = await createTestKey('ES256', 'k-unknown');
      const token = await mintToken(stranger, { iss: jwks.url, aud: 'idgate-test', now: Date.now(), sub: 'bob', claims: { scope: 'read' } });
      let settled = false;
      const inFlight = check(oldClient, '/api/orders', token, 10_000).finally(() => {
        settled = true;
      });

      // Rotate to a certificate from a different server CA: only a client trusting it can connect anew.
      const newCa = createTestCa(dir, 'server-ca-2');
      const rotated = issueTestLeaf(dir, newCa, 'idgate-2', ['DNS:localhost', 'IP:127.0.0.1']);
      volume.swap({ 'tls.crt': rotated.certPem, 'tls.key': rotated.keyPem, 'ca.crt': clientCa.certPem });
      await idgate.waitForLog((l) => l.msg === 'TLS certificate reloaded' && l.listener === 'grpc', 10_000);
      await idgate.waitForLog((l) => l.msg === 'TLS certificate reloaded' && l.listener === 'httpAuthz', 10_000);
      expect(settled).toBe(false); // the Check really was in flight across the reload

      expect(await servedSerial(idgate.ports.grpc!, newCa.certPem)).toBe(serialOf(rotated.certPem));
      expect(await servedSerial(idgate.ports.http!, newCa.certPem)).toBe(serialOf(rotated.certPem));
      const newClient = grpcClient({ ca: newCa.certPem, leaf: envoyLeaf });
      try {
        expect((await check(newClient, '/healthz')).http_response).toBe('ok_response');
      } finally {
        newClient.close();
      }
      expect(await httpsCheck('/healthz', { ca: newCa.certPem, leaf: envoyLeaf })).toBe(200);
      expect(await httpsCheck('/healthz', { ca: serverCa.certPem, leaf: envoyLeaf })).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');

      // The in-flight Check ends with a verdict on its old connection, not a dropped RPC.
      jwks.setJwksMode('ok');
      const res = await inFlight;
      expect(res.http_response).toBe('denied_response');
      expect(res.denied_response?.status?.code).toBeGreaterThanOrEqual(400);
      // The old connection keeps working.
      expect((await check(oldClient, '/healthz')).http_response).toBe('ok_response');
    } finally {
      oldClient.close();
    }
  }, 30_000);
});

describe('startup with unusable certificate files', () => {
  it('refuses to start (no plaintext fallback), naming the key and the problem but not the key material', async () => {
    const leaf = issueTestLeaf(dir, serverCa, 'idgate-start', ['DNS:localhost']);
    const other = issueTestLeaf(dir, serverCa, 'idgate-other', ['DNS:localhost']);
    const bad = createSecretVolume(join(dir, 'bad-secret'), { 'tls.crt': leaf.certPem, 'tls.key': other.keyPem, 'ca.crt': clientCa.certPem });
    const start = startIdgate({
      configYaml: testConfigYaml({
        issuer: jwks.url,
        jwksUri: jwks.jwksUrl,
        httpAuthzYaml: `tls: { certFile: ${bad.certFile}, keyFile: ${bad.keyFile} }`,
      }),
      command: 'authz',
    });
    const err = (await start.then(
      (proc) => {
        void proc.stop();
        return new Error('started');
      },
      (e: Error) => e,
    )) as Error;
    expect(err.message).toMatch(/idgate exited with 3/);
    expect(err.message).toContain('server.httpAuthz.tls: the private key does not match the certificate');
    expect(err.message).not.toContain(other.keyPem.toString('utf8').split('\n')[1]);
  }, 30_000);
});
