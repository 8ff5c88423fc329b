import * as http2 from 'node:http2';
import { isMainModule, runBenchServerMain, type BenchGrpcServer } from './bench-grpc-server.js';
import { loadUpstreamCheckCodec } from './encode-check-request.js';
import { CHECK_PATH } from './h2load.js';
import { NOOP_ALLOW } from './noop-server.js';

/** A running node:http2 transport-floor Check server. */
export type H2FloorServer = BenchGrpcServer;

// The least a gRPC server may send: 200 + content-type, then the message, then grpc-status in trailers.
const HEADERS = Object.freeze({ ':status': 200, 'content-type': 'application/grpc+proto' });
const TRAILERS = Object.freeze({ 'grpc-status': '0' });
const RESPOND = Object.freeze({ waitForTrailers: true });
const NOT_FOUND = Object.freeze({ ':status': 200, 'content-type': 'application/grpc+proto', 'grpc-status': '12' });
const TRAILERS_ONLY = Object.freeze({ endStream: true });

function sendTrailers(this: http2.ServerHttp2Stream): void {
  this.sendTrailers(TRAILERS);
}

function ignore(): void {}

let reply = Buffer.alloc(0);

/** The request has ended: the reply, then (on `wantTrailers`) the status. */
function answer(this: http2.ServerHttp2Stream): void {
  if (this.destroyed) return;
  this.respond(HEADERS, RESPOND);
  this.end(reply);
}

/**
 * Starts the **node:http2 transport floor** (issue 15 §4): node:http2 alone answering every
 * `Authorization/Check` with fixed reply bytes ({@link NOOP_ALLOW} encoded once, gRPC-framed once), the
 * cheapest correct way node:http2 allows — node can send trailers only through `waitForTrailers` and a
 * `wantTrailers` event, so that is the one per-stream listener besides reading the request to its end
 * (flowing mode, nothing kept: a unary server answers once it has the whole request). No per-stream closure,
 * timer or object of its own; frozen header objects. What idgate on `transport: http2` costs above this is
 * idgate's (its framing, Check lifecycle and decision), not node:http2's.
 * @throws Error when the upstream protos are missing or the address cannot be bound.
 */
export async function startH2FloorServer(options: { host?: string; port?: number }): Promise<H2FloorServer> {
  const message = loadUpstreamCheckCodec().serializeResponse(NOOP_ALLOW);
  reply = Buffer.alloc(5 + message.length);
  reply.writeUInt32BE(message.length, 1);
  reply.set(message, 5);
  const server = http2.createServer();
  server.on('sessionError', ignore);
  server.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
    stream.on('error', ignore);
    if (headers[':path'] !== CHECK_PATH) {
      stream.respond(NOT_FOUND, TRAILERS_ONLY);
      return;
    }
    stream.on('wantTrailers', sendTrailers);
    stream.on('end', answer);
    stream.resume();
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (session: http2.ServerHttp2Session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
  return {
    port: typeof address === 'object' && address !== null ? address.port : 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const session of sessions) session.close();
        const timer = setTimeout(() => {
          for (const session of sessions) session.destroy();
          resolve();
        }, 2_000);
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}

if (isMainModule(import.meta.url)) runBenchServerMain('h2-floor-server', startH2FloorServer);
