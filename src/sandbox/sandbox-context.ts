import type { Logger } from 'pino';
import type { SandboxSession } from './sandbox-session.js';
import type { SessionRegistry } from './session-registry.js';
import type { SandboxDelivery } from './webhook-dispatcher.js';

/** What the sandbox's routes share: its sessions, its clock and the way to announce a new state. */
export interface SandboxContext {
  readonly log: Logger;
  /** Epoch ms. */
  readonly clock: () => number;
  readonly sessions: SessionRegistry;
  /** The base of hosted URLs. @throws Error before the server listens. */
  readonly baseUrl: () => string;
  /**
   * Queues the `status.updated` webhook of this state of a session (after the session's earlier ones).
   * @returns the first attempt, or undefined when no webhook URL is set.
   */
  readonly notify: (session: SandboxSession) => Promise<SandboxDelivery | undefined>;
}
