import * as http2 from 'node:http2';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createH2CheckServer, type H2CheckServer } from '../src/extauthz/h2-check-server.js';
import type { UpstreamCheckRequest } from './support/envoy-client.js';
import { CHECK_PATH, allowAll, grpcFramedCheck } from './support/h2-check.js';

/**
 * The HTTP/2 fields of an answered Check, as the client receives them (names, values and order, from node's
 * raw header lists): what idgate hands node:http2 for its response HEADERS and trailers is an allocation
 * choice (an object or a raw list), never a wire change.
 */

const CHECK = CHECK_PATH;
const decider = allowAll;
const framed = grpcFramedCheck;

interface Answer {
  headers: string[];
  trailers: string[] | undefined;
  body: Buffer;
}

function call(session: http2.ClientHttp2Session, body: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': 'POST', ':path': CHECK, 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': '5S' });
    let headers: string[] = [];
    let trailers: string[] | undefined;
    const chunks: Buffer[] = [];
    stream.on('response', (_h, _f, raw: string[]) => (headers = raw));
    stream.on('trailers', (_h, _f, raw: string[]) => (trailers = raw));
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('error', reject);
    stream.on('close', () => resolve({ headers, trailers, body: Buffer.concat(chunks) }));
    stream.end(body);
  });
}

let server: H2CheckServer;
let session: http2.ClientHttp2Session;

beforeAll(async () => {
  server = createH2CheckServer({ decider, logger: pino({ level: 'silent' }), decisionTimeoutMs: 1_000 });
  const port = await server.listen('127.0.0.1', 0);
  session = http2.connect(`http://127.0.0.1:${port}`);
});

afterAll(async () => {
  session.close();
  await server.drain(1_000);
});

const DATE = /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/;

describe('node:http2 transport: the fields of an answer', () => {
  it.each([
    ['an allow', { attributes: { request: { http: { id: 'r1', method: 'GET', path: '/a', host: 'shop.example.com', scheme: 'https', headers: { ':path': '/a' } } } } }],
    ['a request_invalid deny', { attributes: {} }],
  ] as [string, UpstreamCheckRequest][])('answers %s with exactly the response HEADERS and trailers it always sent', async (_name, request) => {
    for (let i = 0; i < 3; i++) {
      const answer = await call(session, framed(request));
      expect(answer.headers.slice(0, 8)).toEqual([
        ':status', '200',
        'content-type', 'application/grpc+proto',
        'grpc-accept-encoding', 'identity,deflate,gzip',
        'grpc-encoding', 'identity',
      ]);
      expect(answer.headers).toHaveLength(10);
      expect(answer.headers[8]).toBe('date');
      expect(answer.headers[9]).toMatch(DATE);
      expect(answer.trailers).toEqual(['grpc-status', '0', 'grpc-message', 'OK']);
      expect(answer.body.length).toBeGreaterThan(5);
      expect(answer.body.readUInt32BE(1)).toBe(answer.body.length - 5);
    }
  });
});
