import { tracingChannel } from 'node:diagnostics_channel';
import { pino, type Level, type Logger } from 'pino';
import { formatLogFields } from './create-logger.js';

/**
 * Writes one line of `fields` and the writer's fixed message at `level` (the caller checked the level is on).
 *
 * `onlyJwtsToScrub`: the caller vouches that {@link formatLogFields} can change nothing in `fields` but JWTs
 * inside strings — no key it censors at any depth, no container past its depth cap, only strings, numbers,
 * booleans and plain arrays and objects of them (the decision log checks its keys with `formatLogFields`
 * itself). The fields are then serialised as they are, and formatted only when their JSON holds `eyJ`: a
 * string with a JWT in it serialises with `eyJ` in it (`JSON.stringify` escapes none of those letters),
 * so a line without one has nothing to scrub and formatting would return the very same object.
 */
export type JsonLineWriter = (level: Level, fields: Record<string, unknown>, onlyJwtsToScrub?: boolean) => void;

// pino's per-instance state (`pino.symbols`, its documented integration surface). Read, never written.
const sym = pino.symbols as unknown as Readonly<Record<string, symbol>>;
const need = (name: string): symbol => {
  const found = sym[name];
  if (typeof found !== 'symbol') throw new Error(`pino.symbols.${name} is missing: pino's internals changed`);
  return found;
};
const LS_CACHE = need('lsCacheSym');
const CHINDINGS = need('chindingsSym');
const TIME = need('timeSym');
const STREAM = need('streamSym');
const END = need('endSym');
const MIXIN = need('mixinSym');
const FORMATTERS = need('formattersSym');
const HOOKS = need('hooksSym');
const SERIALIZERS = need('serializersSym');
const STRINGIFIERS = need('stringifiersSym');
const MESSAGE_KEY = need('messageKeySym');
const ERROR_KEY = need('errorKeySym');
const NESTED_KEY = need('nestedKeySym');
const MSG_PREFIX = need('msgPrefixSym');
const WILDCARD_FIRST = need('wildcardFirstSym');
const NEEDS_METADATA = need('needsMetadataGsym');

/** pino traces its serialisation on this channel when someone subscribes; then pino writes the line itself. */
const asJsonChannel = tracingChannel('pino_asJson');

interface PinoState {
  readonly [key: symbol]: unknown;
}

/**
 * Whether, for a line whose fields are among `keys`, pino's generic serialisation (`asJson`) does nothing
 * but what {@link createJsonLineWriter} reproduces: the fields formatted by {@link formatLogFields} (so by a
 * logger from `createLogger`), no per-field serializer or redact-path stringifier on any of `keys`, no
 * mixin, hooks, message prefix or nested key, the default message key, and a destination that does not
 * want pino's per-line metadata. These are fixed when the (child) logger is made, so checked once.
 */
function isPlain(state: PinoState, keys: readonly string[]): boolean {
  const formatters = state[FORMATTERS] as { log?: unknown } | undefined;
  const hooks = state[HOOKS] as { logMethod?: unknown; streamWrite?: unknown } | undefined;
  const serializers = (state[SERIALIZERS] ?? {}) as Record<string, unknown>;
  const stringifiers = (state[STRINGIFIERS] ?? {}) as Record<string | symbol, unknown>;
  const stream = state[STREAM] as { write?: unknown; [key: symbol]: unknown } | undefined;
  const errorKey = state[ERROR_KEY];
  return (
    formatters?.log === formatLogFields &&
    state[MIXIN] === undefined &&
    hooks?.logMethod === undefined &&
    hooks?.streamWrite === undefined &&
    state[MSG_PREFIX] === undefined &&
    (state[NESTED_KEY] === undefined || state[NESTED_KEY] === null) &&
    state[MESSAGE_KEY] === 'msg' &&
    stringifiers[WILDCARD_FIRST] === undefined &&
    typeof stream?.write === 'function' &&
    stream[NEEDS_METADATA] !== true &&
    typeof state[TIME] === 'function' &&
    typeof state[END] === 'string' &&
    keys.every((key) => serializers[key] === undefined && stringifiers[key] === undefined && key !== errorKey && key !== 'msg')
  );
}

/**
 * A writer for one kind of line (the decision log: a fixed message, fields among `keys`, written on every
 * step-up Check) that produces **the bytes pino would** with one native `JSON.stringify` of the formatted
 * fields, instead of pino's per-field serialisation and a ~50-piece string concatenation (bench/README.md,
 * "Step-up and Redis paths, sixth round").
 *
 * Why the bytes are the same: pino writes `{"level":N` (its level cache), the time, the child bindings (one
 * string kept per logger), then `,"key":value` per field of `formatters.log(fields)`, then `,"msg":…` and
 * its line end. Here the formatter is the same function ({@link formatLogFields}: the same redaction and JWT
 * scrubbing), level, time, bindings and end are read from the logger itself, and the fields are serialised
 * by `JSON.stringify`, which pino also uses for every object and every string over 100 characters. Its own
 * escaping of shorter strings differs from `JSON.stringify` only for a lone surrogate (pino writes it raw,
 * `JSON.stringify` as `\udXXX`); a line whose JSON has any `\ud` escape, or that `JSON.stringify` cannot
 * write (a cycle, a BigInt), goes to pino instead, as does everything when the logger is not plain (see
 * {@link isPlain}) or pino's serialisation is being traced. The tests compare both writers byte for byte.
 */
export function createJsonLineWriter(logger: Logger, keys: readonly string[], message: string): JsonLineWriter {
  const viaPino: JsonLineWriter = (level, fields) => logger[level](fields, message);
  const state = logger as unknown as PinoState;
  if (!isPlain(state, keys)) return viaPino;
  const serializeMessage = (state[SERIALIZERS] as Record<string, ((value: unknown) => unknown) | undefined>)['msg'];
  const formattedMessage = serializeMessage === undefined ? message : serializeMessage(message);
  if (typeof formattedMessage !== 'string') return viaPino;
  const messagePart = `,"msg":${JSON.stringify(formattedMessage)}`;
  const levelCache = state[LS_CACHE] as Record<number, string>;
  const time = state[TIME] as () => string;
  const stream = state[STREAM] as { write(line: string): unknown };
  const end = state[END] as string;
  return (level, fields, onlyJwtsToScrub) => {
    if (asJsonChannel.hasSubscribers) return viaPino(level, fields);
    let body: string | undefined;
    try {
      if (onlyJwtsToScrub === true) {
        body = JSON.stringify(fields);
        // `J` first: a one-character search is a memchr, and a decision line rarely holds a `J` at all.
        if (body.includes('J') && body.includes('eyJ')) body = JSON.stringify(formatLogFields(fields));
      } else {
        body = JSON.stringify(formatLogFields(fields));
      }
    } catch {
      body = undefined;
    }
    if (body === undefined || body.includes('\\ud')) return viaPino(level, fields);
    const prefix = levelCache[logger.levels.values[level] as number];
    const inner = body.length > 2 ? `,${body.slice(1, -1)}` : '';
    // `chindings` is read per line: `setBindings` replaces it.
    stream.write(`${prefix as string}${time()}${state[CHINDINGS] as string}${inner}${messagePart}${end}`);
  };
}
