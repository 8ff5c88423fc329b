import { createHmac, KeyObject, randomUUID, sign as nodeSign, type webcrypto } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import type { IssuerConfig, JwksConfig } from '../../src/config/types.js';
import type { RequestContext } from '../../src/core/request-context.js';

/** Asymmetric algorithms the test keys can sign with. */
export type TestAlg = 'RS256' | 'ES256' | 'EdDSA';

/** A signing key pair for tests, with its public JWK (carrying `kid`, `alg`, `use: sig`). */
export interface TestKey {
  readonly alg: TestAlg;
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
  readonly publicJwk: JWK;
}

/** Generates a fresh key pair (`kid` random unless given). */
export async function createTestKey(alg: TestAlg, kid: string = randomUUID()): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { alg, kid, privateKey, publicKey, publicJwk };
}

/** A JWK Set document of the keys' public halves. */
export function jwksOf(...keys: readonly TestKey[]): { keys: JWK[] } {
  return { keys: keys.map((k) => k.publicJwk) };
}

/** Claims and header for a minted token; `now` (epoch ms) anchors `iat` and the default `exp`. */
export interface MintOptions {
  readonly iss: string;
  readonly aud: string | readonly string[];
  readonly now: number;
  readonly sub?: string;
  /** Lifetime in seconds from `now` (default 300). */
  readonly ttlSeconds?: number;
  /** Extra or overriding claims (`undefined` values are dropped). */
  readonly claims?: Readonly<Record<string, unknown>>;
  /** Claims to leave out entirely (e.g. `sub`, `exp`). */
  readonly omit?: readonly string[];
  /** Extra or overriding protected-header parameters (e.g. `kid`, `typ`, `jku`, `jwk`). */
  readonly header?: Readonly<Record<string, unknown>>;
}

/** The claims set {@link MintOptions} describes. */
export function claimsFor(options: MintOptions): Record<string, unknown> {
  const iat = Math.floor(options.now / 1000);
  const claims: Record<string, unknown> = {
    iss: options.iss,
    aud: options.aud,
    sub: options.sub ?? 'user-1',
    iat,
    exp: iat + (options.ttlSeconds ?? 300),
    ...options.claims,
  };
  for (const name of options.omit ?? []) delete claims[name];
  for (const [name, value] of Object.entries(claims)) if (value === undefined) delete claims[name];
  return claims;
}

/** Signs a JWT with jose using the test key (header `alg`, `kid`, `typ: JWT`, then overrides). */
export async function mintToken(key: TestKey, options: MintOptions): Promise<string> {
  const header: Record<string, unknown> = { alg: key.alg, kid: key.kid, typ: 'JWT', ...options.header };
  const crit = Array.isArray(header.crit) ? Object.fromEntries((header.crit as string[]).map((c) => [c, true])) : undefined;
  return new SignJWT(claimsFor(options))
    .setProtectedHeader(header as Parameters<SignJWT['setProtectedHeader']>[0])
    .sign(key.privateKey, crit === undefined ? undefined : { crit });
}

/** Signs an HS256 JWT with a shared secret (string secrets are UTF-8 encoded, as idgate does). */
export async function mintHs256(secret: string | Uint8Array, options: MintOptions): Promise<string> {
  const key = typeof secret === 'string' ? new TextEncoder().encode(secret) : secret;
  return new SignJWT(claimsFor(options))
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT', ...options.header } as Parameters<SignJWT['setProtectedHeader']>[0])
    .sign(key);
}

/** base64url of a JSON value or raw bytes. */
export function b64url(value: unknown): string {
  const bytes = value instanceof Uint8Array ? Buffer.from(value) : Buffer.from(JSON.stringify(value));
  return bytes.toString('base64url');
}

/** A compact token assembled by hand, with whatever header, payload and signature segment you give. */
export function craftToken(header: unknown, payload: unknown, signature = ''): string {
  return `${b64url(header)}.${b64url(payload)}.${signature}`;
}

/**
 * Signs an arbitrary header and payload without any of jose's producer-side checks (for `crit`, embedded
 * `jwk`, mismatched `alg` and the like). `key` is a test key (its algorithm) or `{ hs256: secret }`.
 */
export function signRaw(
  header: Readonly<Record<string, unknown>>,
  payload: unknown,
  key: TestKey | { readonly hs256: string | Uint8Array },
): string {
  const input = `${b64url(header)}.${b64url(payload)}`;
  let signature: Buffer;
  if ('hs256' in key) {
    signature = createHmac('sha256', key.hs256).update(input).digest();
  } else {
    const keyObject = KeyObject.from(key.privateKey as unknown as webcrypto.CryptoKey);
    switch (key.alg) {
      case 'RS256':
        signature = nodeSign('sha256', Buffer.from(input), keyObject);
        break;
      case 'ES256':
        signature = nodeSign('sha256', Buffer.from(input), { key: keyObject, dsaEncoding: 'ieee-p1363' });
        break;
      case 'EdDSA':
        signature = nodeSign(null, Buffer.from(input), keyObject);
        break;
      default: {
        const unreachable: never = key.alg;
        throw new Error(`unsupported ${String(unreachable)}`);
      }
    }
  }
  return `${input}.${signature.toString('base64url')}`;
}

/** The public key of a test key as SPKI PEM (the "secret" of a key-confusion attack). */
export function publicKeyPem(key: TestKey): string {
  return KeyObject.from(key.publicKey as unknown as webcrypto.CryptoKey).export({ type: 'spki', format: 'pem' }).toString();
}

/** A minimal {@link RequestContext} carrying the given headers and Envoy metadata. */
export function requestContextWith(
  headers: Readonly<Record<string, string>> = {},
  metadata: RequestContext['metadata'] = {},
  receivedAt = 0,
): RequestContext {
  return {
    method: 'GET',
    scheme: 'https',
    host: 'app.example.com',
    path: '/',
    rawPath: '/',
    query: '',
    headers,
    sourceAddress: '127.0.0.1',
    sourcePrincipal: '',
    contextExtensions: {},
    metadata,
    requestId: 'test-request',
    protocol: 'HTTP/1.1',
    receivedAt,
  };
}

/** A context with `authorization: Bearer <token>`. */
export function bearerContext(token: string): RequestContext {
  return requestContextWith({ authorization: `Bearer ${token}` });
}

/** JWKS settings for tests: the production defaults, except a short fetch timeout. */
export const TEST_JWKS_CONFIG: JwksConfig = {
  refreshIntervalMs: 10 * 60_000,
  maxStaleMs: 24 * 3_600_000,
  minRefetchIntervalMs: 30_000,
  fetchTimeoutMs: 500,
  maxBodyBytes: 256 * 1024,
};

/**
 * A validated-looking issuer config: `Authorization: Bearer`, 30 s skew, `sub` subject, RS256, and
 * whatever `overrides` say (pass exactly one of `jwksUri`, `discoveryUrl`, `secret`).
 */
export function issuerConfigFor(
  overrides: Partial<Omit<IssuerConfig, 'jwks'>> & Pick<IssuerConfig, 'name' | 'issuer'> & { jwks?: Partial<JwksConfig> },
): IssuerConfig {
  return {
    audiences: ['api://idgate'],
    algorithms: ['RS256'],
    clockSkewMs: 30_000,
    subjectClaim: 'sub',
    sources: [{ type: 'header', name: 'authorization', scheme: 'Bearer' }],
    ...overrides,
    jwks: { ...TEST_JWKS_CONFIG, ...overrides.jwks },
  };
}
