import type { IdgateConfig } from '../../config/types.js';
import { isDependencyFault } from '../../core/dependency-error.js';
import { createEngine, type EngineDeps } from '../../engine/create-engine.js';
import type { ExtAuthzServer } from '../../extauthz/ext-authz-server.js';
import type { HttpAuthzServer } from '../../httpauthz/http-authz-server.js';
import type { Authenticator, RiskEvaluator } from '../../core/stages.js';
import { createAuthenticator, type IssuerStatus, type JwtAuthenticator } from '../../identity/authenticator.js';
import { createCidrSet } from '../../net/create-cidr-set.js';
import { createDecisionObserver } from '../../observability/create-decision-observer.js';
import { createDependencyFaultReporter } from '../../observability/dependency-faults.js';
import type { CheckMode } from '../../observability/metrics.js';
import { traceDecider } from '../../tracing/tracing.js';
import { createRiskEvaluator, type ContinuousRiskEvaluator } from '../../risk/create-risk-evaluator.js';
import { loadListenerTls, secureContextOptions, watchTlsFiles, type ListenerTls, type TlsMaterial } from '../../tls/server-tls.js';
import { createVerificationGate } from '../../verification/create-verification-gate.js';
import { createHolder, type Holder } from '../holder.js';
import type { SharedParts } from './build-shared-parts.js';
import { closeAll, type Closer, type StartedRole } from './started-role.js';

/** The authorization role's extra: its issuers' key state, for readiness. */
export interface StartedAuthzRole extends StartedRole {
  issuers(): readonly IssuerStatus[];
}

/**
 * The authorization role: gRPC ext_authz (+ health) on `server.grpc` and, when enabled, the HTTP mode on
 * `server.httpAuthz`, each with its own engine (the front end labels its metrics), sharing one
 * authenticator, policy, verification gate and risk evaluator.
 *
 * Reloads: the engines hold stable fronts, and a reload swaps what is behind them — a new authenticator
 * (fresh JWKS and token caches) when `issuers` change, a new risk evaluator when `risk` or `context`
 * change (risk is wired only when enabled at start: no risk work at all otherwise; turning it on or off
 * needs a restart), and the HTTP mode's trusted proxies.
 */
export async function startAuthzRole(parts: SharedParts, config: IdgateConfig): Promise<StartedAuthzRole> {
  const closers: Closer[] = [];
  try {
    return await build(parts, config, closers);
  } catch (err) {
    await closeAll(closers);
    throw err;
  }
}

async function build(parts: SharedParts, config: IdgateConfig, closers: Closer[]): Promise<StartedAuthzRole> {
  const { logger, metrics, store, didit, policy } = parts;
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
      { issuers: c.issuers, tokenCacheMaxEntries: c.caches.tokens },
    );
  const authenticator = createHolder(buildAuthenticator(config));
  closers.push(() => authenticator.current.close());
  await authenticator.current.start();
  // The engine holds this stable front; a reload that changes `issuers` swaps the authenticator behind it.
  const auth: Authenticator = { authenticate: (ctx, now) => authenticator.current.authenticate(ctx, now) };

  const buildRisk = (c: IdgateConfig): ContinuousRiskEvaluator =>
    createRiskEvaluator({ store, logger: logger.child({ component: 'risk' }) }, { risk: c.risk, context: c.context });
  const riskEvaluator: Holder<ContinuousRiskEvaluator> | undefined = config.risk?.enabled === true ? createHolder(buildRisk(config)) : undefined;
  const risk: RiskEvaluator | undefined = riskEvaluator
    ? {
        assess: (ctx, principal, now) => riskEvaluator.current.assess(ctx, principal, now),
        record: (ctx, principal, now) => riskEvaluator.current.record(ctx, principal, now),
      }
    : undefined;

  const publicBaseUrl = parts.publicBaseUrl.current;
  const verification =
    didit !== undefined
      ? createVerificationGate(
          {
            store,
            didit,
            logger: logger.child({ component: 'verification' }),
            starter: parts.sessionStarter(didit),
            metrics: {
              startUrlIssued: () => metrics.stepUpStartsTotal.inc({ result: 'issued' }),
              backgroundFailure: () => metrics.stepUpStartsTotal.inc({ result: 'background_failed' }),
            },
          },
          {
            workflows: () => parts.workflows.current,
            callbackUrl: new URL('/verification/callback', publicBaseUrl).toString(),
            maxStepUps: config.didit.maxStepUps,
            ...(parts.tickets !== undefined ? { startUrl: { baseUrl: publicBaseUrl, tickets: parts.tickets } } : {}),
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
      observer: createDecisionObserver({ metrics, decisionLog: () => parts.decisionLog.current }, mode),
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
  const grpcOptions = {
    decider: engineFor('grpc'),
    logger: logger.child({ component: 'extauthz' }),
    renderOptions: render,
    allowCacheMaxEntries: config.caches.allows,
    maxMessageBytes: config.server.grpc.maxMessageBytes,
    decisionTimeoutMs: config.server.grpc.decisionTimeoutMs,
    ...(grpcTls?.peerAllowed ? { peerAllowed: grpcTls.peerAllowed } : {}),
  };
  const listeners: Record<string, number> = {};
  let grpcServer: Pick<ExtAuthzServer, 'listen' | 'setServing' | 'drain' | 'forgetRenderedAllows'>;
  if (config.server.grpc.transport === 'http2') {
    // Loaded only when chosen (bench/README.md "node:http2 transport"); same answers, health and TLS files.
    const { createH2CheckServer } = await import('../../extauthz/h2-check-server.js');
    const tlsOptions = (m: TlsMaterial) => ({ context: secureContextOptions(m), requestCert: m.ca !== undefined });
    const server = createH2CheckServer({ ...grpcOptions, ...(grpcTls ? { tls: tlsOptions(grpcTls.material) } : {}) });
    listeners.grpc = await server.listen(config.server.grpc.host, config.server.grpc.port);
    if (grpcTls) watchTls(grpcTls, (m) => server.setSecureContext(secureContextOptions(m)));
    grpcServer = server;
  } else {
    // grpc-js, too, is loaded only when chosen: an authz role on http2 never imports it (less RSS).
    const [{ createExtAuthzServer }, { ReloadableServerCredentials }] = await Promise.all([
      import('../../extauthz/ext-authz-server.js'),
      import('../../tls/reloadable-server-credentials.js'),
    ]);
    const grpcCredentials = grpcTls ? new ReloadableServerCredentials(grpcTls.material) : undefined;
    const server = createExtAuthzServer({ ...grpcOptions, ...(grpcCredentials ? { credentials: grpcCredentials } : {}) });
    listeners.grpc = await server.listen(config.server.grpc.host, config.server.grpc.port);
    if (grpcTls && grpcCredentials) watchTls(grpcTls, (m) => grpcCredentials.update(m));
    grpcServer = server;
  }

  let httpServer: HttpAuthzServer | undefined;
  if (config.server.httpAuthz.enabled) {
    // Loaded only when enabled: a gRPC-only authorizer (the usual Istio sidecar) never loads the HTTP
    // front end and what it pulls in (issue 15 §3, bench/README.md "Memory").
    const { createHttpAuthzServer } = await import('../../httpauthz/http-authz-server.js');
    const server = createHttpAuthzServer({
      decider: engineFor('http'),
      logger: logger.child({ component: 'httpauthz' }),
      pathPrefix: config.server.httpAuthz.pathPrefix,
      trustedProxies: createCidrSet(config.network.trustedProxies),
      render,
      // One deadline rule for both front ends (docs/policy-reference.md, "Deadlines").
      decisionTimeoutMs: config.server.grpc.decisionTimeoutMs,
      ...(httpTls
        ? { tls: { context: secureContextOptions(httpTls.material), requestCert: httpTls.material.ca !== undefined, ...(httpTls.peerAllowed ? { peerAllowed: httpTls.peerAllowed } : {}) } }
        : {}),
    });
    listeners.http = await server.listen(config.server.httpAuthz.host, config.server.httpAuthz.port);
    if (httpTls) watchTls(httpTls, (m) => server.setSecureContext(secureContextOptions(m)));
    httpServer = server;
  }

  return {
    listeners,
    closers,
    issuers: () => authenticator.current.status(),
    stopServing: () => grpcServer.setServing(false),
    drain: async (graceMs) => {
      await Promise.allSettled([grpcServer.drain(graceMs), httpServer?.close(graceMs)]);
    },
    prepareReload: async (next, applied) => {
      const nextRisk = riskEvaluator !== undefined && applied.some((s) => s === 'risk' || s === 'context') ? buildRisk(next) : undefined;
      let nextAuth: JwtAuthenticator | undefined;
      if (applied.includes('issuers')) {
        nextAuth = buildAuthenticator(next);
        await nextAuth.start();
      }
      return () => {
        grpcServer.forgetRenderedAllows();
        if (nextRisk !== undefined) riskEvaluator?.replace(nextRisk);
        httpServer?.setTrustedProxies(createCidrSet(next.network.trustedProxies));
        if (nextAuth !== undefined) {
          const old = authenticator.current;
          authenticator.replace(nextAuth);
          // Removed issuers stop verifying now (its token cache goes with it); the old key fetchers are
          // closed once decisions already holding it have finished.
          setTimeout(() => void old.close().catch(() => undefined), 5_000).unref();
        }
      };
    },
  };
}
