/** A discovery document or JWKS that cannot be used; `message` is safe to log and show in `/readyz`. */
export class KeySourceError extends Error {
  readonly code = 'ERR_KEY_SOURCE_INVALID';

  constructor(message: string) {
    super(message);
    this.name = 'KeySourceError';
  }
}

/**
 * Whether a key URL learnt from a remote document may be fetched: `https:`, or plain `http:` only to a
 * loopback host (local development, sidecars). Anything else would let whoever can tamper with the
 * discovery response redirect key fetches over cleartext.
 */
export function isAllowedKeyUrl(url: URL): boolean {
  if (url.protocol === 'https:') return true;
  if (url.protocol !== 'http:') return false;
  const host = url.hostname;
  return host === 'localhost' || host === '[::1]' || /^127(?:\.\d{1,3}){3}$/.test(host);
}

/**
 * Validates an OpenID Connect discovery document (OpenID Connect Discovery 1.0 §3/§4.3) for `expectedIssuer`.
 *
 * @returns the `jwks_uri` to fetch keys from.
 * @throws KeySourceError when the document is not an object, its `issuer` differs from the configured one
 *   (exact string match, §4.3), or `jwks_uri` is missing, unparsable or not https/loopback http.
 */
export function parseDiscoveryDocument(doc: unknown, expectedIssuer: string): string {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new KeySourceError('discovery document is not a JSON object');
  }
  const { issuer, jwks_uri: jwksUri } = doc as { issuer?: unknown; jwks_uri?: unknown };
  if (issuer !== expectedIssuer) {
    throw new KeySourceError('discovery document issuer does not match the configured issuer');
  }
  if (typeof jwksUri !== 'string') {
    throw new KeySourceError('discovery document has no jwks_uri');
  }
  let url: URL;
  try {
    url = new URL(jwksUri);
  } catch {
    throw new KeySourceError('discovery document jwks_uri is not a valid URL');
  }
  if (!isAllowedKeyUrl(url)) {
    throw new KeySourceError('discovery document jwks_uri must be https (or http to a loopback host)');
  }
  return url.href;
}

/** Key types idgate verifies with; `oct` (shared secrets) never comes from a JWKS. */
const ASYMMETRIC_KTY = new Set(['RSA', 'EC', 'OKP']);
/** Private members of RSA/EC/OKP JWKs (RFC 7518 §6). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth'] as const;

/** A JWK as kept in the cache: a public signing key, plain JSON. */
export type PublicJwk = Readonly<Record<string, unknown>> & { readonly kty: string; readonly kid?: string };

/**
 * Validates a JWK Set document (RFC 7517 §5) and keeps only the public signing keys: keys with
 * `use: "enc"`, symmetric (`oct`) keys, unknown key types and keys carrying private members are dropped.
 *
 * @returns the usable keys, at least one.
 * @throws KeySourceError when the document is not `{ "keys": [...] }` or no usable key remains.
 */
export function parseJwks(doc: unknown): PublicJwk[] {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new KeySourceError('JWKS is not a JSON object');
  }
  const keys = (doc as { keys?: unknown }).keys;
  if (!Array.isArray(keys)) {
    throw new KeySourceError('JWKS has no "keys" array');
  }
  const usable: PublicJwk[] = [];
  for (const key of keys as unknown[]) {
    if (typeof key !== 'object' || key === null || Array.isArray(key)) continue;
    const jwk = key as Record<string, unknown>;
    if (typeof jwk.kty !== 'string' || !ASYMMETRIC_KTY.has(jwk.kty)) continue;
    if (jwk.use !== undefined && jwk.use !== 'sig') continue;
    if (jwk.kid !== undefined && typeof jwk.kid !== 'string') continue;
    if (PRIVATE_MEMBERS.some((member) => member in jwk)) continue;
    usable.push(jwk as PublicJwk);
  }
  if (usable.length === 0) {
    // An empty set is far more likely a broken endpoint than a deliberate revocation of every key;
    // keeping the previous keys is the stale-if-error behaviour operators expect.
    throw new KeySourceError('JWKS contains no usable signing keys');
  }
  return usable;
}
