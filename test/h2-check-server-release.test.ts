import * as http2 from 'node:http2';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createH2CheckServer, type H2CheckServer } from '../src/extauthz/h2-check-server.js';
import type { UpstreamCheckRequest } from './support/envoy-client.js';
import { CHECK_PATH, allowAll, grpcFramedCheck } from './support/h2-check.js';

/**
 * A closed stream of the node:http2 transport must not keep idgate's call alive: node keeps closed
 * `Http2Stream`s reachable for a while, and whatever hangs off them survives every scavenge. After `close`
 * (and the turn the transport waits), the stream carries no call, idgate's listeners on it are shared
 * module functions (the same for every stream) that find no call, and the call no longer points at the
 * request bytes.
 */

const CHECK = CHECK_PATH;
const decider = allowAll;

function framed(): Buffer {
  return grpcFramedCheck({
    attributes: { request: { http: { id: 'r1', method: 'GET', path: '/a', host: 'shop.example.com', scheme: 'https', headers: { ':path': '/a' } } } },
  });
}

const EVENTS = ['data', 'end', 'close', 'wantTrailers', 'error'] as const;

/** What one server stream looked like when it closed, and one turn after. */
interface Observed {
  /** idgate's listeners: those added by its `stream` handler, per event. */
  added: Map<string, Function[]>;
  callAtClose: Record<string, unknown> | undefined;
  idgateAtClose: string[];
  callAfter: unknown;
  idgateAfter: string[];
  listenersAfter: Map<string, Function[]>;
  /** Whether an `error` emitted on the released stream threw (it would with no listener left). */
  lateErrorThrew: boolean | undefined;
}

function callSymbol(stream: http2.ServerHttp2Stream): symbol | undefined {
  return Object.getOwnPropertySymbols(stream).find((s) => s.description === 'idgate.h2.call');
}

/** The idgate listeners still on `stream`, as `event` names. */
function idgateListeners(stream: http2.ServerHttp2Stream, added: Map<string, Function[]>): string[] {
  const found: string[] = [];
  for (const [event, fns] of added) {
    for (const fn of fns) if (stream.listeners(event).includes(fn)) found.push(event);
  }
  return found;
}

let server: H2CheckServer;
let port: number;
const observed: Observed[] = [];
let nextObserved: ((o: Observed) => void) | undefined;

beforeAll(async () => {
  server = createH2CheckServer({ decider, logger: pino({ level: 'silent' }), decisionTimeoutMs: 1_000 });
  // The real listener, watched from outside: what node had before idgate's `stream` handler, what after.
  const h2 = (server as unknown as { server: http2.Http2Server }).server;
  const before = new WeakMap<http2.ServerHttp2Stream, Map<string, Function[]>>();
  h2.prependListener('stream', (stream: http2.ServerHttp2Stream) => {
    before.set(stream, new Map(EVENTS.map((e) => [e, stream.listeners(e)])));
  });
  h2.on('stream', (stream: http2.ServerHttp2Stream) => {
    const nodes = before.get(stream)!;
    const added = new Map(EVENTS.map((e) => [e as string, stream.listeners(e).filter((fn) => !nodes.get(e)!.includes(fn))]));
    stream.on('close', () => {
      const symbol = callSymbol(stream);
      const call = symbol === undefined ? undefined : (stream as unknown as Record<symbol, Record<string, unknown>>)[symbol];
      // wantTrailers listeners are added when answering, after the `stream` event: all of them are idgate's.
      added.set('wantTrailers', stream.listeners('wantTrailers'));
      const o: Observed = {
        added,
        callAtClose: call === undefined ? undefined : { ...call },
        idgateAtClose: idgateListeners(stream, added),
        callAfter: undefined,
        idgateAfter: [],
        listenersAfter: new Map(),
        lateErrorThrew: undefined,
      };
      // After idgate's own close listener (registered first), which schedules the release for this turn's end.
      setImmediate(() => {
        o.callAfter = symbol === undefined ? undefined : (stream as unknown as Record<symbol, unknown>)[symbol];
        o.idgateAfter = idgateListeners(stream, added);
        o.listenersAfter = new Map(EVENTS.map((e) => [e, stream.listeners(e)]));
        try {
          stream.emit('error', new Error('late fault'));
          // idgate's listeners stay on the released stream, finding no call: a late event is a no-op.
          stream.emit('data', Buffer.from('late'));
          o.lateErrorThrew = false;
        } catch {
          o.lateErrorThrew = true;
        }
        o.callAtClose = call === undefined ? undefined : { ...o.callAtClose, frameAfter: call.frame, messageAfter: call.message, readerAfter: call.reader };
        observed.push(o);
        nextObserved?.(o);
      });
    });
  });
  port = await server.listen('127.0.0.1', 0);
});

afterAll(async () => {
  await server.close();
});

/** Runs `client` on a fresh connection and resolves with the server stream's observation. */
async function observe(client: (session: http2.ClientHttp2Session) => Promise<unknown>): Promise<{ o: Observed; result: unknown }> {
  const seen = new Promise<Observed>((resolve) => (nextObserved = resolve));
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => undefined);
  try {
    const result = await client(session);
    return { o: await seen, result };
  } finally {
    session.close();
  }
}

/** A whole Check, answered: resolves with its grpc-status. */
function completedCheck(session: http2.ClientHttp2Session): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': 'POST', ':path': CHECK, 'content-type': 'application/grpc' });
    let status: string | undefined;
    stream.on('trailers', (t) => (status = String(t['grpc-status'])));
    stream.on('error', reject);
    stream.resume();
    stream.on('close', () => resolve(status));
    stream.end(framed());
  });
}

/** Every idgate listener seen on any stream, by event and function name: each must be one shared function. */
const sharedListeners = new Map<string, Function[]>();

function expectReleased(o: Observed): void {
  // Before: the call was on the stream with its listeners (so this test can see them go).
  expect(o.callAtClose).toBeDefined();
  expect(o.idgateAtClose).toEqual(expect.arrayContaining(['data', 'end', 'close', 'error']));
  // After: no call. idgate's listeners stay (taking them off emits node's `removeListener` event each time),
  // and they are shared module functions, the same for every stream, so they keep nothing of this one.
  expect(o.callAfter).toBeUndefined();
  for (const [event, fns] of o.added) {
    for (const fn of fns) {
      sharedListeners.set(`${event}:${fn.name}`, [...(sharedListeners.get(`${event}:${fn.name}`) ?? []), fn]);
      expect(fn.name).not.toBe('');
    }
  }
  for (const fns of sharedListeners.values()) expect(new Set(fns).size).toBe(1);
  expect(o.listenersAfter.get('error')!.length).toBeGreaterThanOrEqual(1);
  // An `error` (which would be thrown with no listener) and a `data` after the release are both harmless.
  expect(o.lateErrorThrew).toBe(false);
  // The call (still held by a Check that is deciding, if any) lets go of the request bytes.
  expect(o.callAtClose!['frameAfter']).toBeUndefined();
  expect(o.callAtClose!['messageAfter']).toBeUndefined();
  expect(o.callAtClose!['readerAfter']).toBeUndefined();
}

describe('node:http2 transport: closed streams let go', () => {
  it('a completed Check', async () => {
    const { o, result } = await observe(
      completedCheck,
    );
    expect(result).toBe('0');
    // The answered call had its whole message (fast path: the DATA chunk itself) when it closed.
    expect(o.callAtClose!['message']).toBeDefined();
    expect(o.added.get('wantTrailers')).toHaveLength(1);
    expectReleased(o);
  });

  it('a Check cancelled by the client mid-body (RST_STREAM)', async () => {
    const { o } = await observe(
      (session) =>
        new Promise<void>((resolve) => {
          const stream = session.request({ ':method': 'POST', ':path': CHECK, 'content-type': 'application/grpc' });
          stream.on('error', () => undefined);
          stream.on('close', () => resolve());
          // Half a message, then CANCEL once the server has had it.
          stream.write(framed().subarray(0, 12), () => setTimeout(() => stream.close(http2.constants.NGHTTP2_CANCEL), 50));
        }),
    );
    // It was partway through a message: the reader held its bytes.
    expect(o.callAtClose!['reader']).toBeDefined();
    expectReleased(o);
  });

  it('a Check that hit its deadline while its body was arriving', async () => {
    const { o, result } = await observe(
      (session) =>
        new Promise((resolve) => {
          const stream = session.request({ ':method': 'POST', ':path': CHECK, 'content-type': 'application/grpc', 'grpc-timeout': '50m' });
          let status: string | undefined;
          stream.on('response', (h) => (status ??= h['grpc-status'] === undefined ? undefined : String(h['grpc-status'])));
          stream.on('trailers', (t) => (status = String(t['grpc-status'])));
          stream.on('error', () => undefined);
          stream.resume();
          stream.on('close', () => resolve(status));
          stream.write(framed().subarray(0, 12));
        }),
    );
    expect(result).toBe('4'); // DEADLINE_EXCEEDED
    expect(o.callAtClose!['done']).toBe(true);
    expectReleased(o);
  });

  it('keeps serving on the same listener after releasing', async () => {
    const { result } = await observe(
      completedCheck,
    );
    expect(result).toBe('0');
    expect(observed).toHaveLength(4);
  });
});
