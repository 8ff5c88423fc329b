#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { installProcessGuard } from './app/install-process-guard.js';
import { releaseStartupMemory } from './app/release-startup-memory.js';
import { ClusterConfigError, isClusterWorker, runPrimary, runWorker } from './app/run-cluster.js';
import { startIdgate, type Roles } from './app/start-idgate.js';
import { ConfigError } from './config/config-error.js';
import { configJsonSchema, tenantFileJsonSchema } from './config/config-json-schema.js';
import { configWarnings } from './config/config-warnings.js';
import { loadConfig } from './config/load-config.js';
import { tenantLoadErrors } from './config/resolve-tenants.js';
import { didYouMean } from './core/suggest.js';
import type { IdgateConfig } from './config/types.js';
import { createLogger } from './observability/create-logger.js';
import { traceLogFields } from './tracing/tracing.js';

const USAGE = `idgate — zero-trust identity gate for Envoy and Istio

Usage:
  idgate serve    --config FILE [--workers N]
                                    run every role in one process (gRPC ext_authz, HTTP authz,
                                    webhooks, admin; plus the sandbox in didit.mode: sandbox);
                                    --workers N runs the authorization roles in N processes
                                    sharing the ports (needs store.type: redis)
  idgate authz    --config FILE [--workers N]
                                    run the authorization roles only (gRPC :9191, HTTP :9192, admin :9090)
  idgate webhook  --config FILE     run the public role only (Didit webhooks and callback :8080, admin :9090)
  idgate validate FILE              check a config file; exit 0 when valid, 1 with every problem listed
  idgate explain  --config FILE --request REQ.json [--token JWT | --claims CLAIMS.json]
                  [--risk '{"signals":["new_device"]}'] [--json]
                                    evaluate one request offline and print the decision and its trace
                                    (conditions, risk bands and the signals that fired); exit 0 allow,
                                    4 deny, 5 needs verification (1 bad input) — for CI gates
  idgate policy test FILE|DIR… [--junit FILE] [--format text|json]
                                    run YAML policy suites (request, claims, clock → expected outcome);
                                    exit 0 all pass, 1 any failure, 2 unusable suite or config
  idgate policy diff --from OLD.yaml --to NEW.yaml [--replay LOG]… [--allow-loosening]
                  [--format text|json]
                                    what got stricter or looser per route; with --replay, re-evaluate
                                    decision-log replay records under both and list changed decisions;
                                    exit 0 ok, 1 anything loosened (unless --allow-loosening), 2 bad input
  idgate schema [--tenant]          print the config's JSON Schema (draft 2020-12) for editors and CI
                                    (the same as schema/idgate.schema.json for this version); --tenant:
                                    a tenant policy file's (schema/idgate-tenant.schema.json)
  idgate sandbox  [--port 8099] [--webhook-url URL] [--api-key KEY] [--webhook-secret SECRET]
                                    run only the local Didit look-alike
  idgate version | --version        print the version
  idgate help | --help              this text

Docs: README.md, docs/policy-reference.md, docs/deployment.md`;

const COMMANDS = ['serve', 'authz', 'webhook', 'validate', 'explain', 'policy', 'schema', 'sandbox', 'version', 'help'];

/**
 * Exit codes: 0 ok, 1 invalid input (config, request), 2 usage error, 3 runtime failure;
 * `explain` also 4 (the request would be denied) and 5 (it needs a verification first);
 * `policy test` 1 for a failing case and 2 for an unusable suite; `policy diff` 1 for a loosening and 2
 * for an unusable config or log.
 */
async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return runServer(rest, { authz: true, webhook: true, sandbox: true });
    case 'authz':
      return runServer(rest, { authz: true, webhook: false, sandbox: false });
    case 'webhook':
      return runServer(rest, { authz: false, webhook: true, sandbox: false });
    case 'validate':
      return runValidate(rest);
    case 'explain':
      return runExplainCommand(rest);
    case 'policy':
      return runPolicyCommand(rest);
    case 'schema':
      return runSchema(rest);
    case 'sandbox':
      return runSandbox(rest);
    case 'version':
    case '--version':
    case '-v':
      process.stdout.write(`idgate ${version()}\n`);
      return 0;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`${USAGE}\n`);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`idgate: unknown command "${command.slice(0, 64)}"${didYouMean(command.replace(/^-+/, ''), COMMANDS)}\n\n${USAGE}\n`);
      return 2;
  }
}

function parse(args: string[], options: NonNullable<ParseArgsConfig['options']>) {
  return parseArgs({ args, options, allowPositionals: true, strict: true });
}

/** Loads a config, printing every problem (with file:line:col) on failure. */
async function load(path: string | undefined): Promise<IdgateConfig | undefined> {
  if (!path) {
    process.stderr.write('idgate: --config FILE is required (try examples/idgate.yaml)\n');
    return undefined;
  }
  try {
    return await loadConfig(path, { env: process.env });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
    } else if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      process.stderr.write(`idgate: config file not found: ${path}\n`);
    } else {
      process.stderr.write(`idgate: cannot read config ${path}: ${(err as Error).message}\n`);
    }
    return undefined;
  }
}

async function runServer(args: string[], roles: Roles): Promise<number> {
  const { values } = parse(args, { config: { type: 'string', short: 'c' }, workers: { type: 'string', short: 'w' } });
  const configPath = values.config as string | undefined;
  const workers = Number(values.workers ?? '1');
  if (!Number.isInteger(workers) || workers < 1 || workers > 64) {
    process.stderr.write('idgate: --workers must be a whole number from 1 to 64\n');
    return 2;
  }
  if (workers > 1 && !roles.authz) {
    process.stderr.write('idgate: --workers applies to the authorization roles (serve, authz)\n');
    return 2;
  }
  const config = await load(configPath);
  if (!config || !configPath) return 1;
  const logger = createLogger({
    level: config.logging.level,
    ...(isClusterWorker() ? { base: { pid: process.pid, worker: true } } : {}),
    // Log lines written inside a traced Check carry its traceId/spanId; no mixin at all when tracing is off.
    ...(config.tracing.enabled ? { mixin: traceLogFields } : {}),
  });
  // One request must never exit the process (issue 18): log what escapes every handler, keep serving.
  installProcessGuard(logger);
  let running;
  try {
    const deps = { logger, configPath, env: process.env };
    running = isClusterWorker()
      ? await runWorker(deps, config)
      : workers > 1
        ? await runPrimary(deps, config, roles, workers)
        : await startIdgate(deps, config, roles);
  } catch (err) {
    if (err instanceof ClusterConfigError) {
      process.stderr.write(`idgate: ${err.message}\n`);
      return 1;
    }
    const e = err as NodeJS.ErrnoException & { port?: number };
    const hint = e.code === 'EADDRINUSE' ? ` (another process uses that port; change ${portKeys(config, e.port)} in ${configPath})` : '';
    logger.fatal({ err }, `idgate failed to start${hint}`);
    await flush(logger);
    // Roles that did start (gRPC, HTTP) still hold their sockets and would keep a half-started process alive.
    process.exit(3);
  }
  // Started: return the memory startup grew into (one short pause; bench/README.md, issue 15 §3).
  const pauseMs = releaseStartupMemory();
  if (pauseMs !== undefined) logger.debug({ pauseMs: Math.round(pauseMs) }, 'startup memory released');
  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      logger.info({ signal }, 'signal received');
      resolve();
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
  await running.stop();
  await flush(logger);
  return 0;
}

async function runValidate(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { config: { type: 'string', short: 'c' } });
  const path = (values.config as string | undefined) ?? positionals[0];
  if (!path) {
    process.stderr.write('idgate validate: FILE is required — usage: idgate validate FILE (e.g. idgate validate examples/idgate.yaml)\n');
    return 2;
  }
  const config = await load(path);
  if (!config) return 1;
  // A tenant whose files failed does not stop `idgate serve` (the others serve), but it is not valid.
  const tenantErrors = tenantLoadErrors(config);
  if (tenantErrors.length > 0) {
    process.stderr.write(`${tenantErrors.join('\n')}\n${path}: invalid — ${config.policy.tenants.filter((t) => t.status !== 'ok').length} tenant(s) failed to load\n`);
    return 1;
  }
  const routes = config.policy.routes.length;
  // Valid but risky: reported, still exit 0.
  for (const w of configWarnings(config)) process.stderr.write(`${path}: warning: ${w.path} ${w.message}\n`);
  process.stdout.write(
    `${path}: valid — ${config.issuers.length} issuer(s), ${routes} route(s), ${orgSummary(config)}${Object.keys(config.workflows).length} workflow(s), store ${config.store.type}, didit ${config.didit.mode}\n`,
  );
  return 0;
}

/** `2 guardrail(s), 3 tenant(s) (9 tenant route(s)), ` for an org-wide policy; empty for a single-file one. */
function orgSummary(config: IdgateConfig): string {
  const { guardrails, tenants } = config.policy;
  if (guardrails.length === 0 && tenants.length === 0) return '';
  const tenantRoutes = tenants.reduce((n, t) => n + t.routes.length, 0);
  return `${guardrails.length} guardrail(s), ${tenants.length} tenant(s) (${tenantRoutes} tenant route(s)), `;
}

function runSchema(args: string[]): number {
  const tenant = args.length === 1 && args[0] === '--tenant';
  if (args.length > 0 && !tenant) {
    process.stderr.write('idgate schema: takes no arguments but --tenant — usage: idgate schema > idgate.schema.json, idgate schema --tenant > idgate-tenant.schema.json\n');
    return 2;
  }
  process.stdout.write(`${JSON.stringify(tenant ? tenantFileJsonSchema() : configJsonSchema(), null, 2)}\n`);
  return 0;
}

async function runExplainCommand(args: string[]): Promise<number> {
  const { values } = parse(args, {
    config: { type: 'string', short: 'c' },
    request: { type: 'string', short: 'r' },
    token: { type: 'string' },
    claims: { type: 'string' },
    risk: { type: 'string' },
    json: { type: 'boolean' },
  });
  const config = await load(values.config as string | undefined);
  if (!config) return 1;
  if (!values.request) {
    process.stderr.write('idgate explain: --request REQ.json is required (see examples/requests/)\n');
    return 2;
  }
  let request: unknown;
  let claims: unknown;
  let risk: unknown;
  try {
    request = JSON.parse(await readFile(values.request as string, 'utf8'));
    if (values.claims) claims = JSON.parse(await readFile(values.claims as string, 'utf8'));
    if (values.risk) risk = JSON.parse(values.risk as string);
  } catch (err) {
    process.stderr.write(`idgate explain: cannot read input: ${(err as Error).message}\n`);
    return 1;
  }
  const logger = createLogger({ level: 'silent' });
  // Loaded here, not at the top: the server commands never load what only `explain` uses.
  const { runExplain } = await import('./app/run-explain.js');
  const result = await runExplain({ logger }, config, {
    request,
    ...(values.token ? { token: values.token as string } : {}),
    ...(claims !== undefined ? { claims } : {}),
    ...(risk !== undefined ? { risk } : {}),
  });
  process.stdout.write(values.json ? `${JSON.stringify(result.json, null, 2)}\n` : result.text);
  return result.exitCode;
}

const POLICY_SUBCOMMANDS = ['test', 'diff'];

async function runPolicyCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'diff') return runPolicyDiffCommand(rest);
  if (sub !== 'test') {
    const what = sub === undefined ? 'a subcommand is required' : `unknown subcommand "${sub.slice(0, 64)}"${didYouMean(sub, POLICY_SUBCOMMANDS)}`;
    process.stderr.write(`idgate policy: ${what} — usage: idgate policy test FILE|DIR… [--junit FILE] [--format text|json] | idgate policy diff --from OLD --to NEW [--replay LOG]…\n`);
    return 2;
  }
  const { values, positionals } = parse(rest, { junit: { type: 'string' }, format: { type: 'string' } });
  const format = (values.format as string | undefined) ?? 'text';
  if (format !== 'text' && format !== 'json') {
    process.stderr.write(`idgate policy test: --format must be text or json${didYouMean(format, ['text', 'json'])}\n`);
    return 2;
  }
  if (positionals.length === 0) {
    process.stderr.write('idgate policy test: FILE|DIR is required (e.g. idgate policy test examples/policy-tests)\n');
    return 2;
  }
  // Loaded here, not at the top: the server commands never load what only `policy test` uses.
  const { renderJunit, renderPolicyTestText, runPolicyTest } = await import('./app/run-policy-test.js');
  const result = await runPolicyTest({ logger: createLogger({ level: 'silent' }) }, positionals);
  if (result.errors.length > 0) {
    process.stderr.write(`idgate policy test: unusable input\n${result.errors.join('\n')}\n`);
    return 2;
  }
  if (values.junit) {
    try {
      await writeFile(values.junit as string, renderJunit(result));
    } catch (err) {
      process.stderr.write(`idgate policy test: cannot write ${String(values.junit)}: ${(err as Error).message}\n`);
      return 2;
    }
  }
  process.stdout.write(format === 'json' ? `${JSON.stringify(result, null, 2)}\n` : renderPolicyTestText(result));
  return result.suites.every((s) => s.cases.every((c) => c.passed)) ? 0 : 1;
}

async function runPolicyDiffCommand(args: string[]): Promise<number> {
  const usage = 'usage: idgate policy diff --from OLD.yaml --to NEW.yaml [--replay LOG]… [--allow-loosening] [--format text|json]';
  let values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args,
      options: {
        from: { type: 'string' },
        to: { type: 'string' },
        replay: { type: 'string', multiple: true },
        'allow-loosening': { type: 'boolean' },
        format: { type: 'string' },
      },
      // `--replay a.log b.log`: the words after the options are more logs to replay.
      allowPositionals: true,
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`idgate policy diff: ${(err as Error).message} — ${usage}\n`);
    return 2;
  }
  const format = values.format ?? 'text';
  if (format !== 'text' && format !== 'json') {
    process.stderr.write(`idgate policy diff: --format must be text or json${didYouMean(format, ['text', 'json'])}\n`);
    return 2;
  }
  if (values.from === undefined || values.to === undefined) {
    process.stderr.write(`idgate policy diff: --from and --to are required — ${usage}\n`);
    return 2;
  }
  if (positionals.length > 0 && values.replay === undefined) {
    process.stderr.write(`idgate policy diff: unexpected argument "${(positionals[0] ?? '').slice(0, 64)}" — ${usage}\n`);
    return 2;
  }
  // Loaded here, not at the top: the server commands never load what only `policy diff` uses.
  const { renderPolicyDiffText, runPolicyDiff } = await import('./app/run-policy-diff.js');
  const allowLoosening = values['allow-loosening'] === true;
  const result = await runPolicyDiff({ from: values.from, to: values.to, replay: [...(values.replay ?? []), ...positionals], allowLoosening, env: process.env });
  if (format === 'json') process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else (result.exitCode === 2 ? process.stderr : process.stdout).write(renderPolicyDiffText(result, allowLoosening));
  return result.exitCode;
}

async function runSandbox(args: string[]): Promise<number> {
  const { values } = parse(args, {
    port: { type: 'string', short: 'p' },
    host: { type: 'string' },
    'webhook-url': { type: 'string' },
    'api-key': { type: 'string' },
    'webhook-secret': { type: 'string' },
  });
  const port = Number(values.port ?? '8099');
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write('idgate sandbox: --port must be 0-65535\n');
    return 2;
  }
  const logger = createLogger({ level: 'info' });
  const { createDiditSandbox } = await import('./sandbox/create-didit-sandbox.js');
  const sandbox = createDiditSandbox({
    logger,
    host: (values.host as string | undefined) ?? '127.0.0.1',
    port,
    apiKey: (values['api-key'] as string | undefined) ?? process.env.IDGATE_DIDIT_API_KEY ?? 'sandbox-api-key',
    webhookSecret:
      (values['webhook-secret'] as string | undefined) ?? process.env.IDGATE_DIDIT_WEBHOOK_SECRET ?? 'sandbox-webhook-secret',
    ...(values['webhook-url'] ? { webhookUrl: values['webhook-url'] as string } : {}),
  });
  const bound = await sandbox.listen();
  logger.info({ role: 'sandbox', port: bound }, 'listening');
  logger.info('ready');
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
  });
  await sandbox.close();
  return 0;
}

/** The config key(s) that set `port`, for a port-clash message; a generic phrase when unknown. */
function portKeys(config: IdgateConfig, port: number | undefined): string {
  const s = config.server;
  const keys: [string, number | undefined][] = [
    ['server.grpc.port', s.grpc.port],
    ['server.httpAuthz.port', s.httpAuthz.enabled ? s.httpAuthz.port : undefined],
    ['server.public.port', s.public.port],
    ['server.admin.port', s.admin.port],
    ['didit.sandboxPort', config.didit.mode === 'sandbox' ? config.didit.sandboxPort : undefined],
    ['demoIssuer.port', config.demoIssuer?.port],
  ];
  const found = keys.filter(([, p]) => p !== undefined && p !== 0 && p === port).map(([k]) => k);
  return found.length > 0 ? found.join(' or ') : 'the port';
}

/** The version in package.json (next to dist/ in the repository and the image). */
function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

function flush(logger: ReturnType<typeof createLogger>): Promise<void> {
  return new Promise((resolve) => logger.flush(() => resolve()));
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`idgate: unexpected failure: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exitCode = 3;
  },
);
