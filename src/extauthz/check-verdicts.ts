import type { Logger } from 'pino';
import type { Decision, DenyDecision } from '../core/decision.js';
import { compileRenderOptions, renderDecision, type CompiledRenderOptions, type RenderOptions } from '../core/render-decision.js';
import { EMPTY_REQUEST_CONTEXT, type RequestContext } from '../core/request-context.js';
import { INTERNAL_ERROR_DENY } from '../engine/check-lifecycle.js';
import { AllowResponseCache, type DEFAULT_MAX_ALLOWS } from './allow-response-cache.js';
import { StepUpResponseCache } from './step-up-response-cache.js';
import { encodeCheckResponse, encodeVerdictResponse } from './check-codec.js';
import type { CheckResponseObject } from './check-wire-types.js';
import { toCheckResponse } from './to-check-response.js';

/** A Check's answer: the encoded CheckResponse of a decision, or the object of a fixed deny (invalid, fallback). */
export type OutgoingCheck = CheckResponseObject | Buffer;

const NETWORK_DENIED: DenyDecision = Object.freeze({
  kind: 'deny',
  status: 403,
  code: 'network_denied',
  message: 'the ext_authz client certificate is not allowed',
});

/**
 * The CheckResponses both gRPC transports (grpc-js and node:http2) answer with, so they cannot drift: a
 * rendered decision, the transport's own denies (`request_invalid`, `network_denied`) and the static
 * internal-error deny every render or encode fault falls back to.
 */
export class CheckVerdicts {
  readonly #render: CompiledRenderOptions;
  readonly #logger: Logger;
  /** The internal-error deny, rendered once: the answer when rendering or encoding fails. */
  readonly fallback: CheckResponseObject;
  readonly #fallbackBytes: Buffer;
  /** Allows rendered once and copied with their decision id per Check (see {@link AllowResponseCache}). */
  readonly #allows: AllowResponseCache;
  /** Step-ups rendered once and copied with their request and decision ids per Check (see {@link StepUpResponseCache}). */
  readonly #stepUps: StepUpResponseCache;

  /**
   * @param maxAllows encoded allows kept (`caches.allows`; default {@link DEFAULT_MAX_ALLOWS}).
   * @throws TypeError for invalid render options or a `maxAllows` that is not a positive integer.
   */
  constructor(renderOptions: RenderOptions | undefined, logger: Logger, maxAllows?: number) {
    this.#render = compileRenderOptions(renderOptions);
    this.#logger = logger;
    this.#allows = new AllowResponseCache(this.#render, maxAllows);
    this.#stepUps = new StepUpResponseCache(this.#render);
    this.fallback = this.deny(INTERNAL_ERROR_DENY);
    this.#fallbackBytes = encodeCheckResponse(this.fallback);
  }

  /**
   * `decision` rendered for `ctx` and encoded straight from the rendered verdict (no CheckResponseObject per
   * Check: the hot path); an allow comes from {@link AllowResponseCache} (the same bytes). A render or encode
   * fault is logged and becomes the internal-error deny's bytes.
   */
  respondBytes(ctx: RequestContext, decision: Decision): Buffer {
    try {
      if (decision.kind === 'allow') return this.#allows.respond(decision, ctx);
      if (decision.kind === 'step_up') return this.#stepUps.respond(decision, ctx);
      return encodeVerdictResponse(renderDecision(decision, ctx, this.#render));
    } catch (err) {
      this.#logger.error({ err }, 'rendering a decision failed');
      return this.#fallbackBytes;
    }
  }

  /** Forgets the allows rendered so far (on a config reload). */
  forgetAllows(): void {
    this.#allows.clear();
    this.#stepUps.clear();
  }

  /** 400 `request_invalid` with `message` (an undecodable, oversized or malformed CheckRequest). */
  invalid(message: string): CheckResponseObject {
    return this.deny({ kind: 'deny', status: 400, code: 'request_invalid', message });
  }

  /** 403 `network_denied`: the mTLS client certificate is not in `allowedSans`. */
  networkDenied(): CheckResponseObject {
    return this.deny(NETWORK_DENIED);
  }

  /**
   * The wire bytes of `response` (already-encoded bytes pass through); an encode fault is logged and becomes
   * the internal-error deny's bytes.
   */
  encode(response: OutgoingCheck): Buffer {
    if (Buffer.isBuffer(response)) return response;
    try {
      return encodeCheckResponse(response);
    } catch (err) {
      this.#logger.error({ err }, 'encoding a CheckResponse failed; sending internal_error deny');
      return this.#fallbackBytes;
    }
  }

  private deny(decision: DenyDecision): CheckResponseObject {
    return toCheckResponse(renderDecision(decision, EMPTY_REQUEST_CONTEXT, this.#render));
  }
}
