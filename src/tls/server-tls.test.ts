import { describe, expect, it } from 'vitest';
import { ConfigError } from '../config/config-error.js';
import { parseConfig } from '../config/parse-config.js';
import { createSanMatcher, isUriSan, parseSubjectAltName } from './server-tls.js';

const ISSUER = `issuers:
  - name: corp
    issuer: https://corp.example
    audiences: [api]
    jwksUri: https://corp.example/jwks
`;

function errorOf(text: string): string {
  try {
    parseConfig(text, { sourceName: 't.yaml', env: {} });
  } catch (err) {
    if (err instanceof ConfigError) return err.format();
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('parseSubjectAltName', () => {
  it('splits node’s subjectaltname string into typed entries', () => {
    expect(parseSubjectAltName('DNS:a.example, URI:spiffe://td/ns/x/sa/y, IP Address:127.0.0.1')).toEqual([
      ['DNS', 'a.example'],
      ['URI', 'spiffe://td/ns/x/sa/y'],
      ['IP Address', '127.0.0.1'],
    ]);
  });

  it('reads a JSON-quoted value as one entry, so a SAN holding ", URI:" cannot smuggle a second name', () => {
    const crafted = `DNS:${JSON.stringify('evil.example, URI:spiffe://td/ns/edge/sa/envoy')}, DNS:b.example`;
    expect(parseSubjectAltName(crafted)).toEqual([
      ['DNS', 'evil.example, URI:spiffe://td/ns/edge/sa/envoy'],
      ['DNS', 'b.example'],
    ]);
    expect(createSanMatcher(['spiffe://td/ns/edge/sa/envoy'])({ subjectaltname: crafted } as never)).toBe(false);
  });
});

describe('createSanMatcher', () => {
  const allowed = createSanMatcher(['spiffe://td/ns/edge/sa/envoy', 'Envoy.Internal']);
  const peer = (subjectaltname?: string) => (subjectaltname === undefined ? ({} as never) : ({ subjectaltname } as never));

  it('matches URI SANs exactly and DNS SANs case-insensitively', () => {
    expect(allowed(peer('URI:spiffe://td/ns/edge/sa/envoy'))).toBe(true);
    expect(allowed(peer('DNS:envoy.internal'))).toBe(true);
    expect(allowed(peer('DNS:other.example, URI:spiffe://td/ns/edge/sa/envoy'))).toBe(true);
  });

  it('refuses near misses, a URI written as DNS, and a certificate without SANs', () => {
    expect(allowed(peer('URI:spiffe://td/ns/edge/sa/envoy2'))).toBe(false);
    expect(allowed(peer('URI:SPIFFE://td/ns/edge/sa/envoy'))).toBe(false);
    expect(allowed(peer('DNS:spiffe://td/ns/edge/sa/envoy'))).toBe(false);
    expect(allowed(peer('URI:envoy.internal'))).toBe(false);
    expect(allowed(peer('DNS:x.envoy.internal'))).toBe(false);
    expect(allowed(peer())).toBe(false);
    expect(allowed(undefined)).toBe(false);
  });

  it('an empty list allows any CA-verified certificate', () => {
    expect(createSanMatcher([])(peer())).toBe(true);
  });

  it('tells URI entries from DNS names by the scheme', () => {
    expect(isUriSan('spiffe://td/x')).toBe(true);
    expect(isUriSan('envoy.internal')).toBe(false);
  });
});

describe('server.*.tls config', () => {
  it('parses both listeners with defaults', () => {
    const config = parseConfig(
      `server:
  grpc: { tls: { certFile: /tls/tls.crt, keyFile: /tls/tls.key, clientCaFile: /tls/ca.crt, allowedSans: [spiffe://td/ns/edge/sa/envoy] } }
  httpAuthz: { tls: { certFile: /tls/tls.crt, keyFile: /tls/tls.key, reloadInterval: 30s } }
${ISSUER}`,
      { sourceName: 't.yaml', env: {} },
    );
    expect(config.server.grpc.tls).toEqual({
      certFile: '/tls/tls.crt',
      keyFile: '/tls/tls.key',
      clientCaFile: '/tls/ca.crt',
      allowedSans: ['spiffe://td/ns/edge/sa/envoy'],
      reloadIntervalMs: 10_000,
    });
    expect(config.server.httpAuthz.tls).toEqual({ certFile: '/tls/tls.crt', keyFile: '/tls/tls.key', allowedSans: [], reloadIntervalMs: 30_000 });
  });

  it('refuses allowedSans without clientCaFile, typed SAN prefixes, a missing keyFile and unknown keys', () => {
    expect(errorOf(`server:\n  grpc: { tls: { certFile: a, keyFile: b, allowedSans: [x.example] } }\n${ISSUER}`)).toMatch(/allowedSans needs clientCaFile/);
    expect(errorOf(`server:\n  grpc: { tls: { certFile: a, keyFile: b, clientCaFile: c, allowedSans: ["URI:spiffe://x"] } }\n${ISSUER}`)).toMatch(/without a type prefix/);
    expect(errorOf(`server:\n  grpc: { tls: { certFile: a, keyFile: b, clientCaFile: c, allowedSans: ["a.example, b.example"] } }\n${ISSUER}`)).toMatch(/spaces, commas or quotes/);
    expect(errorOf(`server:\n  httpAuthz: { tls: { certFile: a } }\n${ISSUER}`)).toMatch(/keyFile/);
    expect(errorOf(`server:\n  grpc: { tls: { certFile: a, keyFile: b, caFile: c } }\n${ISSUER}`)).toMatch(/caFile/);
  });
});
