import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * How an endpoint of the {@link JwksServer} answers: `ok` = its document, `error` = 503, `garbage` = 200
 * with a body that is not JSON, `hang` = never answers (until the server closes).
 */
export type EndpointMode = 'ok' | 'error' | 'garbage' | 'hang';

/** A local JWKS + OIDC discovery server for tests (node:http on 127.0.0.1, port 0). */
export interface JwksServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** `<url>/jwks` */
  readonly jwksUrl: string;
  /** `<url>/.well-known/openid-configuration` */
  readonly discoveryUrl: string;
  /** Requests received per endpoint since the last {@link resetCounts}. */
  readonly counts: { jwks: number; discovery: number };
  /** The JSON document served at /jwks (any JSON, to test malformed sets). */
  setKeys(doc: unknown): void;
  setJwksMode(mode: EndpointMode): void;
  /** The discovery document (default `{ issuer: <url>, jwks_uri: <jwksUrl> }`). */
  setDiscovery(doc: unknown): void;
  setDiscoveryMode(mode: EndpointMode): void;
  resetCounts(): void;
  /** Stops listening and drops every connection: clients get "connection refused". */
  takeDown(): Promise<void>;
  /** Listens again on the same port. */
  bringUp(): Promise<void>;
  close(): Promise<void>;
}

/** Starts a {@link JwksServer} serving `keys` (default an empty set). */
export async function startJwksServer(options: { keys?: unknown } = {}): Promise<JwksServer> {
  let keys: unknown = options.keys ?? { keys: [] };
  let discovery: unknown;
  let jwksMode: EndpointMode = 'ok';
  let discoveryMode: EndpointMode = 'ok';
  const counts = { jwks: 0, discovery: 0 };
  const hanging = new Set<ServerResponse>();

  const answer = (res: ServerResponse, mode: EndpointMode, doc: unknown): void => {
    switch (mode) {
      case 'ok':
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(doc));
        return;
      case 'error':
        res.writeHead(503, { 'content-type': 'text/plain' }).end('unavailable');
        return;
      case 'garbage':
        res.writeHead(200, { 'content-type': 'application/json' }).end('<html>definitely not json');
        return;
      case 'hang':
        hanging.add(res);
        res.on('close', () => hanging.delete(res));
        return;
      default: {
        const unreachable: never = mode;
        throw new Error(`unknown mode ${String(unreachable)}`);
      }
    }
  };

  let base = '';
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/jwks') {
      counts.jwks += 1;
      answer(res, jwksMode, keys);
    } else if (path === '/.well-known/openid-configuration') {
      counts.discovery += 1;
      answer(res, discoveryMode, discovery ?? { issuer: base, jwks_uri: `${base}/jwks` });
    } else {
      res.writeHead(404).end();
    }
  };

  let server: Server = createServer(handler);
  await listen(server, 0);
  const port = (server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}`;

  const stop = async (): Promise<void> => {
    for (const res of hanging) res.destroy();
    hanging.clear();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };

  return {
    url: base,
    jwksUrl: `${base}/jwks`,
    discoveryUrl: `${base}/.well-known/openid-configuration`,
    counts,
    setKeys: (doc) => {
      keys = doc;
    },
    setJwksMode: (mode) => {
      jwksMode = mode;
    },
    setDiscovery: (doc) => {
      discovery = doc;
    },
    setDiscoveryMode: (mode) => {
      discoveryMode = mode;
    },
    resetCounts: () => {
      counts.jwks = 0;
      counts.discovery = 0;
    },
    takeDown: stop,
    bringUp: async () => {
      if (server.listening) return;
      server = createServer(handler);
      await listen(server, port);
    },
    close: async () => {
      if (server.listening) await stop();
    },
  };
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
}
