import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundledModules } from './support/bundle-modules.js';
import { testConfigYaml } from './support/config-yaml.js';
import { startIdgate } from './support/idgate-process.js';
import { startJwksServer, type JwksServer } from './support/jwks-server.js';
import { startRedis, type RedisServerHandle } from './support/redis-server.js';
import { createTestKey, jwksOf } from './support/tokens.js';

/**
 * Issue 15 §3 (memory): a process loads only the roles it runs. Each idgate process here — the shipped
 * bundle, dist/idgate/cli.js — is started with a module hook (support/log-loaded-modules.mjs) that records
 * every module URL it loads — static imports, dynamic import() and require() — and the test reads that list
 * once the process is `ready`, each chunk of the bundle read as the modules inside it (support/bundle-modules.ts).
 */
const HOOK = pathToFileURL(resolve(import.meta.dirname, 'support/log-loaded-modules.mjs')).href;
const DIDIT = {
  apiKey: 'role-modules-api-key',
  webhookSecret: 'role-modules-webhook-secret-0123456789',
  kycWorkflowId: '33333333-4444-4555-8666-000000000001',
  ageWorkflowId: '33333333-4444-4555-8666-000000000002',
};

/** Modules only the sandbox and webhook roles need. */
const OTHER_ROLES = [
  '/dist/src/sandbox/',
  '/dist/src/demo/',
  '/dist/src/webhook/',
  '/dist/src/verification/create-reconciler.js',
  '/dist/src/app/roles/start-sandbox-role.js',
  '/dist/src/app/roles/start-webhook-role.js',
];
/**
 * Runtime .proto loading: @grpc/proto-loader and the full protobufjs (its .proto parser, reflection), 7–9 MiB
 * of RSS. The gRPC front end builds its service definitions by hand; only `protobufjs/minimal` is used.
 */
const PROTO_LOADING = [
  '/node_modules/@grpc/proto-loader/',
  '/node_modules/protobufjs/index.js',
  '/node_modules/protobufjs/light.js',
  '/node_modules/protobufjs/src/index.js',
  '/node_modules/protobufjs/src/index-light.js',
  '/node_modules/protobufjs/src/parse.js',
  '/node_modules/protobufjs/src/root.js',
];
const PROTOBUF_MINIMAL = '/node_modules/protobufjs/src/index-minimal.js';
/**
 * npm undici's index: fetch, WebSocket, EventSource, cache, mock and proxy agents (110 modules, ~3 MiB RSS).
 * idgate uses its Agent and request only, loaded through http/undici-request. (The bundle's chunk also holds
 * the FormData helpers under lib/web/fetch/ that undici's request and HTTP/1 and HTTP/2 clients require()
 * inside a function, for a FormData body: a bundler includes what a require() names wherever it sits, but
 * they run only if called — idgate never sends FormData. fetch itself and the rest of lib/web/ are absent.)
 */
const UNDICI_INDEX = [
  '/node_modules/undici/index.js',
  '/node_modules/undici/lib/web/fetch/index.js',
  '/node_modules/undici/lib/web/websocket/',
  '/node_modules/undici/lib/web/eventsource/',
  '/node_modules/undici/lib/web/cache/',
  '/node_modules/undici/lib/web/cookies/',
  '/node_modules/undici/lib/mock/',
];
const UNDICI_AGENT = '/node_modules/undici/lib/dispatcher/agent.js';
/** jose's index (JWE, signing, key generation, remote JWKS: 46 modules); verification takes its subpaths. */
const JOSE_INDEX = '/node_modules/jose/dist/webapi/index.js';
const JOSE_VERIFY = '/node_modules/jose/dist/webapi/jwt/verify.js';
const REDIS = ['/node_modules/ioredis/', '/dist/src/store/redis-verdict-store.js', '/dist/src/store/create-verdict-store.js'];
/** Node's own bundled undici (fetch, WebSocket; ~14 MiB RSS), which no idgate server needs. */
const NODE_UNDICI = 'node:internal/deps/undici/';
/** The CEL library, loaded on the first compile of an expression (none in these configurations). */
const CEL = '/node_modules/@bufbuild/cel/';

let jwks: JwksServer;
let dir: string;
let redis: RedisServerHandle;

beforeAll(async () => {
  jwks = await startJwksServer({ keys: jwksOf(await createTestKey('ES256', 'k1')) });
  dir = mkdtempSync(join(tmpdir(), 'idgate-role-modules-'));
  redis = await startRedis();
}, 30_000);

afterAll(async () => {
  await jwks?.close();
  await redis?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Starts `idgate <command>` with the hook, waits for `ready`, stops it and returns the loaded module URLs. */
async function loadedBy(name: string, command: 'serve' | 'authz' | 'webhook', options: { redisUrl?: string; httpAuthzYaml?: string } = {}): Promise<string[]> {
  const log = join(dir, `${name}.modules`);
  const idgate = await startIdgate({
    command,
    configYaml: testConfigYaml({ issuer: jwks.url, jwksUri: jwks.jwksUrl, didit: DIDIT, ...options }),
    env: { NODE_OPTIONS: `--import ${HOOK}`, IDGATE_TEST_MODULE_LOG: log },
  });
  expect(await idgate.stop()).toBe(0);
  return bundledModules(readFileSync(log, 'utf8').split('\n').filter(Boolean));
}

const matching = (urls: readonly string[], parts: readonly string[]) => urls.filter((u) => parts.some((p) => u.includes(p)));

describe('each command loads only the roles it runs', () => {
  it('serve loads every role (the hook sees modules loaded by dynamic import)', async () => {
    const urls = await loadedBy('serve', 'serve');
    for (const part of ['/dist/src/sandbox/create-didit-sandbox.js', '/dist/src/webhook/webhook-server.js', '/dist/src/verification/create-reconciler.js', '/dist/src/app/roles/start-authz-role.js']) {
      expect(urls.some((u) => u.includes(part)), part).toBe(true);
    }
    expect(matching(urls, REDIS)).toEqual([]);
    expect(matching(urls, PROTO_LOADING)).toEqual([]);
  }, 60_000);

  it('authz on the memory store loads neither the sandbox, demo issuer, webhook server, reconciler nor the Redis client', async () => {
    const urls = await loadedBy('authz-memory', 'authz');
    expect(urls.some((u) => u.includes('/dist/src/extauthz/h2-check-server.js'))).toBe(true);
    // The grpc-js transport (and grpc-js itself) is loaded only when server.grpc.transport chooses it.
    expect(urls.some((u) => u.includes('/dist/src/extauthz/ext-authz-server.js'))).toBe(false);
    expect(matching(urls, ['/@grpc/grpc-js/'])).toEqual([]);
    expect(urls.some((u) => u.includes('/dist/src/httpauthz/http-authz-server.js'))).toBe(true);
    expect(matching(urls, OTHER_ROLES)).toEqual([]);
    expect(matching(urls, REDIS)).toEqual([]);
    // The JWKS fetch runs on undici's Agent, without the rest of the package.
    expect(urls.some((u) => u.includes(UNDICI_AGENT))).toBe(true);
    expect(matching(urls, UNDICI_INDEX)).toEqual([]);
    // JWT verification takes jose's jwt/verify and jwks/local entry points, not its index.
    expect(urls.some((u) => u.includes(JOSE_VERIFY))).toBe(true);
    expect(matching(urls, [JOSE_INDEX])).toEqual([]);
    expect(matching(urls, [NODE_UNDICI, CEL])).toEqual([]);
  }, 60_000);

  it('authz serves gRPC without loading .proto files: no @grpc/proto-loader, no full protobufjs, only protobufjs/minimal', async () => {
    const urls = await loadedBy('authz-protos', 'authz', { httpAuthzYaml: 'enabled: false' });
    expect(urls.some((u) => u.includes('/dist/src/extauthz/h2-check-server.js'))).toBe(true);
    // The hook sees protobufjs's CommonJS modules: the hand codecs' protobufjs/minimal is there.
    expect(urls.some((u) => u.includes(PROTOBUF_MINIMAL))).toBe(true);
    expect(matching(urls, PROTO_LOADING)).toEqual([]);
  }, 60_000);

  it('authz with the HTTP mode disabled (gRPC only) does not load the HTTP front end', async () => {
    const urls = await loadedBy('authz-grpc-only', 'authz', { httpAuthzYaml: 'enabled: false' });
    expect(urls.some((u) => u.includes('/dist/src/extauthz/h2-check-server.js'))).toBe(true);
    expect(matching(urls, ['/dist/src/httpauthz/'])).toEqual([]);
  }, 60_000);

  it('authz on the Redis store loads the Redis client, still no other role', async () => {
    const urls = await loadedBy('authz-redis', 'authz', { redisUrl: redis.url });
    expect(urls.some((u) => u.includes('/node_modules/ioredis/'))).toBe(true);
    expect(matching(urls, OTHER_ROLES)).toEqual([]);
  }, 60_000);

  it('webhook loads the webhook server and reconciler but not the gRPC front end', async () => {
    const urls = await loadedBy('webhook', 'webhook');
    expect(urls.some((u) => u.includes('/dist/src/webhook/webhook-server.js'))).toBe(true);
    expect(matching(urls, ['/dist/src/extauthz/', '/dist/src/httpauthz/', '/dist/src/sandbox/', '/dist/src/demo/'])).toEqual([]);
    expect(matching(urls, PROTO_LOADING)).toEqual([]);
    // The Didit client runs on undici's Agent, without the rest of the package.
    expect(urls.some((u) => u.includes(UNDICI_AGENT))).toBe(true);
    expect(matching(urls, UNDICI_INDEX)).toEqual([]);
    expect(matching(urls, [NODE_UNDICI, CEL])).toEqual([]);
  }, 60_000);
});

describe("Node's bundled undici (fetch, WebSocket) stays unloaded", () => {
  // An ESM value import of node:http reads its lazy WebSocket getter, which loads Node's own undici
  // (~14 MiB RSS, bench/README.md "Memory"): idgate's servers take createServer from http/create-http-server.
  const loadsBundledUndici = (modules: readonly string[]): boolean => {
    const script = `${modules.map((m) => `await import(${JSON.stringify(pathToFileURL(resolve(import.meta.dirname, '..', m)).href)});`).join('')}
      process.stdout.write(String(process.moduleLoadList.some((m) => m.includes('deps/undici'))));`;
    return execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }) === 'true';
  };

  it('is loaded by an ESM import of node:http (the probe can see it)', () => {
    const script = "import { createServer } from 'node:http'; process.stdout.write(String(process.moduleLoadList.some((m) => m.includes('deps/undici'))));";
    expect(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })).toBe('true');
  });

  it('is not loaded by the authz role, the admin server or the webhook server', () => {
    expect(
      loadsBundledUndici(['dist/src/app/roles/start-authz-role.js', 'dist/src/observability/admin-server.js', 'dist/src/webhook/webhook-server.js', 'dist/src/http/create-http-server.js']),
    ).toBe(false);
  });
});
