import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import protobuf from 'protobufjs';

/** One problem found in a config document: where (a JSON-ish path) and what. */
export interface SchemaIssue {
  readonly path: string;
  readonly message: string;
}

/** A message-typed object met during a walk, for semantic checks that need to know what an object is. */
export interface VisitedMessage {
  /** Fully qualified proto type name without the leading dot, e.g. `envoy.config.cluster.v3.Cluster`. */
  readonly type: string;
  readonly path: string;
  readonly value: Readonly<Record<string, unknown>>;
}

/** Result of walking a document against a proto message type. */
export interface WalkResult {
  readonly issues: readonly SchemaIssue[];
  readonly visited: readonly VisitedMessage[];
}

/**
 * Validator of Envoy YAML/JSON configuration against the upstream v3 protos.
 * `walk` checks a parsed document against a message type following the proto3 JSON mapping that Envoy
 * applies to YAML (snake_case or json names, Duration strings, bare wrapper values, `@type`-resolved Any).
 */
export interface EnvoySchema {
  walk(value: unknown, typeName: string): WalkResult;
  /** Whether a fully qualified message type can be found and loaded. */
  hasType(typeName: string): boolean;
}

/** Options of {@link createEnvoySchema}. */
export interface EnvoySchemaOptions {
  /** Directory holding `envoy-api`, `googleapis`, `protoc-gen-validate` and `xds` (default: grpc-js-xds's deps). */
  readonly depsDir?: string;
  /** Directory holding protobufjs's own `google/protobuf/*.proto` (default: node_modules/protobufjs). */
  readonly protobufjsDir?: string;
}

const TYPE_URL_PREFIX = 'type.googleapis.com/';

const WRAPPERS: Readonly<Record<string, string>> = {
  'google.protobuf.DoubleValue': 'double',
  'google.protobuf.FloatValue': 'float',
  'google.protobuf.Int64Value': 'int64',
  'google.protobuf.UInt64Value': 'uint64',
  'google.protobuf.Int32Value': 'int32',
  'google.protobuf.UInt32Value': 'uint32',
  'google.protobuf.BoolValue': 'bool',
  'google.protobuf.StringValue': 'string',
  'google.protobuf.BytesValue': 'bytes',
};

const DURATION_RE = /^-?\d+(\.\d{1,9})?s$/;
const TIMESTAMP_RE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/;
const INTEGER_STRING_RE = /^-?\d+$/;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${JSON.stringify(value)}`;
}

function childPath(path: string, key: string): string {
  if (/^[A-Za-z_@][\w@]*$/.test(key)) return path === '' ? key : `${path}.${key}`;
  return `${path}[${JSON.stringify(key)}]`;
}

/** Maps every top-level message/enum name of every proto file under the roots to the file defining it. */
function indexProtoFiles(roots: readonly string[]): Map<string, string> {
  const index = new Map<string, string>();
  const walkDir = (root: string, dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) {
        walkDir(root, full);
      } else if (entry.name.endsWith('.proto')) {
        const text = readFileSync(full, 'utf8');
        const pkg = /^package\s+([\w.]+)\s*;/m.exec(text)?.[1];
        if (pkg === undefined) continue;
        const rel = relative(root, full);
        for (const m of text.matchAll(/^(?:message|enum)\s+(\w+)\s*\{/gm)) {
          const name = `${pkg}.${m[1] ?? ''}`;
          if (!index.has(name)) index.set(name, rel);
        }
      }
    }
  };
  for (const root of roots) {
    if (existsSync(root)) walkDir(root, root);
  }
  return index;
}

/**
 * Builds a validator over the upstream Envoy protos. Proto files are loaded lazily: the type named by a
 * root type or an `@type` URL is looked up in an index (package + top-level name → file) and only that
 * file and its imports are parsed. Throws if the proto directories are missing.
 */
export function createEnvoySchema(options: EnvoySchemaOptions = {}): EnvoySchema {
  const depsDir = resolve(options.depsDir ?? 'node_modules/@grpc/grpc-js-xds/deps');
  const pbDir = resolve(options.protobufjsDir ?? 'node_modules/protobufjs');
  const roots = ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((r) => join(depsDir, r));
  if (!existsSync(roots[0] ?? '')) throw new Error(`Envoy protos not found under ${depsDir}`);
  const searchRoots = [pbDir, ...roots];
  const index = indexProtoFiles(roots);
  const root = new protobuf.Root();
  root.resolvePath = (_origin: string, target: string): string => {
    for (const dir of searchRoots) {
      const candidate = join(dir, target);
      if (existsSync(candidate)) return candidate;
    }
    return target;
  };
  const loaded = new Set<string>();

  const findType = (typeName: string): protobuf.Type | protobuf.Enum | undefined => {
    const dotted = `.${typeName}`;
    const existing = root.lookup(dotted);
    if (existing instanceof protobuf.Type || existing instanceof protobuf.Enum) return existing;
    // Nested types live in the file of their outermost message: strip trailing components until indexed.
    const parts = typeName.split('.');
    for (let n = parts.length; n > 1; n--) {
      const file = index.get(parts.slice(0, n).join('.'));
      if (file === undefined) continue;
      if (!loaded.has(file)) {
        loaded.add(file);
        root.loadSync(file, { keepCase: true });
        root.resolveAll();
      }
      const found = root.lookup(dotted);
      return found instanceof protobuf.Type || found instanceof protobuf.Enum ? found : undefined;
    }
    return undefined;
  };

  const walk = (value: unknown, typeName: string): WalkResult => {
    const issues: SchemaIssue[] = [];
    const visited: VisitedMessage[] = [];
    const report = (path: string, message: string): void => {
      issues.push({ path: path === '' ? '(root)' : path, message });
    };

    const checkScalar = (v: unknown, type: string, path: string): void => {
      switch (type) {
        case 'string':
          if (typeof v !== 'string') report(path, `expected a string, got ${describe(v)}`);
          return;
        case 'bytes':
          if (typeof v !== 'string') report(path, `expected base64 bytes, got ${describe(v)}`);
          return;
        case 'bool':
          if (typeof v !== 'boolean') report(path, `expected a boolean, got ${describe(v)}`);
          return;
        case 'double':
        case 'float':
          if (typeof v !== 'number' && !(typeof v === 'string' && !Number.isNaN(Number(v)))) {
            report(path, `expected a number, got ${describe(v)}`);
          }
          return;
        case 'int32':
        case 'sint32':
        case 'sfixed32':
        case 'int64':
        case 'sint64':
        case 'sfixed64':
        case 'uint32':
        case 'fixed32':
        case 'uint64':
        case 'fixed64': {
          const ok =
            (typeof v === 'number' && Number.isInteger(v)) ||
            (typeof v === 'string' && INTEGER_STRING_RE.test(v));
          if (!ok) {
            report(path, `expected an integer (${type}), got ${describe(v)}`);
          } else if (type.startsWith('uint') || type.startsWith('fixed')) {
            if (Number(v) < 0) report(path, `expected a non-negative integer (${type}), got ${String(v)}`);
          }
          return;
        }
        default:
          report(path, `unsupported scalar type ${type}`);
      }
    };

    const checkRules = (field: protobuf.Field | protobuf.MapField, v: unknown, path: string): void => {
      const opts = field.options ?? {};
      const minLen = opts['(validate.rules).string.min_len'];
      if (typeof minLen === 'number' && typeof v === 'string' && v.length < minLen) {
        report(path, `must be at least ${minLen} character(s)`);
      }
      for (const kind of ['uint32', 'int32', 'uint64', 'int64', 'double'] as const) {
        const num = typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : Number.NaN;
        if (Number.isNaN(num)) continue;
        const gt = opts[`(validate.rules).${kind}.gt`];
        const gte = opts[`(validate.rules).${kind}.gte`];
        const lt = opts[`(validate.rules).${kind}.lt`];
        const lte = opts[`(validate.rules).${kind}.lte`];
        if (typeof gt === 'number' && !(num > gt)) report(path, `must be > ${gt}`);
        if (typeof gte === 'number' && !(num >= gte)) report(path, `must be >= ${gte}`);
        if (typeof lt === 'number' && !(num < lt)) report(path, `must be < ${lt}`);
        if (typeof lte === 'number' && !(num <= lte)) report(path, `must be <= ${lte}`);
      }
    };

    const checkValueOfType = (
      v: unknown,
      field: protobuf.Field | protobuf.MapField,
      path: string,
    ): void => {
      const resolved = field.resolvedType;
      if (resolved instanceof protobuf.Enum) {
        const names = Object.keys(resolved.values);
        const numbers = Object.values(resolved.values);
        const ok =
          (typeof v === 'string' && names.includes(v)) || (typeof v === 'number' && numbers.includes(v));
        if (!ok) {
          report(path, `invalid value ${describe(v)} for enum ${resolved.fullName.slice(1)} (one of ${names.join(', ')})`);
        }
        return;
      }
      if (resolved instanceof protobuf.Type) {
        checkMessage(v, resolved, path);
        return;
      }
      checkScalar(v, field.type, path);
      checkRules(field, v, path);
    };

    const checkAny = (v: unknown, path: string): void => {
      if (!isPlainObject(v)) {
        report(path, `expected an object with "@type", got ${describe(v)}`);
        return;
      }
      const url = v['@type'];
      if (typeof url !== 'string') {
        report(path, 'missing "@type" in google.protobuf.Any');
        return;
      }
      const slash = url.lastIndexOf('/');
      const target = slash >= 0 ? url.slice(slash + 1) : url;
      if (slash < 0 || !url.startsWith(TYPE_URL_PREFIX)) {
        report(childPath(path, '@type'), `type URL "${url}" must start with ${TYPE_URL_PREFIX}`);
      }
      const type = findType(target);
      if (!(type instanceof protobuf.Type)) {
        report(childPath(path, '@type'), `unknown type "${url}" (no such message in the Envoy/xds protos)`);
        return;
      }
      const fullName = type.fullName.slice(1);
      if (isSpecialJson(fullName)) {
        // Well-known types with a special JSON form carry it under "value" inside an Any.
        const rest = Object.keys(v).filter((k) => k !== '@type' && k !== 'value');
        for (const k of rest) report(childPath(path, k), `unknown field "${k}" in ${fullName}`);
        checkMessage(v['value'], type, childPath(path, 'value'));
        return;
      }
      const body: Record<string, unknown> = {};
      for (const [k, val] of Object.entries(v)) if (k !== '@type') body[k] = val;
      checkMessage(body, type, path);
    };

    const checkMessage = (v: unknown, type: protobuf.Type, path: string): void => {
      const fullName = type.fullName.slice(1);
      const wrapped = WRAPPERS[fullName];
      if (wrapped !== undefined) {
        if (isPlainObject(v)) {
          report(path, `${fullName} is written as a bare ${wrapped} value, not an object`);
        } else {
          checkScalar(v, wrapped, path);
        }
        return;
      }
      switch (fullName) {
        case 'google.protobuf.Duration':
          if (typeof v !== 'string' || !DURATION_RE.test(v)) {
            report(path, `expected a duration like "0.25s", got ${describe(v)}`);
          }
          return;
        case 'google.protobuf.Timestamp':
          if (typeof v !== 'string' || !TIMESTAMP_RE.test(v)) {
            report(path, `expected an RFC 3339 timestamp, got ${describe(v)}`);
          }
          return;
        case 'google.protobuf.FieldMask':
          if (typeof v !== 'string') report(path, `expected a field mask string, got ${describe(v)}`);
          return;
        case 'google.protobuf.Struct':
          if (!isPlainObject(v)) report(path, `expected an object (Struct), got ${describe(v)}`);
          return;
        case 'google.protobuf.Value':
          return;
        case 'google.protobuf.ListValue':
          if (!Array.isArray(v)) report(path, `expected a list (ListValue), got ${describe(v)}`);
          return;
        case 'google.protobuf.Any':
          checkAny(v, path);
          return;
        default:
          break;
      }
      if (!isPlainObject(v)) {
        report(path, `expected an object (${fullName}), got ${describe(v)}`);
        return;
      }
      visited.push({ type: fullName, path, value: v });
      const byName = new Map<string, protobuf.Field>();
      for (const field of type.fieldsArray) {
        byName.set(field.name, field);
        byName.set(jsonName(field), field);
      }
      const present = new Set<protobuf.Field>();
      for (const [key, val] of Object.entries(v)) {
        const p = childPath(path, key);
        const field = byName.get(key);
        if (field === undefined) {
          report(p, `unknown field "${key}" in ${fullName}`);
          continue;
        }
        if (val === null) continue;
        present.add(field);
        if (field instanceof protobuf.MapField) {
          if (!isPlainObject(val)) {
            report(p, `expected a map (object), got ${describe(val)}`);
            continue;
          }
          for (const [mk, mv] of Object.entries(val)) {
            if (field.keyType !== 'string' && field.keyType !== 'bool' && !INTEGER_STRING_RE.test(mk)) {
              report(childPath(p, mk), `map key must be an integer (${field.keyType})`);
            }
            checkValueOfType(mv, field, childPath(p, mk));
          }
        } else if (field.repeated) {
          if (!Array.isArray(val)) {
            report(p, `expected a list (repeated ${field.type}), got ${describe(val)}`);
            continue;
          }
          const minItems = field.options?.['(validate.rules).repeated.min_items'];
          if (typeof minItems === 'number' && val.length < minItems) {
            report(p, `must have at least ${minItems} item(s)`);
          }
          val.forEach((item, i) => checkValueOfType(item, field, `${p}[${i}]`));
        } else {
          if (Array.isArray(val) && !isListValue(field)) {
            report(p, `expected a single ${field.type}, got a list`);
            continue;
          }
          checkValueOfType(val, field, p);
        }
      }
      for (const field of type.fieldsArray) {
        if (present.has(field)) continue;
        const opts = field.options ?? {};
        if (
          opts['(validate.rules).message.required'] === true ||
          opts['(validate.rules).duration.required'] === true ||
          opts['(validate.rules).any.required'] === true ||
          (typeof opts['(validate.rules).string.min_len'] === 'number' && opts['(validate.rules).string.min_len'] > 0) ||
          (typeof opts['(validate.rules).repeated.min_items'] === 'number' && opts['(validate.rules).repeated.min_items'] > 0)
        ) {
          if (field.partOf === null) report(childPath(path, field.name), `required field "${field.name}" of ${fullName} is missing`);
        }
      }
      for (const oneof of type.oneofsArray) {
        const set = oneof.fieldsArray.filter((f) => present.has(f));
        if (set.length > 1) {
          report(path, `oneof "${oneof.name}" of ${fullName} allows one member, got ${set.map((f) => f.name).join(' and ')}`);
        }
        if (set.length === 0 && oneof.options?.['(validate.required)'] === true) {
          report(path, `one of ${oneof.fieldsArray.map((f) => f.name).join(', ')} is required in ${fullName}`);
        }
      }
    };

    const rootType = findType(typeName);
    if (!(rootType instanceof protobuf.Type)) {
      report('', `unknown root type ${typeName}`);
    } else {
      checkMessage(value, rootType, '');
    }
    return { issues, visited };
  };

  return {
    walk,
    hasType: (typeName) => findType(typeName) instanceof protobuf.Type,
  };
}

function jsonName(field: protobuf.Field): string {
  const explicit = field.options?.['json_name'];
  if (typeof explicit === 'string') return explicit;
  return field.name.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

function isListValue(field: protobuf.Field): boolean {
  return field.resolvedType?.fullName === '.google.protobuf.ListValue' ||
    field.resolvedType?.fullName === '.google.protobuf.Value';
}

function isSpecialJson(fullName: string): boolean {
  return (
    fullName in WRAPPERS ||
    fullName === 'google.protobuf.Duration' ||
    fullName === 'google.protobuf.Timestamp' ||
    fullName === 'google.protobuf.FieldMask' ||
    fullName === 'google.protobuf.Struct' ||
    fullName === 'google.protobuf.Value' ||
    fullName === 'google.protobuf.ListValue'
  );
}

const HTTP_PROTOCOL_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

/**
 * Semantic checks a proto walk cannot make on a static Envoy bootstrap: every cluster named by a route,
 * a gRPC service or an HTTP URI exists; cluster names are unique and match their load_assignment;
 * every cluster used for gRPC (`envoy_grpc`) speaks HTTP/2; in every HTTP connection manager the router
 * is the last filter and ext_authz comes before it.
 */
export function checkBootstrapLinks(visited: readonly VisitedMessage[]): SchemaIssue[] {
  const issues: SchemaIssue[] = [];
  const clusters = new Map<string, { path: string; value: Readonly<Record<string, unknown>> }>();
  for (const m of visited) {
    if (m.type !== 'envoy.config.cluster.v3.Cluster') continue;
    const name = m.value['name'];
    if (typeof name !== 'string') continue;
    if (clusters.has(name)) issues.push({ path: m.path, message: `duplicate cluster name "${name}"` });
    clusters.set(name, { path: m.path, value: m.value });
    const la = m.value['load_assignment'] ?? m.value['loadAssignment'];
    if (isPlainObject(la)) {
      const laName = la['cluster_name'] ?? la['clusterName'];
      if (laName !== name) {
        issues.push({ path: `${m.path}.load_assignment.cluster_name`, message: `"${String(laName)}" differs from cluster name "${name}"` });
      }
    }
  }
  const requireCluster = (name: unknown, path: string, why: string): void => {
    if (typeof name === 'string' && !clusters.has(name)) {
      issues.push({ path, message: `${why} names cluster "${name}", which is not defined in static_resources.clusters` });
    }
  };
  const field = (o: Readonly<Record<string, unknown>>, snake: string): unknown =>
    o[snake] ?? o[snake.replace(/_([a-z0-9])/g, (_x, c: string) => c.toUpperCase())];
  for (const m of visited) {
    switch (m.type) {
      case 'envoy.config.route.v3.RouteAction':
        requireCluster(m.value['cluster'], `${m.path}.cluster`, 'route');
        break;
      case 'envoy.config.route.v3.WeightedCluster.ClusterWeight':
        requireCluster(m.value['name'], `${m.path}.name`, 'weighted route');
        break;
      case 'envoy.config.core.v3.HttpUri':
        requireCluster(m.value['cluster'], `${m.path}.cluster`, 'http_service server_uri');
        break;
      case 'envoy.config.core.v3.GrpcService.EnvoyGrpc': {
        const name = field(m.value, 'cluster_name');
        const path = `${m.path}.cluster_name`;
        requireCluster(name, path, 'envoy_grpc');
        const cluster = typeof name === 'string' ? clusters.get(name) : undefined;
        if (cluster !== undefined && !isHttp2Cluster(cluster.value)) {
          issues.push({
            path: cluster.path,
            message: `cluster "${String(name)}" is used for gRPC at ${path} but is not HTTP/2 (set typed_extension_protocol_options.${HTTP_PROTOCOL_OPTIONS}.explicit_http_config.http2_protocol_options)`,
          });
        }
        break;
      }
      case 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager': {
        const filters = field(m.value, 'http_filters');
        if (!Array.isArray(filters)) break;
        const names = filters.map((f: unknown) => (isPlainObject(f) ? f['name'] : undefined));
        const routerAt = names.findIndex((n) => n === 'envoy.filters.http.router');
        if (routerAt !== names.length - 1) {
          issues.push({ path: `${m.path}.http_filters`, message: 'envoy.filters.http.router must be the last HTTP filter' });
        }
        const authzAt = names.findIndex((n) => n === 'envoy.filters.http.ext_authz');
        if (authzAt >= 0 && routerAt >= 0 && authzAt > routerAt) {
          issues.push({ path: `${m.path}.http_filters[${authzAt}]`, message: 'ext_authz must come before the router' });
        }
        break;
      }
      default:
        break;
    }
  }
  return issues;
}

function isHttp2Cluster(cluster: Readonly<Record<string, unknown>>): boolean {
  if (isPlainObject(cluster['http2_protocol_options'] ?? cluster['http2ProtocolOptions'])) return true;
  const tepo = cluster['typed_extension_protocol_options'] ?? cluster['typedExtensionProtocolOptions'];
  if (!isPlainObject(tepo)) return false;
  for (const opts of Object.values(tepo)) {
    if (!isPlainObject(opts) || opts['@type'] !== `${TYPE_URL_PREFIX}${HTTP_PROTOCOL_OPTIONS}`) continue;
    const explicit = opts['explicit_http_config'] ?? opts['explicitHttpConfig'];
    if (isPlainObject(explicit) && isPlainObject(explicit['http2_protocol_options'] ?? explicit['http2ProtocolOptions'])) {
      return true;
    }
  }
  return false;
}

/**
 * Validates one parsed Envoy bootstrap: the proto walk against `envoy.config.bootstrap.v3.Bootstrap`
 * plus {@link checkBootstrapLinks}. Returns every issue found (empty = valid).
 */
export function validateEnvoyBootstrap(schema: EnvoySchema, doc: unknown): SchemaIssue[] {
  const { issues, visited } = schema.walk(doc, 'envoy.config.bootstrap.v3.Bootstrap');
  return [...issues, ...checkBootstrapLinks(visited)];
}

/** Formats issues one per line as `path: message`. */
export function formatIssues(issues: readonly SchemaIssue[]): string {
  return issues.map((i) => `${i.path}: ${i.message}`).join('\n');
}
