import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import type { LoggingConfig } from '../config/types.js';
import { boundedLru } from '../core/bounded-lru.js';
import { createLogDestination } from './create-log-destination.js';

/** What replaces every redacted value. */
export const REDACTION_CENSOR = '[redacted]';

/**
 * Field names whose values never reach a log line, at any depth: credentials and signature material
 * (HTTP header names included), and personal data Didit may send. Compared case-insensitively.
 * Note that this includes `name`: log an issuer or workflow as `issuerName` / `workflow`, not `name`.
 */
export const REDACTED_KEYS: readonly string[] = [
  // credential headers
  'authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key',
  // tokens and secrets
  'token', 'accessToken', 'access_token', 'idToken', 'id_token', 'refreshToken', 'refresh_token',
  'secret', 'clientSecret', 'client_secret', 'webhookSecret', 'webhookSecretPrevious',
  'apiKey', 'api_key', 'password', 'signature',
  // Didit signature headers (`x-signature*` also matches by prefix, see below)
  'x-signature', 'x-signature-v2', 'x-signature-simple',
  // personal data
  'email', 'name', 'first_name', 'last_name', 'full_name', 'firstName', 'lastName', 'fullName',
  'date_of_birth', 'dateOfBirth', 'document_number', 'documentNumber', 'personal_number', 'place_of_birth',
];

/** Any field whose lower-cased name starts with this is redacted too (all Didit signature variants). */
const REDACTED_PREFIX = 'x-signature';

function pathSegment(key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? key : `["${key}"]`;
}

/**
 * The pino `redact.paths`: every {@link REDACTED_KEYS} entry at the top level of a log line or of
 * child-logger bindings.
 *
 * Nested fields are deliberately not listed as pino paths. Leading-wildcard paths (`*.token`,
 * `*.*.token`) measured 30–130 µs per log line with pino 10 (every key of every line goes through the
 * wildcard redactor), and explicit container paths (`req.headers.authorization`…) ~15 µs per line that
 * carries the container, against ~1 µs for a plain line. Nested fields at any depth (up to 8 levels) are
 * instead censored by one copy-on-write walk in `formatters.log` and over child bindings (a Set lookup
 * per key), see {@link createLogger}; the tests prove both layers.
 */
export const REDACTED_PATHS: readonly string[] = REDACTED_KEYS.map(pathSegment);

const SENSITIVE = new Set(REDACTED_KEYS.map((key) => key.toLowerCase()));

/** Compact JWS/JWT (header starts with `{"` → base64url `eyJ`). */
const JWT_PATTERN = /eyJ[\w-]+\.[\w-]+\.[\w-]*/g;
const JWT_CENSOR = '[redacted-jwt]';
/** Walks stop here; anything deeper is replaced whole (fail closed on pathological objects). */
const MAX_DEPTH = 8;

/**
 * Answers of {@link isSensitiveKey} by key. Every key of every line is tested (a decision line has ~15, and
 * a step-up is logged on every Check), and the keys are almost always the same few field names, so the
 * lower-casing is done once per name. Bounded: request-derived keys (header names in a replay record)
 * cannot grow it past its bound; the least recently used name goes first, so the field names of every line
 * stay remembered.
 */
const keyVerdicts = boundedLru<string, boolean>(1024);

function isSensitiveKey(key: string): boolean {
  let sensitive = keyVerdicts.get(key);
  if (sensitive === undefined) {
    const lower = key.toLowerCase();
    sensitive = SENSITIVE.has(lower) || lower.startsWith(REDACTED_PREFIX);
    keyVerdicts.set(key, sensitive);
  }
  return sensitive;
}

/** Replaces JWT-looking substrings; cheap `includes` guard first because almost no string has one. */
export function scrubJwts(text: string): string {
  return text.includes('eyJ') ? text.replace(JWT_PATTERN, JWT_CENSOR) : text;
}

function isPlainContainer(value: object): boolean {
  if (Array.isArray(value)) return true;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Returns `value` with sensitive keys censored and JWTs scrubbed from strings, at any depth up to
 * {@link MAX_DEPTH}. Copy-on-write: untouched subtrees are shared, the caller's object is never mutated.
 * Only plain objects and arrays are entered (class instances serialise through their own `toJSON`).
 */
export function redactDeep(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return scrubJwts(value);
  if (value === null || typeof value !== 'object' || !isPlainContainer(value)) return value;
  if (depth >= MAX_DEPTH) return REDACTION_CENSOR;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      const next = redactDeep(item, depth + 1);
      if (next !== item) {
        copy ??= value.slice();
        copy[i] = next;
      }
    }
    return copy ?? value;
  }
  const record = value as Record<string, unknown>;
  let copy: Record<string, unknown> | undefined;
  for (const key in record) {
    if (!Object.prototype.hasOwnProperty.call(record, key)) continue;
    const item = record[key];
    const next = isSensitiveKey(key) ? REDACTION_CENSOR : redactDeep(item, depth + 1);
    if (next !== item) {
      copy ??= { ...record };
      copy[key] = next;
    }
  }
  return copy ?? value;
}

/**
 * Error serializer: pino's standard one (type, message, stack, cause chain, enumerable props), then
 * deep redaction, which also removes JWTs that libraries echo into messages (`invalid token eyJ…`).
 */
export function serializeError(error: unknown): unknown {
  if (!(error instanceof Error)) return redactDeep(error);
  const serialized = pino.stdSerializers.err(error);
  let plain: unknown;
  try {
    // The standard serializer returns objects with a custom prototype (also for causes); a JSON round
    // trip makes them plain so the deep walk enters them. Errors are rare; the cost does not matter.
    plain = JSON.parse(JSON.stringify(serialized)) as unknown;
  } catch {
    plain = { type: serialized.type, message: serialized.message };
  }
  return redactDeep(plain);
}

/**
 * The loggers' `formatters.log`: every line's fields through {@link redactDeep}. Exported so the decision
 * log's line writer (`create-json-line-writer.ts`) formats with the very same function, and can tell a
 * logger made here from any other.
 */
export function formatLogFields(object: Record<string, unknown>): Record<string, unknown> {
  return redactDeep(object) as Record<string, unknown>;
}

/** Options for {@link createLogger}. */
export interface CreateLoggerOptions {
  readonly level: LoggingConfig['level'];
  /**
   * Where lines go. Default: stdout through an asynchronous sonic-boom (`sync: false`) so request paths
   * never block on a slow log pipe; pino flushes it on process exit ({@link createLogDestination}).
   */
  readonly destination?: DestinationStream;
  /** Fields on every line; default pino's `{ pid, hostname }`. */
  readonly base?: Readonly<Record<string, unknown>>;
  /** Fields computed per line (tracing: the active trace id); unset = none, no per-line cost. */
  readonly mixin?: () => Record<string, unknown>;
}

/**
 * Creates the process's root pino logger with redaction of credentials and PII (see
 * {@link REDACTED_KEYS}) at any depth, JWT scrubbing in messages, errors and string fields, and the
 * `err`/`error` serializer {@link serializeError}. Children inherit all of it.
 *
 * @throws Error (from pino) for an unknown level.
 */
export function createLogger(options: CreateLoggerOptions): Logger {
  const loggerOptions: LoggerOptions = {
    level: options.level,
    redact: { paths: [...REDACTED_PATHS], censor: REDACTION_CENSOR },
    serializers: {
      err: serializeError,
      error: serializeError,
      // pino applies a serializer keyed by the message key to the formatted message.
      msg: (message: unknown) => (typeof message === 'string' ? scrubJwts(message) : message),
    },
    formatters: {
      log: formatLogFields,
    },
  };
  if (options.base !== undefined) loggerOptions.base = { ...options.base };
  if (options.mixin !== undefined) loggerOptions.mixin = options.mixin;
  const destination = options.destination ?? createLogDestination();
  const root = pino(loggerOptions, destination);
  // Child bindings are serialised once at child() and never pass through formatters.log, so they are
  // deep-redacted here. Children are Object.create(parent), so every descendant inherits this method.
  const originalChild = root.child;
  root.child = function redactingChild(this: Logger, bindings, childOptions) {
    return originalChild.call(this, redactDeep(bindings) as typeof bindings, childOptions);
  } as Logger['child'];
  return root;
}
