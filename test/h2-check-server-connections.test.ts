import { readFileSync } from 'node:fs';
import * as http2 from 'node:http2';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { Decider } from '../src/core/decider.js';
import type { Decision } from '../src/core/decision.js';
import { createH2CheckServer, type H2CheckServer } from '../src/extauthz/h2-check-server.js';

/**
 * Connection lifetime on the node:http2 transport. A server-side idle close races the proxy's next request
 * (a Check sent while the GOAWAY is on the wire is refused and Envoy does not retry it), so idle connections
 * stay open by default, as in grpc-js and grpc-go; a peer that vanished is found by TCP keepalive, which the
 * kernel shows in /proc/net/tcp as the socket's timer (`tr` = 2).
 */

const decider: Decider = {
  decide(): Promise<Decision> {
    return Promise.resolve({ kind: 'allow', headers: {}, metadata: {} });
  },
};

let server: H2CheckServer | undefined;
let client: http2.ClientHttp2Session | undefined;

afterEach(async () => {
  client?.destroy();
  client = undefined;
  await server?.close();
  server = undefined;
});

async function start(idleTimeoutMs?: number): Promise<number> {
  server = createH2CheckServer({
    decider,
    logger: pino({ level: 'silent' }),
    decisionTimeoutMs: 1_000,
    ...(idleTimeoutMs !== undefined ? { idleTimeoutMs } : {}),
  });
  return server.listen('127.0.0.1', 0);
}

/** Opens a client session and waits for the server's SETTINGS, so the server holds a session. */
async function connect(port: number): Promise<http2.ClientHttp2Session> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    session.once('remoteSettings', () => resolve());
    session.once('error', reject);
  });
  return session;
}

/** The kernel's timer kind of the server's end of a loopback connection (0 none, 1 retransmit, 2 keepalive). */
function serverSocketTimer(serverPort: number, clientPort: number): number | undefined {
  const hex = (n: number): string => n.toString(16).toUpperCase().padStart(4, '0');
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 6) continue;
    if (f[1]?.endsWith(`:${hex(serverPort)}`) && f[2]?.endsWith(`:${hex(clientPort)}`)) return Number.parseInt((f[5] ?? '').split(':')[0] ?? '', 16);
  }
  return undefined;
}

describe('node:http2 transport: connection lifetime', () => {
  it('turns TCP keepalive on for every accepted connection', async () => {
    const port = await start();
    client = await connect(port);
    const clientPort = (client.socket as unknown as { localPort: number }).localPort;
    let timer: number | undefined;
    // Once the handshake's bytes are acknowledged the socket's pending timer is the keepalive one.
    for (let i = 0; i < 50 && timer !== 2; i++) {
      timer = serverSocketTimer(port, clientPort);
      if (timer !== 2) await new Promise((r) => setTimeout(r, 20));
    }
    expect(timer).toBe(2);
  });

  it('keeps an idle connection open by default: no idle timer on the session', async () => {
    const port = await start();
    const sessions: http2.ServerHttp2Session[] = [];
    (server as unknown as { server: http2.Http2Server }).server.on('session', (s: http2.ServerHttp2Session) => sessions.push(s));
    client = await connect(port);
    let goaway = false;
    client.on('goaway', () => {
      goaway = true;
    });
    expect(sessions).toHaveLength(1);
    // `session.setTimeout(ms, fn)` is the only way idgate arms an idle close; by default it does not.
    expect(sessions[0]?.listenerCount('timeout')).toBe(0);
    await new Promise((r) => setTimeout(r, 300));
    expect(goaway).toBe(false);
    expect(client.closed || client.destroyed).toBe(false);
  });

  it('closes an idle connection with GOAWAY when idleTimeoutMs is set', async () => {
    const port = await start(150);
    client = await connect(port);
    const code = await new Promise<number>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no GOAWAY within 3 s')), 3_000);
      client?.once('goaway', (errorCode: number) => {
        clearTimeout(t);
        resolve(errorCode);
      });
    });
    expect(code).toBe(http2.constants.NGHTTP2_NO_ERROR);
  });
});
