import type { Logger } from 'pino';
import type { IdgateConfig } from '../../config/types.js';
import { createDemoIssuer } from '../../demo/demo-issuer.js';
import { createDiditSandbox } from '../../sandbox/create-didit-sandbox.js';
import { closeAll, type Closer, type StartedRole } from './started-role.js';

/** The try-out role's extras: where Didit is, and where the embedded sandbox sends its webhooks. */
export interface StartedSandboxRole extends StartedRole {
  /** The embedded sandbox's base URL (the Didit API the other roles call), when it runs. */
  readonly diditBaseUrl?: string;
  /** Points the embedded sandbox's webhooks at the public role (a no-op without an embedded sandbox). */
  setWebhookUrl(url: string): void;
}

/**
 * The local try-out role (`didit.mode: sandbox`): the demo issuer, when configured, and the embedded Didit
 * sandbox when the Didit API base is its own loopback address (the default in sandbox mode; pointing
 * `apiBaseUrl` elsewhere means a sandbox, or Didit, runs on its own). Started before the other roles: the
 * issuer must answer before the authenticator's first JWKS fetch, and the Didit client needs the sandbox's URL.
 * Both bind loopback only.
 */
export async function startSandboxRole(deps: { logger: Logger }, config: IdgateConfig): Promise<StartedSandboxRole> {
  const { logger } = deps;
  const listeners: Record<string, number> = {};
  const closers: Closer[] = [];
  try {
    if (config.demoIssuer && config.didit.mode === 'sandbox') {
      const demo = createDemoIssuer({ logger: logger.child({ component: 'demo-issuer' }), audience: config.demoIssuer.audience });
      listeners.demoIssuer = await demo.listen('127.0.0.1', config.demoIssuer.port);
      closers.push(() => demo.close());
    }
    if (config.didit.mode !== 'sandbox' || config.didit.apiBaseUrl !== `http://127.0.0.1:${config.didit.sandboxPort}`) {
      return { listeners, closers, setWebhookUrl: () => undefined };
    }
    const sandbox = createDiditSandbox({
      logger,
      apiKey: config.didit.apiKey,
      webhookSecret: config.didit.webhookSecret ?? 'sandbox-webhook-secret',
    });
    listeners.sandbox = await sandbox.listen('127.0.0.1', config.didit.sandboxPort);
    closers.push(() => sandbox.close());
    return { listeners, closers, diditBaseUrl: sandbox.url, setWebhookUrl: (url) => sandbox.setWebhookUrl(url) };
  } catch (err) {
    await closeAll(closers);
    throw err;
  }
}
