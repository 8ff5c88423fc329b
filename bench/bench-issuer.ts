import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';

/** Signing algorithms the bench issuer holds a key for. */
export type BenchAlgorithm = 'RS256' | 'ES256';

/** Claims of a bench token besides iss/aud/iat/exp/jti, which the issuer sets. */
export interface BenchClaims {
  readonly sub: string;
  readonly [claim: string]: unknown;
}

/**
 * The benchmark's identity provider: a JWKS endpoint on 127.0.0.1 (node:http) publishing one RS256 and one
 * ES256 key, and a minting function for tokens idgate accepts. A resource with a lifecycle: {@link listen},
 * then {@link close}.
 *
 * It serves only `GET /jwks` (200, `application/jwk-set+json`) and 404 otherwise; idgate fetches it once
 * and caches it, so it costs nothing during a measurement.
 */
export class BenchIssuer {
  /** The `aud` every token carries and idgate's issuer config must accept. */
  readonly audience = 'shop-api';
  #server: Server | undefined;
  #issuer = '';
  #keys: Record<BenchAlgorithm, { key: CryptoKey; jwk: JWK }> | undefined;
  #serial = 0;
  /** How many times the JWKS was fetched (to show it was cached). */
  jwksFetches = 0;

  /** `http://127.0.0.1:<port>`; valid after {@link listen}. */
  get issuer(): string {
    return this.#issuer;
  }

  /** `<issuer>/jwks`. */
  get jwksUri(): string {
    return `${this.#issuer}/jwks`;
  }

  /** Generates the keys and starts the JWKS server on 127.0.0.1, port 0. */
  async listen(): Promise<void> {
    const rs = await generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
    const es = await generateKeyPair('ES256', { extractable: true });
    this.#keys = {
      RS256: { key: rs.privateKey, jwk: { ...(await exportJWK(rs.publicKey)), kid: 'bench-rs256', alg: 'RS256', use: 'sig' } },
      ES256: { key: es.privateKey, jwk: { ...(await exportJWK(es.publicKey)), kid: 'bench-es256', alg: 'ES256', use: 'sig' } },
    };
    const body = JSON.stringify({ keys: [this.#keys.RS256.jwk, this.#keys.ES256.jwk] });
    const server = createServer((req, res) => {
      if (req.method === 'GET' && req.url === '/jwks') {
        this.jwksFetches += 1;
        res.writeHead(200, { 'content-type': 'application/jwk-set+json', 'cache-control': 'max-age=3600' }).end(body);
        return;
      }
      res.writeHead(404).end();
    });
    server.requestTimeout = 5_000;
    server.headersTimeout = 5_000;
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.#issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  /**
   * Signs a token valid for `ttlSeconds` (default 2 h) with a unique `jti`.
   * @throws Error when the issuer has not been started.
   */
  async mint(alg: BenchAlgorithm, claims: BenchClaims, ttlSeconds = 7_200): Promise<string> {
    const entry = this.#keys?.[alg];
    if (entry === undefined) throw new Error('bench issuer not started');
    const now = Math.floor(Date.now() / 1000);
    this.#serial += 1;
    return new SignJWT({ auth_time: now, scope: 'orders:read', roles: ['customer'], ...claims })
      .setProtectedHeader({ alg, kid: entry.jwk.kid as string, typ: 'JWT' })
      .setIssuer(this.#issuer)
      .setAudience(this.audience)
      .setIssuedAt(now)
      .setExpirationTime(now + ttlSeconds)
      .setJti(`bench-${this.#serial}`)
      .sign(entry.key);
  }

  /**
   * Mints `count` distinct tokens, for the cold-token scenarios (each is verified once by idgate). Subjects
   * cycle over `subjects` distinct values (default: as many as tokens) so the verdict side stays realistic.
   */
  async mintPool(alg: BenchAlgorithm, count: number, options: { subjectPrefix?: string; subjects?: number } = {}): Promise<string[]> {
    const prefix = options.subjectPrefix ?? 'user-';
    const subjects = Math.max(1, options.subjects ?? count);
    const pool: string[] = [];
    for (let i = 0; i < count; i += 1) pool.push(await this.mint(alg, { sub: `${prefix}${i % subjects}` }));
    return pool;
  }

  /** Stops the JWKS server. Idempotent. */
  async close(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
