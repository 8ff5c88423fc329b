import * as grpc from '@grpc/grpc-js';
import type { PeerCertificate } from 'node:tls';
import type { Logger } from 'pino';
import type { RequestLimits } from '../core/build-request-context.js';
import type { Decider } from '../core/decider.js';
import type { Decision } from '../core/decision.js';
import type { RenderOptions } from '../core/render-decision.js';
import type { RequestContext } from '../core/request-context.js';
import { CheckLifecycle } from '../engine/check-lifecycle.js';
import { decodeCheckRequest } from './check-codec.js';
import { resolveCheckLimits } from './check-limits.js';
import { CheckVerdicts, type OutgoingCheck } from './check-verdicts.js';
import type { CheckRequestMessage, CheckResponseObject } from './check-wire-types.js';
import { GrpcFrontEnd } from './grpc-front-end.js';
import { grpcTraceContext } from './grpc-trace-context.js';
import { authorizationService, HEALTH_SERVICE } from './grpc-service-definitions.js';
import { HealthBoard, isKnownService } from './health-status.js';
import { toRequestContext } from './to-request-context.js';

export { HEALTH_SERVICES } from './health-status.js';

/** Options of {@link createExtAuthzServer}. */
export interface ExtAuthzServerOptions {
  /** The engine. */
  readonly decider: Decider;
  /** Only internal faults are logged here; deny/allow logging is the engine's job. */
  readonly logger: Logger;
  readonly renderOptions?: RenderOptions;
  /** Encoded allows kept for reuse (`caches.allows`; default `DEFAULT_MAX_ALLOWS` of allow-response-cache.ts). */
  readonly allowCacheMaxEntries?: number;
  /** Header count/size bounds per CheckRequest. */
  readonly requestLimits?: RequestLimits;
  /**
   * Largest CheckRequest decided, bytes (default 1 MiB); a larger one up to 4× this (at most 64 MiB) is
   * answered 400 `request_invalid`, and only beyond that does grpc-js refuse it (RESOURCE_EXHAUSTED).
   */
  readonly maxMessageBytes?: number;
  /** The longest a decision may take, ms (default 150); the proxy's shorter deadline (minus the margin) wins. */
  readonly decisionTimeoutMs?: number;
  /** How long before the proxy's `grpc-timeout` the deadline deny is sent, ms (default 20). */
  readonly deadlineMarginMs?: number;
  /** Clock, epoch ms (default `Date.now`). */
  readonly now?: () => number;
  /** TLS/mTLS credentials (default insecure: Envoy reaches idgate over the mesh or localhost). */
  readonly credentials?: grpc.ServerCredentials;
  /**
   * mTLS allow list: called with the client certificate of every Check; false → 403 `network_denied` deny
   * (the handshake already refused clients without a certificate from the configured CA).
   */
  readonly peerAllowed?: (peer: PeerCertificate | undefined) => boolean;
  /** `grpc.max_concurrent_streams` to advertise; unset = Node's default (effectively unlimited). */
  readonly maxConcurrentStreams?: number;
}

const UNDECODABLE: unique symbol = Symbol('undecodable CheckRequest');
const OVERSIZED: unique symbol = Symbol('CheckRequest above maxMessageBytes');

type IncomingCheck = CheckRequestMessage | typeof UNDECODABLE | typeof OVERSIZED;

/**
 * The gRPC front end: `envoy.service.auth.v3.Authorization/Check` and `grpc.health.v1.Health`.
 *
 * Check always answers with a CheckResponse, never an RPC error (an RPC error is "failure" to Envoy and
 * may fail open): undecodable or garbled requests → 400 `request_invalid`; decider rejection or a throw
 * anywhere → 503 `internal_error`; no decision by the deadline (min of the caller's `grpc-timeout` minus
 * the margin and now + `decisionTimeoutMs`) → 503 `deadline_exceeded`, and a late decision is dropped.
 * A CheckRequest above `maxMessageBytes` is a 400 `request_invalid` deny (the transport accepts up to 4× so
 * idgate can answer it); only one beyond that transport bound is refused by grpc-js (RESOURCE_EXHAUSTED),
 * which Envoy with `failure_mode_allow: false` turns into its `status_on_error` deny.
 */
export class ExtAuthzServer extends GrpcFrontEnd<grpc.ServerWritableStream<{ service?: string }, { status: number }>> {
  private readonly server: grpc.Server;
  private readonly lifecycle: CheckLifecycle<grpc.sendUnaryData<OutgoingCheck>>;
  private readonly logger: Logger;
  protected readonly verdicts: CheckVerdicts;
  private readonly limits: RequestLimits;
  private readonly maxMessageBytes: number;
  private readonly now: () => number;
  private readonly credentials: grpc.ServerCredentials;
  private readonly peerAllowed: ((peer: PeerCertificate | undefined) => boolean) | undefined;
  protected readonly health = new HealthBoard<grpc.ServerWritableStream<{ service?: string }, { status: number }>>(
    (call, status) => call.write({ status }),
    (call) => call.request.service,
    (call) => call.end(),
  );

  /** Use {@link createExtAuthzServer}. */
  constructor(options: ExtAuthzServerOptions) {
    super();
    const { maxMessageBytes, decisionTimeoutMs, deadlineMarginMs, transportBytes } = resolveCheckLimits(options);
    this.logger = options.logger;
    this.verdicts = new CheckVerdicts(options.renderOptions, options.logger, options.allowCacheMaxEntries);
    this.limits = options.requestLimits ?? {};
    this.now = options.now ?? Date.now;
    this.credentials = options.credentials ?? grpc.ServerCredentials.createInsecure();
    this.peerAllowed = options.peerAllowed;
    this.lifecycle = new CheckLifecycle({
      decider: options.decider,
      logger: options.logger,
      decisionTimeoutMs,
      deadlineMarginMs,
      answer: (callback, ctx, decision) => this.answer(callback, ctx, decision),
      logLateFaults: false,
    });

    this.maxMessageBytes = maxMessageBytes;
    const serverOptions: grpc.ServerOptions = {
      'grpc.max_receive_message_length': transportBytes,
      // idgate serves no channelz service, and with it on grpc-js wraps every call in channelz bookkeeping
      // (call counters, a stream listener per call: ~2 % of allocations and ~3 % of CPU per Check).
      'grpc.enable_channelz': 0,
    };
    if (options.maxConcurrentStreams !== undefined) {
      serverOptions['grpc.max_concurrent_streams'] = options.maxConcurrentStreams;
    }
    this.server = new grpc.Server(serverOptions);
    this.server.addService(this.authorizationDefinition(), {
      Check: (call: grpc.ServerUnaryCall<IncomingCheck, OutgoingCheck>, callback: grpc.sendUnaryData<OutgoingCheck>) =>
        this.check(call, callback),
    });
    this.server.addService(HEALTH_SERVICE, {
      Check: (call: grpc.ServerUnaryCall<{ service?: string }, { status: number }>, callback: grpc.sendUnaryData<{ status: number }>) =>
        this.healthCheck(call, callback),
      Watch: (call: grpc.ServerWritableStream<{ service?: string }, { status: number }>) => this.healthWatch(call),
    });
  }

  /**
   * Binds and starts serving.
   * @returns the bound port (useful with port 0).
   * @throws Error when already listening/closed or the address cannot be bound.
   */
  listen(host: string, port: number): Promise<number> {
    if (this.state !== 'new') return Promise.reject(new Error(`ext_authz server is ${this.state}`));
    const address = host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
    return new Promise((resolve, reject) => {
      this.server.bindAsync(address, this.credentials, (err, boundPort) => {
        if (err !== null) {
          reject(err);
          return;
        }
        this.state = 'listening';
        resolve(boundPort);
      });
    });
  }

  protected stopGracefully(done: () => void): void {
    this.server.tryShutdown(() => done());
  }

  protected forceStop(): void {
    this.server.forceShutdown();
  }

  private check(
    call: grpc.ServerUnaryCall<IncomingCheck, OutgoingCheck>,
    callback: grpc.sendUnaryData<OutgoingCheck>,
  ): void {
    try {
      const now = this.now();
      const message = call.request;
      if (message === UNDECODABLE) {
        callback(null, this.verdicts.invalid('the CheckRequest could not be decoded'));
        return;
      }
      if (message === OVERSIZED) {
        callback(null, this.verdicts.invalid(`the CheckRequest is larger than ${this.maxMessageBytes} bytes`));
        return;
      }
      if (this.peerAllowed !== undefined && !this.peerAllowed(call.getAuthContext().sslPeerCertificate)) {
        this.logger.warn({ peer: call.getPeer() }, 'ext_authz client certificate not in allowedSans; denying');
        callback(null, this.verdicts.networkDenied());
        return;
      }
      const parsed = toRequestContext(message, now, this.limits);
      // grpc-js keeps the decoded message (its closure and `call.request`) until the stream closes, after
      // the answer: the request context holds what the Check needs, so the message lets go of the rest
      // (header map, names, metadata Structs) and an answered Check leaves nothing of it to a scavenge.
      message.attributes = undefined;
      if (!parsed.ok) {
        callback(null, this.verdicts.invalid(`malformed CheckRequest: ${parsed.error}`));
        return;
      }
      const callDeadline = call.getDeadline();
      const traceContext = grpcTraceContext(call.metadata);
      const ctx = traceContext === undefined ? parsed.value : { ...parsed.value, traceContext };
      this.lifecycle.run(ctx, now, callDeadline instanceof Date ? callDeadline.getTime() : callDeadline, callback);
    } catch (err) {
      this.logger.error({ err }, 'ext_authz Check failed before a decision');
      callback(null, this.verdicts.fallback);
    }
  }

  /**
   * The lifecycle's answer: renders a decision (any render fault becomes the static internal-error deny)
   * and sends it. Runs in a promise callback or a timer: nothing may escape (responseSerialize has its own
   * fallback).
   */
  private answer(callback: grpc.sendUnaryData<OutgoingCheck>, ctx: RequestContext, decision: Decision): void {
    const response = this.verdicts.respondBytes(ctx, decision);
    try {
      callback(null, response);
    } catch (err) {
      this.logger.error({ err, requestId: ctx.requestId }, 'sending the CheckResponse failed');
    }
  }

  private authorizationDefinition(): grpc.ServiceDefinition {
    // The hand-written codec (see check-codec), no proto-loader decode+toObject / fromObject+encode.
    const decode = decodeCheckRequest;
    const verdicts = this.verdicts;
    const maxBytes = this.maxMessageBytes;
    return authorizationService(
      // Undecodable bytes must become a deny, not grpc-js's INTERNAL error (which may fail open).
      (bytes: Buffer): IncomingCheck => {
        // idgate's own size limit, enforced here so the answer is a deny verdict, not an RPC error.
        if (bytes.length > maxBytes) return OVERSIZED;
        try {
          return decode(bytes) as CheckRequestMessage;
        } catch {
          return UNDECODABLE;
        }
      },
      (value: OutgoingCheck): Buffer => verdicts.encode(value),
    );
  }

  private healthCheck(
    call: grpc.ServerUnaryCall<{ service?: string }, { status: number }>,
    callback: grpc.sendUnaryData<{ status: number }>,
  ): void {
    if (!isKnownService(call.request.service)) {
      callback({ code: grpc.status.NOT_FOUND, details: 'unknown service' });
      return;
    }
    callback(null, { status: this.health.status });
  }

  private healthWatch(call: grpc.ServerWritableStream<{ service?: string }, { status: number }>): void {
    if (this.state === 'closed') {
      call.end();
      return;
    }
    this.health.watch(call);
    const forget = (): void => {
      this.health.forget(call);
    };
    call.on('cancelled', forget);
    call.on('close', forget);
    call.on('error', forget);
  }
}


/**
 * Creates the gRPC ext_authz server (not yet listening). Compiles render options once, here.
 * @throws TypeError for invalid numeric options or render options.
 */
export function createExtAuthzServer(options: ExtAuthzServerOptions): ExtAuthzServer {
  return new ExtAuthzServer(options);
}
