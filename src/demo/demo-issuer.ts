import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import type { Logger } from 'pino';
import { listenServer } from '../http/server-lifecycle.js';

/**
 * A local OpenID Provider look-alike for `make run` and the README walkthrough: it publishes a discovery
 * document and a JWKS, and mints ES256 tokens on `GET /token?sub=…&scope=…&roles=…&amr=…&email=…&azp=…&acr=…`
 * (the claims the example policy reads and maps to headers; see {@link tokenClaims}).
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

  /** Use {@link createDemoIssuer}. */
  constructor(deps: { logger: Logger }, options: { audience: string }) {
    this.#logger = deps.logger;
    this.#audience = options.audience;
  }

  /** The issuer URL (`http://127.0.0.1:<port>`), valid after {@link listen}. */
  get issuer(): string {
    return this.#issuer;
  }

  /**
   * Starts the server; resolves to the bound port. The composition root passes a loopback `host`: the
   * issuer mints tokens for anyone who asks, so it must never face a network.
   */
  async listen(host: string, port: number): Promise<number> {
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
    const bound = await listenServer(server, host, port);
    this.#issuer = `http://${host.includes(':') ? `[${host}]` : host}:${bound}`;
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
        const built = tokenClaims(url);
        if (typeof built === 'string') return json(res, 400, { error: built });
        const token = await this.mint(built);
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
        res.end(`${token}\n`);
        return;
      }
      default:
        return json(res, 404, { error: 'not found' });
    }
  }
}

const MAX_QUERY_CHARS = 1024;
const WORD = /^[\w.:-]{1,64}$/;
/** A plain address: enough for the walkthrough, nothing that could smuggle a header (no spaces, CR/LF, commas). */
const EMAIL = /^[\w.+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*$/;
const LIST_PARAMS: Readonly<Record<string, string>> = { roles: 'roles', amr: 'amr' };
const ACCEPTED = ['sub', 'scope', 'roles', 'amr', 'email', 'azp', 'acr'];

/**
 * The claims for `GET /token`, validated, or the reason the query is refused. Every parameter is optional
 * (`sub` defaults to `alice`), appears at most once and is bounded: `sub`, `azp`, `acr` and each item of
 * the comma lists `roles`, `amr` are 1-64 of `[A-Za-z0-9_.:-]` (at most 16 items); `scope` is up to 16
 * such words separated by spaces; `email` a plain address of at most 254 characters.
 */
export function tokenClaims(url: URL): (Record<string, unknown> & { sub: string }) | string {
  if (url.search.length > MAX_QUERY_CHARS) return `query too long (at most ${MAX_QUERY_CHARS} characters)`;
  const claims: Record<string, unknown> & { sub: string } = { sub: 'alice' };
  const seen = new Set<string>();
  for (const [key, value] of url.searchParams) {
    if (!ACCEPTED.includes(key)) return `unknown parameter "${key.slice(0, 32)}" (accepted: ${ACCEPTED.join(', ')})`;
    if (seen.has(key)) return `parameter "${key}" given twice`;
    seen.add(key);
    if (key in LIST_PARAMS) {
      const items = value.split(',').filter(Boolean);
      if (items.length > 16 || !items.every((i) => WORD.test(i))) return `${key} must be a comma list of up to 16 items of 1-64 [A-Za-z0-9_.:-]`;
      if (items.length > 0) claims[key] = items;
    } else if (key === 'scope') {
      const words = value.split(' ').filter(Boolean);
      if (words.length > 16 || !words.every((w) => WORD.test(w))) return 'scope must be up to 16 space-separated words of 1-64 [A-Za-z0-9_.:-]';
      if (words.length > 0) claims.scope = words.join(' ');
    } else if (key === 'email') {
      if (value.length > 254 || !EMAIL.test(value)) return 'email must be a plain address like alice@example.com';
      claims.email = value;
    } else if (key === 'sub' ? !/^[\w.@:-]{1,64}$/.test(value) : !WORD.test(value)) {
      return `${key} must be 1-64 of [A-Za-z0-9_.:-${key === 'sub' ? '@' : ''}]`;
    } else {
      claims[key] = value;
    }
  }
  return claims;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

/** Creates (not yet listening) the demo issuer; {@link DemoIssuer.listen} binds it. */
export function createDemoIssuer(options: { logger: Logger; audience: string }): DemoIssuer {
  return new DemoIssuer({ logger: options.logger }, { audience: options.audience });
}
