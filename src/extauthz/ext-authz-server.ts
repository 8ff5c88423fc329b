import * as grpc from '@grpc/grpc-js';
import type { PeerCertificate } from 'node:tls';
import type { Logger } from 'pino';
import type { RequestLimits } from '../core/build-request-context.js';
import type { Decider } from '../core/decider.js';
import type { Decision, DenyDecision } from '../core/decision.js';
import {
  compileRenderOptions,
  renderDecision,
  type CompiledRenderOptions,
  type RenderOptions,
} from '../core/render-decision.js';
import { EMPTY_REQUEST_CONTEXT, type RequestContext } from '../core/request-context.js';
import { CheckLifecycle, INTERNAL_ERROR_DENY } from '../engine/check-lifecycle.js';
import { loadAuthzProtos } from './load-authz-protos.js';
import { decodeCheckRequest, encodeCheckResponse, encodeVerdictResponse } from './check-codec.js';
import type { CheckRequestMessage, CheckResponseObject } from './check-wire-types.js';
import { toCheckResponse } from './to-check-response.js';
import { toRequestContext } from './to-request-context.js';

/** Options of {@link createExtAuthzServer}. */
export interface ExtAuthzServerOptions {
  /** The engine. */
  readonly decider: Decider;
  /** Only internal faults are logged here; deny/allow logging is the engine's job. */
  readonly logger: Logger;
  readonly renderOptions?: RenderOptions;
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
  /** Where idgate's `proto/` lives (default: found next to the package). */
  readonly protoDir?: string;
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

/** Health service names answered; anything else is NOT_FOUND (Check) / SERVICE_UNKNOWN (Watch). */
export const HEALTH_SERVICES = ['', 'envoy.service.auth.v3.Authorization'] as const;

/** grpc.health.v1.HealthCheckResponse.ServingStatus values. */
const ServingStatus = { SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 } as const;

const UNDECODABLE: unique symbol = Symbol('undecodable CheckRequest');
const OVERSIZED: unique symbol = Symbol('CheckRequest above maxMessageBytes');

type IncomingCheck = CheckRequestMessage | typeof UNDECODABLE | typeof OVERSIZED;

/** A Check's answer: the encoded CheckResponse of a decision, or the object of a fixed deny (invalid, fallback). */
type OutgoingCheck = CheckResponseObject | Buffer;

/**
 * How much larger than `maxMessageBytes` the transport accepts, so that an oversized CheckRequest is still
 * answered with a deny verdict rather than an RPC error. The frame is buffered once by grpc-js either way;
 * this bounds that buffer per stream.
 */
const TRANSPORT_FACTOR = 4;
const MAX_TRANSPORT_BYTES = 64 * 1024 * 1024;


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
export class ExtAuthzServer {
  private readonly server: grpc.Server;
  private readonly lifecycle: CheckLifecycle<grpc.sendUnaryData<OutgoingCheck>>;
  private readonly logger: Logger;
  private readonly render: CompiledRenderOptions;
  private readonly limits: RequestLimits;
  private readonly maxMessageBytes: number;
  private readonly now: () => number;
  private readonly credentials: grpc.ServerCredentials;
  private readonly peerAllowed: ((peer: PeerCertificate | undefined) => boolean) | undefined;
  private readonly fallbackResponse: CheckResponseObject;
  private readonly watchers = new Set<grpc.ServerWritableStream<{ service?: string }, { status: number }>>();
  private serving = true;
  private state: 'new' | 'listening' | 'closed' = 'new';

  /** Use {@link createExtAuthzServer}. */
  constructor(options: ExtAuthzServerOptions) {
    const maxMessageBytes = options.maxMessageBytes ?? 1024 * 1024;
    const decisionTimeoutMs = options.decisionTimeoutMs ?? 150;
    const deadlineMarginMs = options.deadlineMarginMs ?? 20;
    for (const [name, value] of [
      ['maxMessageBytes', maxMessageBytes],
      ['decisionTimeoutMs', decisionTimeoutMs],
      ['deadlineMarginMs', deadlineMarginMs],
    ] as const) {
      if (!Number.isFinite(value) || value < 0) throw new TypeError(`${name} must be a non-negative number`);
    }
    this.logger = options.logger;
    this.render = compileRenderOptions(options.renderOptions);
    this.limits = options.requestLimits ?? {};
    this.now = options.now ?? Date.now;
    this.credentials = options.credentials ?? grpc.ServerCredentials.createInsecure();
    this.peerAllowed = options.peerAllowed;
    this.fallbackResponse = this.denyResponse(INTERNAL_ERROR_DENY, EMPTY_REQUEST_CONTEXT);
    this.lifecycle = new CheckLifecycle({
      decider: options.decider,
      logger: options.logger,
      decisionTimeoutMs,
      deadlineMarginMs,
      answer: (callback, ctx, decision) => this.answer(callback, ctx, decision),
      logLateFaults: false,
    });

    const protos = loadAuthzProtos(options.protoDir);
    this.maxMessageBytes = maxMessageBytes;
    const serverOptions: grpc.ServerOptions = {
      'grpc.max_receive_message_length': Math.min(MAX_TRANSPORT_BYTES, Math.max(maxMessageBytes, maxMessageBytes * TRANSPORT_FACTOR)),
    };
    if (options.maxConcurrentStreams !== undefined) {
      serverOptions['grpc.max_concurrent_streams'] = options.maxConcurrentStreams;
    }
    this.server = new grpc.Server(serverOptions);
    this.server.addService(this.wrapAuthorizationDefinition(protos.authorization), {
      Check: (call: grpc.ServerUnaryCall<IncomingCheck, OutgoingCheck>, callback: grpc.sendUnaryData<OutgoingCheck>) =>
        this.check(call, callback),
    });
    this.server.addService(protos.health, {
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

  /** Sets what the health service reports (SERVING / NOT_SERVING) and notifies Watch streams. */
  setServing(serving: boolean): void {
    if (this.serving === serving) return;
    this.serving = serving;
    const status = serving ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
    for (const call of this.watchers) {
      if (isKnownService(call.request.service)) call.write({ status });
    }
  }

  /** Whether health currently reports SERVING. */
  get isServing(): boolean {
    return this.serving;
  }

  /**
   * Graceful stop: report NOT_SERVING, end Watch streams, stop accepting calls and wait for in-flight
   * Checks (which are bounded by their deadlines) up to `graceMs`, then force-close.
   */
  async drain(graceMs = 10_000): Promise<void> {
    if (this.state === 'closed') return;
    this.setServing(false);
    this.endWatchers();
    this.state = 'closed';
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      timer.unref();
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Immediate stop: cancels in-flight calls. Idempotent. */
  async close(): Promise<void> {
    this.serving = false;
    this.endWatchers();
    this.state = 'closed';
    this.server.forceShutdown();
    return Promise.resolve();
  }

  private check(
    call: grpc.ServerUnaryCall<IncomingCheck, OutgoingCheck>,
    callback: grpc.sendUnaryData<OutgoingCheck>,
  ): void {
    try {
      const now = this.now();
      const message = call.request;
      if (message === UNDECODABLE) {
        callback(null, this.invalid('the CheckRequest could not be decoded'));
        return;
      }
      if (message === OVERSIZED) {
        callback(null, this.invalid(`the CheckRequest is larger than ${this.maxMessageBytes} bytes`));
        return;
      }
      if (this.peerAllowed !== undefined && !this.peerAllowed(call.getAuthContext().sslPeerCertificate)) {
        this.logger.warn({ peer: call.getPeer() }, 'ext_authz client certificate not in allowedSans; denying');
        callback(null, this.denyResponse(
          { kind: 'deny', status: 403, code: 'network_denied', message: 'the ext_authz client certificate is not allowed' },
          EMPTY_REQUEST_CONTEXT,
        ));
        return;
      }
      const parsed = toRequestContext(message, now, this.limits);
      if (!parsed.ok) {
        callback(null, this.invalid(`malformed CheckRequest: ${parsed.error}`));
        return;
      }
      const callDeadline = call.getDeadline();
      this.lifecycle.run(parsed.value, now, callDeadline instanceof Date ? callDeadline.getTime() : callDeadline, callback);
    } catch (err) {
      this.logger.error({ err }, 'ext_authz Check failed before a decision');
      callback(null, this.fallbackResponse);
    }
  }

  /**
   * The lifecycle's answer: renders a decision (any render fault becomes the static internal-error deny)
   * and sends it. Runs in a promise callback or a timer: nothing may escape (responseSerialize has its own
   * fallback).
   */
  private answer(callback: grpc.sendUnaryData<OutgoingCheck>, ctx: RequestContext, decision: Decision): void {
    let response: OutgoingCheck;
    try {
      // Encoded here, straight from the rendered verdict (no CheckResponseObject per Check); an encoding
      // fault is a render fault like any other: the static internal-error deny.
      response = encodeVerdictResponse(renderDecision(decision, ctx, this.render));
    } catch (err) {
      this.logger.error({ err }, 'rendering a decision failed');
      response = this.fallbackResponse;
    }
    try {
      callback(null, response);
    } catch (err) {
      this.logger.error({ err, requestId: ctx.requestId }, 'sending the CheckResponse failed');
    }
  }

  private invalid(message: string): CheckResponseObject {
    return this.denyResponse({ kind: 'deny', status: 400, code: 'request_invalid', message }, EMPTY_REQUEST_CONTEXT);
  }

  private denyResponse(decision: DenyDecision, ctx: RequestContext): CheckResponseObject {
    return toCheckResponse(renderDecision(decision, ctx, this.render));
  }

  private wrapAuthorizationDefinition(definition: grpc.ServiceDefinition): grpc.ServiceDefinition {
    const method = definition['Check'];
    if (method === undefined) throw new Error('Authorization service has no Check method');
    // The hand-written codec replaces proto-loader's decode+toObject / fromObject+encode (see check-codec).
    const decode = decodeCheckRequest;
    // A decision's answer arrives already encoded (see answer); fixed denies arrive as objects.
    const encode = (value: unknown): Buffer => (Buffer.isBuffer(value) ? value : encodeCheckResponse(value as CheckResponseObject));
    const fallback = this.fallbackResponse;
    const logger = this.logger;
    const maxBytes = this.maxMessageBytes;
    return {
      ...definition,
      Check: {
        ...method,
        // Undecodable bytes must become a deny, not grpc-js's INTERNAL error (which may fail open).
        requestDeserialize: (bytes: Buffer): IncomingCheck => {
          // idgate's own size limit, enforced here so the answer is a deny verdict, not an RPC error.
          if (bytes.length > maxBytes) return OVERSIZED;
          try {
            return decode(bytes) as CheckRequestMessage;
          } catch {
            return UNDECODABLE;
          }
        },
        responseSerialize: (value: unknown): Buffer => {
          try {
            return encode(value);
          } catch (err) {
            logger.error({ err }, 'encoding a CheckResponse failed; sending internal_error deny');
            return encode(fallback);
          }
        },
      },
    };
  }

  private healthCheck(
    call: grpc.ServerUnaryCall<{ service?: string }, { status: number }>,
    callback: grpc.sendUnaryData<{ status: number }>,
  ): void {
    if (!isKnownService(call.request.service)) {
      callback({ code: grpc.status.NOT_FOUND, details: 'unknown service' });
      return;
    }
    callback(null, { status: this.serving ? ServingStatus.SERVING : ServingStatus.NOT_SERVING });
  }

  private healthWatch(call: grpc.ServerWritableStream<{ service?: string }, { status: number }>): void {
    if (this.state === 'closed') {
      call.end();
      return;
    }
    const known = isKnownService(call.request.service);
    call.write({
      status: !known ? ServingStatus.SERVICE_UNKNOWN : this.serving ? ServingStatus.SERVING : ServingStatus.NOT_SERVING,
    });
    this.watchers.add(call);
    const forget = (): void => {
      this.watchers.delete(call);
    };
    call.on('cancelled', forget);
    call.on('close', forget);
    call.on('error', forget);
  }

  private endWatchers(): void {
    for (const call of this.watchers) call.end();
    this.watchers.clear();
  }
}

function isKnownService(service: string | undefined): boolean {
  return (HEALTH_SERVICES as readonly string[]).includes(service ?? '');
}

/**
 * Creates the gRPC ext_authz server (not yet listening). Loads the protos and compiles render options
 * once, here.
 * @throws TypeError for invalid numeric options or render options; Error when the protos cannot be loaded.
 */
export function createExtAuthzServer(options: ExtAuthzServerOptions): ExtAuthzServer {
  return new ExtAuthzServer(options);
}
