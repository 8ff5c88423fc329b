import type { Logger } from 'pino';
import type { IdgateConfig, WorkflowConfig } from '../../config/types.js';
import { createDiditClient, type DiditClient } from '../../didit/create-didit-client.js';
import type { DecisionLog } from '../../observability/decision-log.js';
import { buildDecisionLog } from '../build-decision-log.js';
import type { IdgateMetrics } from '../../observability/metrics.js';
import type { BuiltStore } from '../../store/create-store.js';
import { createMemoryStore } from '../../store/memory/create-memory-store.js';
import { createSessionStarter, type SessionStarter } from '../../verification/create-session-starter.js';
import { createStartTickets, type StartTickets } from '../../verification/start-ticket.js';
import { createHolder, type Holder } from '../holder.js';
import { createPolicyHolder, type PolicyHolder } from '../policy-holder.js';
import { closeAll, type Closer } from './started-role.js';

/** The verdict store every role shares. */
export type SharedStore = BuiltStore['store'];

/**
 * What more than one role uses, built once per process. Values a reload changes are holders: every role
 * reads `current` when it uses them, so a swap applies everywhere at once.
 */
export interface SharedParts {
  readonly logger: Logger;
  readonly metrics: IdgateMetrics;
  readonly store: SharedStore;
  /** The Didit client, when a role that talks to Didit runs and workflows are configured. */
  readonly didit: DiditClient | undefined;
  readonly policy: PolicyHolder;
  readonly workflows: Holder<Readonly<Record<string, WorkflowConfig>>>;
  readonly decisionLog: Holder<DecisionLog>;
  /** The step-up start tickets, when a secret keys them (see {@link buildStartTickets}). */
  readonly tickets: StartTickets | undefined;
  /** Where browsers and Didit reach the public role (`server.public.baseUrl`; see `startWebhookRole`). */
  readonly publicBaseUrl: Holder<string>;
  /**
   * The one session starter of the process: the Check path (background creation) and the start URL share
   * its in-process single-flight (across processes the store's lock does the same). Built on first use, so
   * its callback URL names the public role's bound port.
   */
  sessionStarter(didit: DiditClient): SessionStarter;
  /** The store and Didit client, to close after every role has stopped. */
  readonly closers: readonly Closer[];
}

/**
 * Builds the parts the roles share. The Redis client (`ioredis`) is loaded only when `store.type` is redis,
 * so a process on the memory store never loads it. `diditBaseUrl` is the embedded sandbox's URL when the
 * sandbox role runs one, else `didit.apiBaseUrl`.
 */
export async function buildSharedParts(
  deps: { logger: Logger; metrics: IdgateMetrics },
  config: IdgateConfig,
  options: { diditBaseUrl: string; needsDidit: boolean },
): Promise<SharedParts> {
  const closers: Closer[] = [];
  try {
    return await build(deps, config, options, closers);
  } catch (err) {
    await closeAll(closers);
    throw err;
  }
}

async function build(
  { logger, metrics }: { logger: Logger; metrics: IdgateMetrics },
  config: IdgateConfig,
  options: { diditBaseUrl: string; needsDidit: boolean },
  closers: Closer[],
): Promise<SharedParts> {
  const storeLogger = logger.child({ component: 'store' });
  const store: SharedStore =
    config.store.type === 'redis'
      ? (await import('../../store/create-store.js')).createStore({ logger: storeLogger }, config.store).store
      : createMemoryStore({ logger: storeLogger });
  closers.push(() => store.close());

  let didit: DiditClient | undefined;
  if (options.needsDidit && Object.keys(config.workflows).length > 0) {
    const client = createDiditClient({
      logger: logger.child({ component: 'didit' }),
      baseUrl: options.diditBaseUrl,
      apiKey: config.didit.apiKey,
      timeoutMs: config.didit.requestTimeoutMs,
      maxRetries: config.didit.maxRetries,
      onRequest: (op, result) => metrics.diditRequestsTotal.inc({ op, result }),
    });
    closers.push(() => client.close());
    didit = client;
  }

  const publicBaseUrl = createHolder(config.server.public.baseUrl);
  let starter: SessionStarter | undefined;
  return {
    logger,
    metrics,
    store,
    didit,
    policy: createPolicyHolder(config),
    workflows: createHolder(config.workflows),
    decisionLog: createHolder(buildDecisionLog(logger, config)),
    tickets: buildStartTickets(config),
    publicBaseUrl,
    sessionStarter: (client) =>
      (starter ??= createSessionStarter(
        { store, didit: client, logger: logger.child({ component: 'verification' }) },
        { callbackUrl: new URL('/verification/callback', publicBaseUrl.current).toString(), maxStepUps: config.didit.maxStepUps },
      )),
    closers,
  };
}

/**
 * The step-up start tickets: keyed by `didit.startTicketSecret` (+ `…Previous` during a roll), else by the
 * webhook secret(s) — every role reads the same config, so every replica derives the same keys. Without
 * any secret there is no start URL and a Check waits for Didit within its budget, as before.
 */
function buildStartTickets(config: IdgateConfig): StartTickets | undefined {
  const d = config.didit;
  const configured = [d.startTicketSecret, d.startTicketSecretPrevious].filter((s): s is string => typeof s === 'string' && s !== '');
  const secrets =
    configured.length > 0
      ? configured
      : [d.webhookSecret, d.webhookSecretPrevious].filter((s): s is string => typeof s === 'string' && s.length >= 16);
  if (secrets.length === 0 || Object.keys(config.workflows).length === 0) return undefined;
  return createStartTickets({}, { secrets, ttlMs: d.startTicketTtlMs });
}
