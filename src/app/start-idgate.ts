import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import type { IdgateConfig } from '../config/types.js';
import type { Decision } from '../core/decision.js';
import type { RequestContext } from '../core/request-context.js';
import { DemoIssuer } from '../demo/demo-issuer.js';
import { createDiditClient, type DiditClient } from '../didit/create-didit-client.js';
import { isDependencyFault } from '../core/dependency-error.js';
import { createEngine, type DecisionObserver, type EngineDeps, type ObservedDetails, type RiskEvaluator } from '../engine.js';
import { createExtAuthzServer, type ExtAuthzServer } from '../extauthz/ext-authz-server.js';
import { HttpAuthzServer } from '../httpauthz/http-authz-server.js';
import { configWarnings } from '../config/config-warnings.js';
import type { Authenticator } from '../identity/auth-result.js';
import { createAuthenticator, type JwtAuthenticator } from '../identity/authenticator.js';
import { compilePolicy } from '../policy/compile-policy.js';
import { createCidrSet } from '../net/create-cidr-set.js';
import { createAdminServer, type AdminServer, type ReadinessCheck } from '../observability/admin-server.js';
import { createDecisionLog } from '../observability/decision-log.js';
import { createDependencyFaultReporter } from '../observability/dependency-faults.js';
import { createMetrics, type CheckMode, type IdgateMetrics } from '../observability/metrics.js';
import type { Outcome } from '../policy/outcome.js';
import { createRiskEvaluator, type ContinuousRiskEvaluator } from '../risk/create-risk-evaluator.js';
import { createDiditSandbox, type DiditSandbox } from '../sandbox/create-didit-sandbox.js';
import { createVerdictStore } from '../store/create-verdict-store.js';
import type { PutVerdictOptions, PutVerdictResult } from '../store/verdict-store.js';
import type { Verdict } from '../verification/verdict.js';
import { createReconciler } from '../verification/create-reconciler.js';
import { createVerificationGate } from '../verification/create-verification-gate.js';
import { createSessionStarter, type SessionStarter } from '../verification/create-session-starter.js';
import { createStartTickets, type StartTickets } from '../verification/start-ticket.js';
import { createVerificationStart } from '../webhook/verification-start.js';
import { isBrowserNavigation } from '../core/browser-navigation.js';
import { WebhookServer } from '../webhook/webhook-server.js';
import { startTracing, traceDecider } from '../observability/tracing.js';
import { createAdminRoutes } from './admin-routes.js';
import { createPolicyHolder, type PolicyHolder } from './policy-holder.js';
import { watchConfig } from './watch-config.js';
import { loadListenerTls, ReloadableServerCredentials, secureContextOptions, watchTlsFiles, type ListenerTls, type TlsMaterial } from '../tls/server-tls.js';

/** Which parts of idgate one process runs. `serve` = all of them. */
export interface Roles {
  /** gRPC ext_authz (+ health) and the HTTP authorization mode. */
  readonly authz: boolean;
  /** Public HTTP: Didit webhooks, verification callback, pages; and the reconciliation sweep. */
  readonly webhook: boolean;
  /** Embedded Didit sandbox and demo issuer (only in `didit.mode: sandbox`). */
  readonly sandbox: boolean;
  /** The admin server (default true; cluster workers leave it to the primary). */
  readonly admin?: boolean;
}

/** A running idgate: its bound ports and a graceful stop. */
export interface RunningIdgate {
  readonly ports: Readonly<Record<string, number>>;
  readonly policy: PolicyHolder;
  /** Graceful shutdown: readiness off, health NOT_SERVING, drain in-flight work, close everything. */
  stop(): Promise<void>;
}

/**
 * The composition root: builds every part from the validated config and wires them together. Nothing
 * else constructs clients or servers. Resolves once every listener is bound and logs `listening` per role
 * and then `ready`.
 *
 * With a `configPath` and an `env`, the config file is watched (see `watchConfig`). A valid change is applied
 * everywhere it is used — compiled policy, workflows (verification gate, webhook server, reconciler),
 * issuers (a new authenticator with fresh JWKS and token caches), risk weights and context, trusted
 * proxies, the decision-log sample rate — and counts `idgate_config_reloads_total{result="success"}`.
 * Sections that need a restart (see `SECTION_RELOAD`) keep their running value, with a warning and
 * `idgate_config_reload_refused_total{section,reason="restart_required"}`. An invalid, empty or
 * comment-only file keeps the running config, logs why and counts `{result="failure"}`.
 * `reloadIntervalMs` sets the poll interval (default 1 s).
 */
export async function startIdgate(
  deps: {
    logger: Logger;
    configPath?: string;
    env?: NodeJS.ProcessEnv;
    reloadIntervalMs?: number;
    /** Log `ready` when started (default true; the cluster primary announces once its workers are up). */
    announceReady?: boolean;
    /** What the admin server's `/metrics` serves, given this process's registry (cluster aggregation). */
    metricsSource?: (registry: Registry) => Pick<Registry, 'metrics' | 'contentType'>;
  },
  config: IdgateConfig,
  roles: Roles,
): Promise<RunningIdgate> {
  const { logger } = deps;
  const ports: Record<string, number> = {};
  const closers: Array<() => Promise<unknown>> = [];
  const listening = (role: string, port: number) => {
    ports[role] = port;
    logger.info({ role, port }, 'listening');
  };

  try {
    // First, so the store, Didit and JWKS clients built below are traced (a no-op when tracing is off).
    closers.push(await startTracing(config.tracing, logger));
    const registry = new Registry();
    const metrics = createMetrics(registry);
    for (const w of configWarnings(config)) logger.warn({ path: w.path }, `config warning: ${w.path} ${w.message}`);
    // Reloadable state: every component reads these through a function, so a reload applies everywhere.
    let workflows = config.workflows;
    const currentWorkflows = () => workflows;

    // Local try-out pieces first: the issuer must answer before the authenticator's first JWKS fetch.
    let sandbox: DiditSandbox | undefined;
    if (roles.sandbox && config.demoIssuer && config.didit.mode === 'sandbox') {
      const demo = new DemoIssuer({ logger: logger.child({ component: 'demo-issuer' }) }, { audience: config.demoIssuer.audience });
      listening('demoIssuer', await demo.listen(config.demoIssuer.port));
      closers.push(() => demo.close());
    }
    // The embedded sandbox serves when the Didit API base is its own loopback address (the default in
    // sandbox mode); pointing apiBaseUrl elsewhere means a sandbox (or Didit) runs on its own.
    const embedSandbox =
      roles.sandbox && config.didit.mode === 'sandbox' && config.didit.apiBaseUrl === `http://127.0.0.1:${config.didit.sandboxPort}`;
    if (embedSandbox) {
      sandbox = createDiditSandbox({
        logger,
        host: '127.0.0.1',
        port: config.didit.sandboxPort,
        apiKey: config.didit.apiKey,
        webhookSecret: config.didit.webhookSecret ?? 'sandbox-webhook-secret',
      });
      listening('sandbox', await sandbox.listen());
      const sb = sandbox;
      closers.push(() => sb.close());
    }
    const diditBaseUrl = sandbox ? sandbox.url : config.didit.apiBaseUrl;

    const built = createVerdictStore({ logger: logger.child({ component: 'store' }) }, config.store);
    const store = built.store;
    closers.push(() => store.close());

    let didit: DiditClient | undefined;
    const needsDidit = Object.keys(config.workflows).length > 0 && (roles.authz || roles.webhook);
    if (needsDidit) {
      didit = createDiditClient({
        logger: logger.child({ component: 'didit' }),
        baseUrl: diditBaseUrl,
        apiKey: config.didit.apiKey,
        timeoutMs: config.didit.requestTimeoutMs,
        maxRetries: config.didit.maxRetries,
        onRequest: (op, result) => metrics.diditRequestsTotal.inc({ op, result }),
      });
      const client = didit;
      closers.push(() => client.close());
    }

    const policy = createPolicyHolder(config);
    // Risk is wired only when enabled at start (no risk work at all otherwise); its weights and windows
    // follow reloads through this one indirection, while turning it on or off needs a restart.
    let riskEvaluator: ContinuousRiskEvaluator | undefined;
    const buildRisk = (c: IdgateConfig): ContinuousRiskEvaluator =>
      createRiskEvaluator({ store, logger: logger.child({ component: 'risk' }) }, { risk: c.risk, context: c.context });
    if (config.risk?.enabled === true) riskEvaluator = buildRisk(config);
    const risk: RiskEvaluator | undefined = riskEvaluator
      ? {
          assess: (ctx, principal, now) => (riskEvaluator as ContinuousRiskEvaluator).assess(ctx, principal, now),
          record: (ctx, principal, now) => (riskEvaluator as ContinuousRiskEvaluator).record(ctx, principal, now),
        }
      : undefined;
    let authenticator: JwtAuthenticator | undefined;
    const buildAuthenticator = (c: IdgateConfig): JwtAuthenticator =>
      createAuthenticator(
        {
          logger,
          metrics: {
            onJwksFetch: (issuer, outcome) => {
              metrics.jwksFetchesTotal.inc({ issuer, result: outcome });
              if (outcome === 'ok' || outcome === 'unchanged') metrics.jwksLastSuccess.set({ issuer }, Date.now() / 1000);
            },
            onUnknownKid: () => undefined,
            onTokenCache: (hit) => metrics.recordTokenCache(hit ? 'hit' : 'miss'),
          },
        },
        { issuers: c.issuers },
      );
    // The engine holds this stable front; a reload that changes `issuers` swaps the authenticator behind it.
    const auth: Authenticator = {
      authenticate: (ctx, now) => (authenticator as JwtAuthenticator).authenticate(ctx, now),
    };
    let decisionLog = createDecisionLog({ logger, allowSampleRate: config.logging.allowSampleRate });
    let grpcServer: ExtAuthzServer | undefined;
    let httpServer: HttpAuthzServer | undefined;
    let webhookServer: WebhookServer | undefined;
    let publicBaseUrl = config.server.public.baseUrl;
    const tickets = buildStartTickets(config);
    // One session starter per process: the Check path (background creation) and the start URL share
    // its in-process single-flight; across processes the store's lock does the same.
    let starter: SessionStarter | undefined;
    const starterFor = (client: DiditClient): SessionStarter =>
      (starter ??= createSessionStarter(
        { store, didit: client, logger: logger.child({ component: 'verification' }) },
        { callbackUrl: new URL('/verification/callback', publicBaseUrl).toString(), maxStepUps: config.didit.maxStepUps },
      ));

    if (roles.webhook) {
      const secrets = [config.didit.webhookSecret, config.didit.webhookSecretPrevious].filter(
        (s): s is string => typeof s === 'string' && s !== '',
      );
      if (didit && secrets.length > 0) {
        const client = didit;
        // Verdicts settled here (webhook, callback, sweep) feed the step-up funnel's approved/declined stage.
        const settleStore = countWrittenVerdicts(store, (status) => metrics.recordVerdict(status));
        webhookServer = new WebhookServer(
          {
            store: settleStore,
            didit,
            logger: logger.child({ component: 'webhook' }),
            metrics: { webhook: (result) => metrics.webhooksTotal.inc({ result }) },
            ...(tickets !== undefined
              ? {
                  // Built on first use: the callback URL must name the bound public port (tests bind 0).
                  start: (ticket: string) =>
                    createVerificationStart(
                      {
                        starter: starterFor(client),
                        tickets,
                        logger: logger.child({ component: 'verification-start' }),
                        metrics: { start: (result) => metrics.stepUpStartsTotal.inc({ result }) },
                      },
                      { workflows, waitMs: startWaitMs(config) },
                    )(ticket),
                }
              : {}),
          },
          {
            workflows,
            secrets,
            toleranceMs: config.didit.webhookToleranceMs,
            maxBodyBytes: config.server.public.maxBodyBytes,
            publicBaseUrl: config.server.public.baseUrl,
            returnToAllowlist: config.didit.returnToAllowlist,
          },
        );
        listening('public', await webhookServer.listen(config.server.public.host, config.server.public.port));
        if (config.server.public.port === 0 && publicBaseUrl.endsWith(':0')) {
          // Tests bind port 0: the callback Didit redirects to must name the real port.
          publicBaseUrl = `${publicBaseUrl.slice(0, -2)}:${ports.public}`;
        }
        if (sandbox) sandbox.setWebhookUrl(`http://127.0.0.1:${ports.public}/webhooks/didit`);
        const reconciler = createReconciler(
          {
            store: settleStore,
            didit,
            logger: logger.child({ component: 'reconciler' }),
            metrics: {
              backlog: (count) => (count === undefined ? metrics.reconcileBacklog.reset() : metrics.reconcileBacklog.set(count)),
            },
          },
          {
            workflows: currentWorkflows,
            reconcileAfterMs: config.didit.reconcileAfterMs,
            intervalMs: config.didit.sweepIntervalMs,
          },
        );
        reconciler.start();
        closers.push(async () => reconciler.stop());
      } else {
        logger.warn('webhook role has nothing to do: no workflows or no webhook secret configured');
      }
    }

    if (roles.authz) {
      authenticator = buildAuthenticator(config);
      closers.push(() => (authenticator as JwtAuthenticator).close());
      await authenticator.start();

      const verification =
        didit !== undefined
          ? createVerificationGate(
              {
                store,
                didit,
                logger: logger.child({ component: 'verification' }),
                starter: starterFor(didit),
                metrics: {
                  startUrlIssued: () => metrics.stepUpStartsTotal.inc({ result: 'issued' }),
                  backgroundFailure: () => metrics.stepUpStartsTotal.inc({ result: 'background_failed' }),
                },
              },
              {
                workflows: currentWorkflows,
                callbackUrl: new URL('/verification/callback', publicBaseUrl).toString(),
                maxStepUps: config.didit.maxStepUps,
                ...(tickets !== undefined ? { startUrl: { baseUrl: publicBaseUrl, tickets } } : {}),
                stepUpWaitMs: config.didit.stepUpWaitMs,
              },
            )
          : undefined;
      // A dependency outage is logged as state changes (down, still down with counts, recovered), never a
      // line with a stack per failing Check; the volume goes to idgate_dependency_faults_total.
      const faults = createDependencyFaultReporter({
        logger: logger.child({ component: 'dependencies' }),
        metrics: {
          fault: (dependency) => metrics.dependencyFaultsTotal.inc({ dependency }),
          up: (dependency, up) => metrics.setDependencyUp(dependency, up),
        },
        probes: { store: () => store.ping() },
      });
      closers.push(async () => faults.stop());
      const engineFor = (mode: CheckMode) => {
        const engineDeps: EngineDeps = {
          authenticator: auth,
          policy: () => policy.current,
          ...(verification ? { verification } : {}),
          ...(risk ? { risk } : {}),
          observer: createObserver(metrics, () => decisionLog, mode),
          onFault: (err, ctx) =>
            isDependencyFault(err)
              ? faults.report(err, ctx.requestId)
              : logger.error({ err, requestId: ctx.requestId }, 'decision fault; failing closed'),
        };
        return traceDecider(createEngine(engineDeps, { headerPrefix: config.headers.prefix }), mode);
      };
      const render = {
        identityHeaderPrefix: config.headers.prefix,
        stripHeaders: config.headers.strip,
        removeAuthorization: config.headers.removeAuthorization,
      };

      // TLS on the authz listeners (docs/deployment.md "TLS"): both listeners' files are read and checked
      // before anything binds, so a bad file stops startup without leaving a listener open.
      const watchTls = (tls: ListenerTls, apply: (m: TlsMaterial) => void) => {
        const watcher = watchTlsFiles(
          { logger: logger.child({ component: 'tls' }), onResult: (ok) => metrics.tlsReloadsTotal.inc({ listener: tls.listener, result: ok ? 'success' : 'failure' }) },
          { listener: tls.listener, config: tls.config, initial: tls.material, apply },
        );
        closers.push(async () => watcher.stop());
      };
      const grpcTls = config.server.grpc.tls ? await loadListenerTls('grpc', config.server.grpc.tls) : undefined;
      const httpTls =
        config.server.httpAuthz.enabled && config.server.httpAuthz.tls ? await loadListenerTls('httpAuthz', config.server.httpAuthz.tls) : undefined;
      const grpcCredentials = grpcTls ? new ReloadableServerCredentials(grpcTls.material) : undefined;
      grpcServer = createExtAuthzServer({
        decider: engineFor('grpc'),
        logger: logger.child({ component: 'extauthz' }),
        renderOptions: render,
        maxMessageBytes: config.server.grpc.maxMessageBytes,
        decisionTimeoutMs: config.server.grpc.decisionTimeoutMs,
        ...(grpcCredentials ? { credentials: grpcCredentials } : {}),
        ...(grpcTls?.peerAllowed ? { peerAllowed: grpcTls.peerAllowed } : {}),
      });
      listening('grpc', await grpcServer.listen(config.server.grpc.host, config.server.grpc.port));
      if (grpcTls && grpcCredentials) watchTls(grpcTls, (m) => grpcCredentials.update(m));

      if (config.server.httpAuthz.enabled) {
        httpServer = new HttpAuthzServer(
          { decider: engineFor('http'), logger: logger.child({ component: 'httpauthz' }) },
          {
            pathPrefix: config.server.httpAuthz.pathPrefix,
            trustedProxies: createCidrSet(config.network.trustedProxies),
            render,
            // One deadline rule for both front ends (docs/policy-reference.md, "Deadlines").
            decisionTimeoutMs: config.server.grpc.decisionTimeoutMs,
            ...(httpTls
              ? { tls: { context: secureContextOptions(httpTls.material), requestCert: httpTls.material.ca !== undefined, ...(httpTls.peerAllowed ? { peerAllowed: httpTls.peerAllowed } : {}) } }
              : {}),
          },
        );
        listening('http', await httpServer.listen(config.server.httpAuthz.host, config.server.httpAuthz.port));
        const tlsServer = httpServer;
        if (httpTls) watchTls(httpTls, (m) => tlsServer.setSecureContext(secureContextOptions(m)));
      }
    }

    let draining = false;
    const metricsSource = deps.metricsSource ? deps.metricsSource(registry) : registry;
    const admin: AdminServer | undefined = roles.admin === false ? undefined : createAdminServer({
      logger, // the admin server names its own component (a child here printed "component" twice)
      registry: metricsSource,
      ...(config.server.admin.token !== undefined ? { adminToken: config.server.admin.token } : {}),
      routes: createAdminRoutes({ store, logger, workflows: () => Object.keys(workflows) }),
      readiness: async () => {
        // Readiness reflects this process only. Redis or an IdP being down is reported, not fatal: the
        // routes that need them answer 503 while everything else keeps being decided correctly.
        const checks: Record<string, ReadinessCheck> = {};
        checks.process = { ok: !draining, ...(draining ? { detail: 'draining' } : {}) };
        const storeUp = await store.ping();
        metrics.setDependencyUp('store', storeUp);
        checks.store = { ok: storeUp };
        for (const issuer of authenticator?.status() ?? []) {
          checks[`issuer:${issuer.name}`] = { ok: issuer.keysLoaded, ...(issuer.lastError ? { detail: issuer.lastError } : {}) };
        }
        return { ready: !draining, checks };
      },
    });
    if (admin) listening('admin', await admin.listen(config.server.admin.host, config.server.admin.port));

    if ((roles.authz || roles.webhook) && deps.configPath !== undefined && deps.env !== undefined) {
      const watcher = watchConfig(
        { logger, env: deps.env },
        {
          path: deps.configPath,
          initial: config,
          ...(deps.reloadIntervalMs !== undefined ? { intervalMs: deps.reloadIntervalMs } : {}),
          capabilities: { workflowsWired: didit !== undefined },
          apply: async ({ effective: next, applied }) => {
            // Build and check everything that can fail first; swap only when all of it succeeded.
            compilePolicy(next);
            const nextRisk = riskEvaluator !== undefined && applied.some((s) => s === 'risk' || s === 'context') ? buildRisk(next) : undefined;
            let nextAuth: JwtAuthenticator | undefined;
            if (authenticator !== undefined && applied.includes('issuers')) {
              nextAuth = buildAuthenticator(next);
              await nextAuth.start();
            }
            policy.replace(next);
            workflows = next.workflows;
            webhookServer?.setWorkflows(next.workflows);
            if (nextRisk !== undefined) riskEvaluator = nextRisk;
            httpServer?.setTrustedProxies(createCidrSet(next.network.trustedProxies));
            decisionLog = createDecisionLog({ logger, allowSampleRate: next.logging.allowSampleRate });
            if (nextAuth !== undefined) {
              const old = authenticator as JwtAuthenticator;
              authenticator = nextAuth;
              // Removed issuers stop verifying now (its token cache goes with it); the old key fetchers are
              // closed once decisions already holding it have finished.
              setTimeout(() => void old.close().catch(() => undefined), 5_000).unref();
            }
          },
          onResult: (ok) => metrics.configReloadsTotal.inc({ result: ok ? 'success' : 'failure' }),
          onRefused: (section) => metrics.configReloadRefusedTotal.inc({ section, reason: 'restart_required' }),
        },
      );
      closers.push(async () => watcher.stop());
    }

    if (deps.announceReady !== false) logger.info({ roles, ports, config: deps.configPath }, 'ready');

    let stopping: Promise<void> | undefined;
    return {
      ports,
      policy,
      stop() {
        stopping ??= (async () => {
          draining = true;
          admin?.setDraining(true);
          grpcServer?.setServing(false);
          logger.info('shutting down: draining in-flight requests');
          const grace = config.server.shutdownGraceMs;
          await Promise.allSettled([
            grpcServer?.drain(grace),
            httpServer?.close(grace),
            webhookServer?.close(grace),
          ]);
          await admin?.close();
          for (const close of closers.reverse()) {
            await close().catch((err: unknown) => logger.warn({ err }, 'error while closing'));
          }
          logger.info('stopped');
        })();
        return stopping;
      },
    };
  } catch (err) {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    throw err;
  }
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

/** How long opening the start URL may wait for a session: every Didit attempt plus a little. */
function startWaitMs(config: IdgateConfig): number {
  return Math.min(config.didit.requestTimeoutMs * (config.didit.maxRetries + 1) + 1_000, 12_000);
}

/**
 * Metrics + decision log for one front end. A shadow decision is counted in the checks metric as the
 * allow it was, and logged with `shadow: true` and the outcome, code and status it would have had.
 */
function createObserver(
  metrics: IdgateMetrics,
  decisionLogOf: () => ReturnType<typeof createDecisionLog>,
  mode: CheckMode,
): DecisionObserver {
  const codeOf = (d: Decision) => (d.kind === 'deny' ? d.code : d.kind === 'step_up' ? 'verification_required' : undefined);
  return {
    observe(ctx: RequestContext, decision: Decision, outcome: Outcome | undefined, durationMs: number, details?: ObservedDetails) {
      metrics.recordCheck(decision.kind, codeOf(decision), decision.routeId, mode, durationMs / 1000);
      const decisionLog = decisionLogOf();
      const wouldBe = decision.shadow ? details?.wouldBe : undefined;
      if (wouldBe !== undefined) metrics.shadowDecisionsTotal.inc({ would: wouldBe.kind });
      const logged: Decision = wouldBe ?? decision;
      const kind = logged.kind;
      // Hot path: most allows are not logged; skip building their entry at all.
      const sampled = kind === 'allow' && !decision.shadow;
      if (sampled && !decisionLog.sampleAllow()) return;
      const code = codeOf(logged);
      decisionLog.record({
        requestId: ctx.requestId,
        ...(decision.routeId !== undefined ? { routeId: decision.routeId } : {}),
        ...(decision.subject !== undefined ? { subject: decision.subject } : {}),
        outcome: kind,
        ...(code !== undefined ? { code } : {}),
        // What the client got: a step-up is a 302 only for a browser navigation, a 401 for API clients.
        ...(kind === 'deny' ? { status: logged.status } : kind === 'step_up' ? { status: isBrowserNavigation(ctx) ? 302 : 401 } : {}),
        method: ctx.method,
        host: ctx.host,
        path: ctx.path,
        sourceAddress: ctx.sourceAddress,
        durationMs,
        ...(decision.shadow ? { shadow: true } : {}),
        ...(outcome && kind !== 'allow' ? { trace: outcome.trace } : {}),
        ...(sampled ? { sampled: true } : {}),
      });
    },
  };
}

/**
 * The store with `putVerdict` observed: every verdict it newly writes is reported by status. Other methods
 * are the store's own, bound to it (the stores keep private fields).
 */
function countWrittenVerdicts<S extends { putVerdict(v: Verdict, options?: PutVerdictOptions): Promise<PutVerdictResult> }>(
  store: S,
  onWritten: (status: string) => void,
): S {
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'putVerdict') {
        return async (v: Verdict, options?: PutVerdictOptions) => {
          const result = await target.putVerdict(v, options);
          if (result === 'written') onWritten(v.status);
          return result;
        };
      }
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
