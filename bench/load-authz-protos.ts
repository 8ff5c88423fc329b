import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServiceDefinition } from '@grpc/grpc-js';
import { loadSync, type Options } from '@grpc/proto-loader';

/**
 * How idgate decoded its protos with @grpc/proto-loader before its gRPC front end built its service
 * definitions by hand (src/extauthz/grpc-service-definitions.ts): the bench's proto-loader ceiling
 * (noop-server.ts) still serves with these, and the hand codecs' tests compare against them.
 * - `keepCase: true` — field names exactly as in the .proto (`context_extensions`, `ok_response`); only
 *   `google.protobuf.Struct`/`Value` members stay camelCase (`stringValue`), because protobufjs bundles
 *   those definitions.
 * - `longs: String` — int64 (Timestamp seconds) as decimal strings, no Long objects.
 * - `enums: Number` — enums as their numbers (HTTP status 302, health status 1): no name lookups.
 * - `defaults: false` — absent fields stay `undefined`, so decoding allocates only what Envoy sent.
 * - `oneofs: true` — virtual oneof members are set (harmless, kept for readability in tests).
 */
export const PROTO_LOADER_OPTIONS: Readonly<Options> = Object.freeze({
  keepCase: true,
  longs: String,
  enums: Number,
  defaults: false,
  oneofs: true,
});

const MARKER = join('envoy', 'service', 'auth', 'v3', 'external_auth.proto');

/** The gRPC service definitions idgate serves, as proto-loader builds them from its .proto files. */
export interface AuthzProtos {
  /** `envoy.service.auth.v3.Authorization` (method `Check`). */
  readonly authorization: ServiceDefinition;
  /** `grpc.health.v1.Health` (methods `Check`, `Watch`). */
  readonly health: ServiceDefinition;
}

/**
 * Finds the project's `proto/` directory: the explicit one if given, else the first `proto/` holding the
 * ext_authz proto found walking up from this module (works from `src/` under a TS runner and from
 * `dist/src/` after a build, as long as `proto/` sits at the package root).
 * @throws Error naming the directories searched when none has the protos.
 */
export function findProtoDir(explicit?: string): string {
  if (explicit !== undefined) {
    const dir = resolve(explicit);
    if (!existsSync(join(dir, MARKER))) throw new Error(`proto directory ${dir} does not contain ${MARKER}`);
    return dir;
  }
  const tried: string[] = [];
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'proto');
    if (existsSync(join(candidate, MARKER))) return candidate;
    tried.push(candidate);
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new Error(`cannot find idgate's proto directory (tried ${tried.join(', ')})`);
}

/**
 * Loads `envoy.service.auth.v3.Authorization` and `grpc.health.v1.Health` from idgate's own protos
 * (see {@link PROTO_LOADER_OPTIONS}). Not used by idgate itself (runtime proto loading costs RSS).
 * @throws Error when the proto directory cannot be found or a proto fails to parse.
 */
export function loadAuthzProtos(protoDir?: string): AuthzProtos {
  const dir = findProtoDir(protoDir);
  const definition = loadSync(
    ['envoy/service/auth/v3/external_auth.proto', 'grpc/health/v1/health.proto'],
    { ...PROTO_LOADER_OPTIONS, includeDirs: [dir] },
  );
  const authorization = definition['envoy.service.auth.v3.Authorization'];
  const health = definition['grpc.health.v1.Health'];
  if (authorization === undefined || !('Check' in authorization) || health === undefined || !('Check' in health)) {
    throw new Error(`protos in ${dir} do not define the Authorization and Health services`);
  }
  return {
    authorization: authorization as ServiceDefinition,
    health: health as ServiceDefinition,
  };
}
