import { proxyTraceContext } from '../tracing/tracing.js';
import * as http2 from 'node:http2';
import type { Socket } from 'node:net';
import { TLSSocket, type PeerCertificate, type SecureContextOptions } from 'node:tls';
import type { Logger } from 'pino';
import type { RequestLimits } from '../core/build-request-context.js';
import type { Decision } from '../core/decision.js';
import type { RequestContext } from '../core/request-context.js';
import { CheckLifecycle } from '../engine/check-lifecycle.js';
import { decodeCheckRequest } from './check-codec.js';
import { resolveCheckLimits } from './check-limits.js';
import { CheckVerdicts, type OutgoingCheck } from './check-verdicts.js';
import type { ExtAuthzServerOptions } from './ext-authz-server.js';
import type { CheckResponseObject } from './check-wire-types.js';
import {
  decompressFrame,
  frameMessage,
  GrpcStatus,
  isGrpcError,
  MessageReader,
  parseGrpcTimeout,
  type GrpcError,
  type GrpcFrame,
} from './grpc-framing.js';
import { GrpcFrontEnd } from './grpc-front-end.js';
import { CHECK_METHOD, HEALTH_CHECK_METHOD, HEALTH_WATCH_METHOD } from './grpc-service-definitions.js';
import { decodeHealthRequest, encodeHealthResponse } from './health-codec.js';
import { HealthBoard, isKnownService } from './health-status.js';
import { toRequestContext } from './to-request-context.js';

/** TLS of the listener: node:tls context options plus whether a client certificate is required. */
export interface H2CheckServerTls {
  readonly context: SecureContextOptions;
  /** Require and verify a client certificate against `context.ca` (mTLS). */
  readonly requestCert: boolean;
}

/**
 * Options of {@link createH2CheckServer}: those of the grpc-js transport (same meaning and defaults) except
 * its grpc-js credentials, plus the HTTP/2 bounds.
 */
export interface H2CheckServerOptions extends Omit<ExtAuthzServerOptions, 'credentials' | 'maxConcurrentStreams'> {
  /** TLS/mTLS (default plaintext h2c: Envoy reaches idgate over the mesh or localhost). */
  readonly tls?: H2CheckServerTls;
  /** SETTINGS_MAX_CONCURRENT_STREAMS advertised per connection (default 1,000). */
  readonly maxConcurrentStreams?: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE, bytes (default 64 KiB): gRPC metadata only, the request is in the body. */
  readonly maxHeaderListSize?: number;
  /**
   * A connection with no stream for this long is closed with GOAWAY, ms (default 0 = never, as grpc-js and
   * grpc-go servers). PINGs do not count (node's session timer). Off by default because a server's idle close
   * races the proxy's next request: a Check sent while the GOAWAY is on the wire is refused, and Envoy does not
   * retry it (envoyproxy/envoy#36450), so it would end as an error verdict. Dead peers are found by TCP
   * keepalive instead ({@link TCP_KEEPALIVE_MS}).
   */
  readonly idleTimeoutMs?: number;
  /** A TLS client that has not finished its handshake by then is dropped, ms (default 5 s, as the grpc-js listener). */
  readonly handshakeTimeoutMs?: number;
}

/** Idle time before the kernel's first TCP keepalive probe on an accepted connection, ms. */
export const TCP_KEEPALIVE_MS = 60_000;

const RESPONSE_HEADERS = {
  ':status': 200,
  'content-type': 'application/grpc+proto',
  // What grpc-js advertises: idgate answers uncompressed and accepts these three.
  'grpc-accept-encoding': 'identity,deflate,gzip',
  'grpc-encoding': 'identity',
} as const;
/**
 * {@link RESPONSE_HEADERS} as node's raw header list, fresh per answer: `respond()` takes an array as it is
 * (`prepareResponseHeadersArray`) where it copies an object into a null-prototype dictionary, enumerates
 * its keys and validates the copy — ~1 KB per Check. Node appends its `date` to the array it is given (so
 * the array cannot be shared), and serializes the same fields in the same order: the same HEADERS frame.
 */
function responseHeaderList(): string[] {
  const list = [':status', '200', 'content-type', 'application/grpc+proto', 'grpc-accept-encoding', 'identity,deflate,gzip', 'grpc-encoding', 'identity', '', ''];
  // Two spare slots, dropped again: node's push of `date` then fits the list's own store instead of
  // copying it into a larger one (128 rather than ~300 bytes per answer, measured in isolation).
  list.length = 8;
  return list;
}
const OK_TRAILERS = { 'grpc-status': '0', 'grpc-message': 'OK' } as const;
const RESPOND_OPTIONS = { waitForTrailers: true } as const;

type Method = 'check' | 'healthCheck' | 'healthWatch';

/** The length prefix of a gRPC message: compressed flag (1 byte) and length (4). */
const MESSAGE_PREFIX = 5;

/** One call being read: its request messages arrive in DATA chunks until the client half-closes. */
class Call {
  /**
   * Reassembles messages split across DATA chunks; made only when a chunk is not exactly one whole message
   * (Envoy sends a Check as one chunk, which the fast path in `onData` takes without it).
   */
  reader: MessageReader | undefined;
  /** The received (possibly still compressed) message; a unary call takes exactly one. */
  frame: GrpcFrame | undefined;
  /**
   * The received message as the one DATA chunk it came in, its 5-byte prefix included, when uncompressed (the
   * fast path in `onData`): read in place from offset 5, with no frame object and no sliced `Buffer`.
   */
  message: Buffer | undefined;
  /** Set once the call has an answer (message or status): nothing else is sent. */
  done = false;
  deadlineAt = Infinity;
  timer: NodeJS.Timeout | undefined;
  /**
   * The call has a `grpc-timeout` and no request yet: until it has one, the transport itself answers
   * DEADLINE_EXCEEDED at `deadlineAt` (then the Check lifecycle owns the deadline). See {@link armLater}.
   */
  awaitingRequest = false;
  /** The service a Health/Watch call asked about. */
  service = '';
  /** Trace context the proxy's own Check call carries (Envoy's tracer sets it; end users cannot). */
  traceContext: Readonly<Record<string, string>> | undefined;

  constructor(
    readonly server: H2CheckServer,
    readonly stream: http2.ServerHttp2Stream,
    readonly method: Method,
    readonly encoding: string,
  ) {}
}

/**
 * The call of a stream, kept on the stream itself so that its listeners are shared module functions (node
 * calls them with the stream as `this`) rather than three closures and two `once` wrappers per stream.
 */
const CALL = Symbol('idgate.h2.call');
/** `[CALL]` is undefined once the stream is released ({@link releaseStream}); the listeners then do nothing. */
type CallStream = http2.ServerHttp2Stream & { [CALL]: Call | undefined };

function onStreamData(this: CallStream, chunk: Buffer): void {
  const call = this[CALL];
  if (call !== undefined) call.server.onData(call, chunk);
}

function onStreamEnd(this: CallStream): void {
  const call = this[CALL];
  if (call !== undefined) call.server.onEnd(call);
}

function onStreamClose(this: CallStream): void {
  const call = this[CALL];
  if (call === undefined) return;
  call.server.onClose(call);
  releaseLater(this);
}

/**
 * Calls with a `grpc-timeout` whose deadline timer is armed at the end of the turn their HEADERS arrived in,
 * and only if they still wait for their request then. A Check's HEADERS and its one DATA frame arrive in the
 * same read (Envoy's and every gRPC client's case), so the request is dispatched in that same turn and no
 * timer is ever armed and cleared for it: a `setTimeout` + `clearTimeout` per Check (a `Timeout`, its async
 * id, a timer list made and dropped) becomes one array push. A request still arriving gets its timer at the
 * turn's end, set to the same `deadlineAt` (the remaining time), so DEADLINE_EXCEEDED goes out when it did.
 */
let callsAwaitingRequest: Call[] = [];

function armLater(call: Call): void {
  call.awaitingRequest = true;
  if (callsAwaitingRequest.push(call) === 1) scheduleTurnEnd();
}

function armDeadlines(): void {
  const calls = callsAwaitingRequest;
  callsAwaitingRequest = [];
  const now = Date.now();
  for (const call of calls) {
    if (call.awaitingRequest && !call.done) call.timer = setTimeout(onCallDeadline, Math.max(0, call.deadlineAt - now), call);
  }
}

/** One shared immediate per turn for both end-of-turn lists (deadlines to arm, closed streams to release). */
let turnEndScheduled = false;

function scheduleTurnEnd(): void {
  if (turnEndScheduled) return;
  turnEndScheduled = true;
  setImmediate(onTurnEnd);
}

function onTurnEnd(): void {
  turnEndScheduled = false;
  if (callsAwaitingRequest.length > 0) armDeadlines();
  if (closedStreams.length > 0) releaseClosedStreams();
}

/**
 * Closed streams whose idgate parts are dropped on the next turn. A closed `Http2Stream` stays reachable for
 * a while after `close` (node's side, until a mark-compact), and whatever hangs off it survives every
 * scavenge and is promoted with it: the call, its body buffers, the listeners. One turn later every `close`
 * listener and node's own close-time callbacks have run; one shared immediate releases them all.
 */
let closedStreams: CallStream[] = [];

function releaseLater(stream: CallStream): void {
  if (closedStreams.push(stream) === 1) scheduleTurnEnd();
}

function releaseClosedStreams(): void {
  const streams = closedStreams;
  closedStreams = [];
  for (const stream of streams) releaseStream(stream);
}

/**
 * Drops the call from a closed stream and what the call still points to. idgate's listeners stay: they are
 * shared module functions (`onStreamData`, `onStreamEnd`, `onStreamClose`, the no-op `error` one,
 * `sendOkTrailers`), so they keep nothing alive, and each finds no call and does nothing should its event
 * still come (a destroyed stream emits no more `data` or `end` anyway). Taking them off cost more than it
 * saved: node's `Http2Stream` listens to `removeListener`, so each removal emitted an event with an
 * arguments array (~400 bytes per Check for the four). The one listener holding anything is a failed call's
 * one-off `wantTrailers` closure (its status and the stream itself).
 */
function releaseStream(stream: CallStream): void {
  const call = stream[CALL];
  if (call === undefined) return;
  // `undefined` rather than `delete`: deleting a property that is not the last one added turns the stream
  // into a dictionary-mode object, a cost for nothing on an object about to die.
  stream[CALL] = undefined;
  // A Check still deciding keeps its call (the lifecycle answers it, finds it done and drops the answer);
  // the request bytes are not needed for that.
  call.reader = undefined;
  call.frame = undefined;
  call.message = undefined;
  call.traceContext = undefined;
  call.timer = undefined;
}

/**
 * The node:http2 gRPC transport of the ext_authz front end (`server.grpc.transport: http2`): the same
 * `Authorization/Check` and `grpc.health.v1.Health` as the grpc-js server (`ext-authz-server.ts`), on one
 * port, without grpc-js's per-call machinery (metadata objects, interceptors, call event tracking). It
 * answers every Check with the same CheckResponse the grpc-js transport would (`CheckVerdicts`), and every
 * RPC error with the same status code: unknown methods are a trailers-only UNIMPLEMENTED; a message above
 * the transport bound, an unparsable `grpc-timeout`, undecodable health requests, unsupported or corrupt
 * compression are the statuses grpc-js sends; a CheckRequest that cannot be decoded, is too large for
 * idgate or is malformed is a 400 deny, never an RPC error.
 */
export class H2CheckServer extends GrpcFrontEnd<Call> {
  private readonly server: http2.Http2Server | http2.Http2SecureServer;
  private readonly lifecycle: CheckLifecycle<Call>;
  private readonly logger: Logger;
  protected readonly verdicts: CheckVerdicts;
  private readonly limits: RequestLimits;
  private readonly maxMessageBytes: number;
  private readonly transportBytes: number;
  private readonly now: () => number;
  private readonly peerAllowed: ((peer: PeerCertificate | undefined) => boolean) | undefined;
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  protected readonly health = new HealthBoard<Call>(
    (call, status) => call.stream.write(frameMessage(encodeHealthResponse(status))),
    (call) => call.service,
    endStream,
  );

  /** Use {@link createH2CheckServer}. */
  constructor(options: H2CheckServerOptions) {
    super();
    const limits = resolveCheckLimits(options);
    this.logger = options.logger;
    this.verdicts = new CheckVerdicts(options.renderOptions, options.logger, options.allowCacheMaxEntries);
    this.limits = options.requestLimits ?? {};
    this.maxMessageBytes = limits.maxMessageBytes;
    this.transportBytes = limits.transportBytes;
    this.now = options.now ?? Date.now;
    this.peerAllowed = options.peerAllowed;
    this.lifecycle = new CheckLifecycle({
      decider: options.decider,
      logger: options.logger,
      decisionTimeoutMs: limits.decisionTimeoutMs,
      deadlineMarginMs: limits.deadlineMarginMs,
      answer: (call, ctx, decision) => this.answer(call, ctx, decision),
      logLateFaults: false,
    });
    const maxConcurrentStreams = options.maxConcurrentStreams ?? 1_000;
    const serverOptions: http2.ServerOptions = {
      settings: {
        maxConcurrentStreams,
        maxHeaderListSize: options.maxHeaderListSize ?? 64 * 1024,
        // One frame never exceeds the spec default; a large message comes as several DATA frames.
        maxFrameSize: 16_384,
        enablePush: false,
      },
      maxHeaderListPairs: 256,
      // Node's unacknowledged-ping and settings-flood guards stay at their defaults (10 / 10).
      // Buffered session memory, MiB: two maximal messages per connection plus room for the usual small ones;
      // past it node refuses new streams instead of buffering more.
      maxSessionMemory: Math.ceil((2 * limits.transportBytes) / (1024 * 1024)) + 16,
      maxSendHeaderBlockLength: 64 * 1024,
    };
    if (options.tls !== undefined) {
      this.server = http2.createSecureServer({
        ...serverOptions,
        ...options.tls.context,
        requestCert: options.tls.requestCert,
        rejectUnauthorized: options.tls.requestCert,
        handshakeTimeout: options.handshakeTimeoutMs ?? 5_000,
        allowHTTP1: false,
      });
    } else {
      this.server = http2.createServer(serverOptions);
    }
    const idleTimeoutMs = options.idleTimeoutMs ?? 0;
    // A peer that vanished without FIN or RST (node lost, NAT state dropped) is found by the kernel: its
    // connection is reset after the keepalive probes go unanswered, and node closes the session.
    this.server.on('connection', (socket: Socket) => socket.setKeepAlive(true, TCP_KEEPALIVE_MS));
    this.server.on('session', (session: http2.ServerHttp2Session) => this.onSession(session, idleTimeoutMs));
    this.server.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => this.onStream(stream, headers));
    // A TLS client that does not speak h2 (ALPN) is dropped at once rather than after node's 10 s default.
    this.server.on('unknownProtocol', (socket: TLSSocket) => socket.destroy());
    this.server.on('sessionError', () => undefined);
  }

  /**
   * Binds and starts serving.
   * @returns the bound port (useful with port 0).
   * @throws Error when already listening/closed or the address cannot be bound.
   */
  listen(host: string, port: number): Promise<number> {
    if (this.state !== 'new') return Promise.reject(new Error(`ext_authz server is ${this.state}`));
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        this.server.on('error', (err) => this.logger.error({ err }, 'ext_authz listener error'));
        this.state = 'listening';
        const address = this.server.address();
        resolve(typeof address === 'object' && address !== null ? address.port : port);
      });
    });
  }

  /** Replaces the certificate/key/CA for new connections (TLS listeners only; validate first). */
  setSecureContext(context: SecureContextOptions): void {
    if ('setSecureContext' in this.server) this.server.setSecureContext(context);
  }

  /** Stops accepting connections and sends each GOAWAY(NO_ERROR, last stream accepted); open streams finish. */
  protected stopGracefully(done: () => void): void {
    this.server.close(() => done());
    for (const session of this.sessions) session.close();
  }

  protected forceStop(): void {
    for (const session of this.sessions) session.destroy();
    this.server.close();
  }

  private onSession(session: http2.ServerHttp2Session, idleTimeoutMs: number): void {
    if (this.state === 'closed') {
      session.close();
      return;
    }
    this.sessions.add(session);
    session.once('close', () => this.sessions.delete(session));
    session.on('error', () => undefined);
    if (idleTimeoutMs > 0) {
      session.setTimeout(idleTimeoutMs, () => session.close());
    }
  }

  private onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    // A reset or broken stream must never become an uncaught 'error'.
    stream.on('error', ignore);
    const contentType = headers['content-type'];
    if (typeof contentType !== 'string' || !contentType.startsWith('application/grpc')) {
      guarded(() => stream.respond({ ':status': 415 }, { endStream: true }));
      return;
    }
    const path = headers[':path'];
    const method: Method | undefined =
      path === CHECK_METHOD ? 'check' : path === HEALTH_CHECK_METHOD ? 'healthCheck' : path === HEALTH_WATCH_METHOD ? 'healthWatch' : undefined;
    if (method === undefined) {
      guarded(() => sendStatus(stream, { code: GrpcStatus.UNIMPLEMENTED, details: `The server does not implement the method ${String(path)}` }));
      return;
    }
    const encoding = headers['grpc-encoding'];
    const call = new Call(this, stream, method, typeof encoding === 'string' ? encoding : 'identity');
    traceHeaders = headers;
    call.traceContext = proxyTraceContext(traceHeader);
    traceHeaders = undefined;
    const timeout = parseGrpcTimeout(headers['grpc-timeout']);
    if (timeout !== undefined) {
      if (Number.isNaN(timeout)) {
        failCall(call, { code: GrpcStatus.INTERNAL, details: `Invalid grpc-timeout value "${String(headers['grpc-timeout'])}"` });
        return;
      }
      call.deadlineAt = Date.now() + timeout;
      // Until the call has its request (then the Check lifecycle answers before the deadline), the
      // transport itself answers DEADLINE_EXCEEDED, as grpc-js does: armed at the turn's end if still needed.
      armLater(call);
    }
    (stream as CallStream)[CALL] = call;
    // `on`, not `once`: each fires at most once per stream anyway, and `once` costs a wrapper per stream.
    stream.on('data', onStreamData);
    stream.on('end', onStreamEnd);
    stream.on('close', onStreamClose);
  }

  /** A DATA chunk of `call`'s request (from the stream's shared listener). */
  onData(call: Call, chunk: Buffer): void {
    if (call.done) return;
    // Fast path: the first chunk is exactly one whole message within the bound — sliced, no reader at all.
    if (call.reader === undefined && call.frame === undefined && call.message === undefined && chunk.length >= 5) {
      const length = chunk.readUInt32BE(1);
      if (chunk.length === 5 + length && length <= this.transportBytes) {
        // As MessageReader: a flag of exactly 1 is compressed, anything else is not.
        if (chunk[0] === 1) call.frame = { compressed: true, payload: chunk.subarray(5) };
        else call.message = chunk;
        return;
      }
    }
    let frames: GrpcFrame[];
    try {
      frames = (call.reader ??= new MessageReader(this.transportBytes)).push(chunk);
    } catch (err) {
      failCall(call, isGrpcError(err) ? err : { code: GrpcStatus.INTERNAL, details: 'Failed to parse message' });
      return;
    }
    for (const frame of frames) {
      if (call.frame !== undefined || call.message !== undefined) {
        failCall(call, { code: GrpcStatus.UNIMPLEMENTED, details: `Received a second request message for server streaming method ${methodPath(call.method)}` });
        return;
      }
      call.frame = frame;
    }
  }

  /** The client half-closed `call`'s request. */
  onEnd(call: Call): void {
    if (call.done) return;
    const frame = call.frame;
    const message = call.message;
    if ((frame === undefined && message === undefined) || call.reader?.partial === true) {
      // No message, or a half-close in the middle of one: grpc-js answers both as "no request message".
      failCall(call, { code: GrpcStatus.UNIMPLEMENTED, details: `Received no request message for server streaming method ${methodPath(call.method)}` });
      return;
    }
    // Uncompressed, whatever the call's grpc-encoding (as `decompressFrame`): read after its prefix.
    if (message !== undefined) {
      this.dispatch(call, message, MESSAGE_PREFIX);
      return;
    }
    if (frame === undefined) return;
    const payload = decompressFrame(frame, call.encoding, this.transportBytes);
    if (Buffer.isBuffer(payload)) {
      this.dispatch(call, payload);
      return;
    }
    payload.then(
      (bytes) => {
        if (!call.done) this.dispatch(call, bytes);
      },
      (err: unknown) => failCall(call, isGrpcError(err) ? err : { code: GrpcStatus.INTERNAL, details: 'Failed to decompress message' }),
    );
  }

  /** `call`'s stream closed (answered, reset or its session gone). */
  onClose(call: Call): void {
    clearTimeout(call.timer);
    this.health.forget(call);
    // A cancelled Check still runs to its decision; answer() then finds the stream gone and drops it.
    call.done = true;
  }

  /** The request message: `bytes` from `start` on (the fast path hands the DATA chunk itself, prefix included). */
  private dispatch(call: Call, bytes: Buffer, start = 0): void {
    switch (call.method) {
      case 'check':
        call.awaitingRequest = false;
        clearTimeout(call.timer);
        this.check(call, bytes, start);
        return;
      case 'healthCheck':
        this.healthCheck(call, start === 0 ? bytes : bytes.subarray(start));
        return;
      case 'healthWatch':
        this.healthWatch(call, start === 0 ? bytes : bytes.subarray(start));
        return;
    }
  }

  private check(call: Call, bytes: Buffer, start: number): void {
    try {
      const now = this.now();
      if (bytes.length - start > this.maxMessageBytes) {
        this.reply(call, this.verdicts.invalid(`the CheckRequest is larger than ${this.maxMessageBytes} bytes`));
        return;
      }
      let message;
      try {
        message = decodeCheckRequest(bytes, start);
      } catch {
        this.reply(call, this.verdicts.invalid('the CheckRequest could not be decoded'));
        return;
      }
      if (this.peerAllowed !== undefined && !this.peerAllowed(peerCertificate(call.stream))) {
        const socket = call.stream.session?.socket;
        this.logger.warn({ peer: socket ? `${socket.remoteAddress}:${socket.remotePort}` : 'unknown' }, 'ext_authz client certificate not in allowedSans; denying');
        this.reply(call, this.verdicts.networkDenied());
        return;
      }
      const parsed = toRequestContext(message, now, this.limits);
      // As the grpc-js transport: the request context holds what the Check needs, so the decoded message lets
      // go of the rest (header map, names, metadata Structs) whatever may still reach it.
      message.attributes = undefined;
      if (!parsed.ok) {
        this.reply(call, this.verdicts.invalid(`malformed CheckRequest: ${parsed.error}`));
        return;
      }
      const ctx = call.traceContext === undefined ? parsed.value : { ...parsed.value, traceContext: call.traceContext };
      this.lifecycle.run(ctx, now, call.deadlineAt, call);
    } catch (err) {
      this.logger.error({ err }, 'ext_authz Check failed before a decision');
      this.reply(call, this.verdicts.fallback);
    }
  }

  /** The lifecycle's answer: runs in a promise callback or a timer, so nothing may escape. */
  private answer(call: Call, ctx: RequestContext, decision: Decision): void {
    try {
      this.reply(call, this.verdicts.respondBytes(ctx, decision));
    } catch (err) {
      this.logger.error({ err, requestId: ctx.requestId }, 'sending the CheckResponse failed');
    }
  }

  private reply(call: Call, response: OutgoingCheck): void {
    sendMessage(call, frameMessage(this.verdicts.encode(response)));
  }

  private healthCheck(call: Call, bytes: Buffer): void {
    const service = healthService(bytes);
    if (service === undefined) {
      failCall(call, { code: GrpcStatus.INTERNAL, details: 'Error deserializing request' });
      return;
    }
    call.awaitingRequest = false;
    clearTimeout(call.timer);
    if (!isKnownService(service)) {
      failCall(call, { code: GrpcStatus.NOT_FOUND, details: 'unknown service' });
      return;
    }
    sendMessage(call, frameMessage(encodeHealthResponse(this.health.status)));
  }

  private healthWatch(call: Call, bytes: Buffer): void {
    const service = healthService(bytes);
    if (service === undefined) {
      failCall(call, { code: GrpcStatus.INTERNAL, details: 'Error deserializing request' });
      return;
    }
    if (this.state === 'closed') {
      endStream(call);
      return;
    }
    call.service = service;
    call.stream.respond(RESPONSE_HEADERS, RESPOND_OPTIONS);
    this.health.watch(call);
  }

}

/** The request headers {@link traceHeader} reads, set only around the one synchronous `proxyTraceContext` call. */
let traceHeaders: http2.IncomingHttpHeaders | undefined;

/** One header of {@link traceHeaders}: a module function rather than a closure (and its context) per stream. */
function traceHeader(name: string): unknown {
  return traceHeaders?.[name];
}

/** Answers `call` with an RPC error status: trailers-only unless headers were already sent. */
function failCall(call: Call, error: GrpcError): void {
  const stream = claim(call);
  if (stream === undefined) return;
  guarded(() => {
    if (stream.headersSent) {
      stream.once('wantTrailers', () => guarded(() => stream.sendTrailers(statusTrailers(error))));
      stream.end();
      return;
    }
    sendStatus(stream, error);
  });
}

/**
 * Runs a write to a stream that the peer may have reset or whose session is going away: node then throws
 * (e.g. ERR_HTTP2_INVALID_STREAM), and from a timer that would be an uncaught exception. The call is over
 * either way, so the fault is dropped.
 */
function guarded(write: () => void): void {
  try {
    write();
  } catch {
    // the stream is gone; nothing left to answer
  }
}

function ignore(): void {}

/** Marks `call` answered; its stream when this is the first answer and the stream is still open. */
function claim(call: Call): http2.ServerHttp2Stream | undefined {
  if (call.done) return undefined;
  call.done = true;
  clearTimeout(call.timer);
  const stream = call.stream;
  return stream.destroyed || stream.closed ? undefined : stream;
}

function onCallDeadline(call: Call): void {
  failCall(call, { code: GrpcStatus.DEADLINE_EXCEEDED, details: 'Deadline exceeded' });
}

function methodPath(method: Method): string {
  return method === 'check' ? CHECK_METHOD : method === 'healthCheck' ? HEALTH_CHECK_METHOD : HEALTH_WATCH_METHOD;
}

/** Sends one response message and OK trailers (unary), unless the call is already answered or gone. */
function sendMessage(call: Call, framed: Buffer): void {
  const stream = claim(call);
  if (stream === undefined) return;
  guarded(() => {
    stream.respond(responseHeaderList(), RESPOND_OPTIONS);
    // `on`: node emits wantTrailers once per stream; `once` would add a wrapper per Check.
    stream.on('wantTrailers', sendOkTrailers);
    stream.end(framed);
  });
}

function sendOkTrailers(this: http2.ServerHttp2Stream): void {
  guarded(() => this.sendTrailers(OK_TRAILERS));
}

/** Ends a Watch stream with OK trailers. */
function endStream(call: Call): void {
  call.done = true;
  const stream = call.stream;
  if (stream.destroyed || stream.closed) return;
  guarded(() => {
    if (!stream.headersSent) stream.respond(RESPONSE_HEADERS, RESPOND_OPTIONS);
    stream.once('wantTrailers', sendOkTrailers);
    stream.end();
  });
}

function statusTrailers(error: GrpcError): http2.OutgoingHttpHeaders {
  // grpc-js percent-encodes the message with encodeURI; the same here.
  return { 'grpc-status': String(error.code), 'grpc-message': encodeURI(error.details) };
}

/**
 * A trailers-only response: HTTP 200 headers carrying the status, END_STREAM. A client still sending its
 * request is then told to stop with RST_STREAM(NO_ERROR) (RFC 9113 §8.1), so a stalled request holds no stream.
 */
function sendStatus(stream: http2.ServerHttp2Stream, error: GrpcError): void {
  if (stream.destroyed || stream.closed) return;
  stream.respond({ ':status': 200, 'content-type': 'application/grpc+proto', ...statusTrailers(error) }, { endStream: true });
  if (!stream.readableEnded) stream.close(http2.constants.NGHTTP2_NO_ERROR);
}

/** The verified client certificate of a TLS stream, as grpc-js's `getAuthContext()` reports it. */
function peerCertificate(stream: http2.ServerHttp2Stream): PeerCertificate | undefined {
  const socket = stream.session?.socket;
  if (!(socket instanceof TLSSocket) || !socket.authorized) return undefined;
  const cert = socket.getPeerCertificate();
  return cert.raw !== undefined ? cert : undefined;
}

/**
 * `grpc.health.v1.HealthCheckRequest.service` ('' when absent), or undefined when the bytes do not decode
 * (then INTERNAL, as grpc-js answers a request its deserializer throws on).
 */
function healthService(bytes: Buffer): string | undefined {
  try {
    return decodeHealthRequest(bytes).service ?? '';
  } catch {
    return undefined;
  }
}

/**
 * Creates the node:http2 ext_authz server (not yet listening).
 * @throws TypeError for invalid numeric options or render options.
 */
export function createH2CheckServer(options: H2CheckServerOptions): H2CheckServer {
  return new H2CheckServer(options);
}
