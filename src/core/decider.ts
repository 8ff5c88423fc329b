import type { Decision } from './decision.js';
import type { RequestContext } from './request-context.js';

/**
 * What a front end (gRPC ext_authz, HTTP authz mode) calls for every request. Implemented by the engine.
 * It returns or resolves to a {@link Decision} (synchronously when everything the Check needs is cached);
 * it may throw or reject only on a programming error, which the front end turns into a fail-closed deny
 * (`internal_error`).
 */
export interface Decider {
  /**
   * @param deadlineAt epoch ms by which the answer must be ready (from the proxy's `grpc-timeout`, minus
   *   a safety margin); the engine answers `deadline_exceeded` (503) rather than run past it.
   */
  decide(ctx: RequestContext, deadlineAt: number): Decision | Promise<Decision>;
}
