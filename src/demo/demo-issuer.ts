import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import type { Logger } from 'pino';

/**
 * A local OpenID Provider look-alike for `make run` and the README walkthrough: it publishes a discovery
 * document and a JWKS, and mints ES256 tokens on `GET /token?sub=…&scope=…&roles=…&amr=…`.
 *
 * It exists so a newcomer can get a real, signed token in one `curl` without an identity provider. It binds
 * to loopback only and is never started unless the config asks for it (`demoIssuer.enabled`).
 */
export class DemoIssuer {
  readonly #logger: Logger;
  readonly #audience: string;
  #server: Server | undefined;
  #key: CryptoKey | undefined;
  #jwk: JWK | undefined;
  #issuer = '';

  constructor(deps: { logger: Logger }, options: { audience: string }) {
    this.#logger = deps.logger;
    this.#audience = options.audience;
  }

  /** The issuer URL (`http://127.0.0.1:<port>`), valid after {@link listen}. */
  get issuer(): string {
    return this.#issuer;
  }

  /** Starts the server on 127.0.0.1; resolves to the bound port. */
  async listen(port: number): Promise<number> {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    this.#key = privateKey;
    this.#jwk = { ...(await exportJWK(publicKey)), kid: 'demo-1', alg: 'ES256', use: 'sig' };
    const server = createServer((req, res) => {
      this.#handle(req, res).catch((err: unknown) => {
        this.#logger.error({ err }, 'demo issuer failed');
        if (!res.headersSent) res.writeHead(500).end();
      });
    });
    server.requestTimeout = 5_000;
    server.headersTimeout = 5_000;
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    const bound = (server.address() as AddressInfo).port;
    this.#issuer = `http://127.0.0.1:${bound}`;
    return bound;
  }

  /** Mints a token for tests and the CLI (same as `GET /token`). */
  async mint(claims: Record<string, unknown> & { sub: string }, ttlSeconds = 3600): Promise<string> {
    if (!this.#key) throw new Error('demo issuer not started');
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ auth_time: now, ...claims })
      .setProtectedHeader({ alg: 'ES256', kid: 'demo-1', typ: 'JWT' })
      .setIssuer(this.#issuer)
      .setAudience(this.#audience)
      .setIssuedAt(now)
      .setExpirationTime(now + ttlSeconds)
      .sign(this.#key);
  }

  async close(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.#issuer);
    if (req.method !== 'GET') {
      res.writeHead(405, { allow: 'GET' }).end();
      return;
    }
    switch (url.pathname) {
      case '/.well-known/openid-configuration':
        return json(res, 200, {
          issuer: this.#issuer,
          jwks_uri: `${this.#issuer}/jwks.json`,
          id_token_signing_alg_values_supported: ['ES256'],
          token_endpoint: `${this.#issuer}/token`,
        });
      case '/jwks.json':
        return json(res, 200, { keys: [this.#jwk] });
      case '/token': {
        const sub = url.searchParams.get('sub') ?? 'alice';
        if (!/^[\w.@-]{1,64}$/.test(sub)) return json(res, 400, { error: 'sub must be 1-64 of [A-Za-z0-9_.@-]' });
        const claims: Record<string, unknown> & { sub: string } = { sub };
        const scope = url.searchParams.get('scope');
        if (scope) claims.scope = scope;
        const roles = url.searchParams.get('roles');
        if (roles) claims.roles = roles.split(',').filter(Boolean);
        const amr = url.searchParams.get('amr');
        if (amr) claims.amr = amr.split(',').filter(Boolean);
        const token = await this.mint(claims);
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
        res.end(`${token}\n`);
        return;
      }
      default:
        return json(res, 404, { error: 'not found' });
    }
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}
