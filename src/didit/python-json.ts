/**
 * Serialisation helpers that reproduce Python's `json.dumps(…, sort_keys=True, separators=(",", ":"))`
 * byte for byte — the form Didit's (Python) servers sign. Shared by the webhook canonicaliser and the sandbox.
 */

/** Options of {@link serializePythonJson}. */
export interface PythonJsonOptions {
  /**
   * `true` reproduces `ensure_ascii=True` (every character outside `' '..'~'` as a lower-case `\uXXXX`
   * escape, astral characters as surrogate pairs): the raw body Didit sends. `false` reproduces
   * `ensure_ascii=False` (non-ASCII written raw): the canonical form `X-Signature-V2` covers.
   */
  readonly ensureAscii: boolean;
}

const MAX_DEPTH = 1000;

/**
 * Compares two strings by Unicode code point, as Python sorts `str` keys. JavaScript's default comparison
 * works on UTF-16 code units and puts astral characters (surrogate pairs) before U+E000–U+FFFF.
 *
 * @returns negative, zero or positive, like any comparator.
 */
export function compareCodePoints(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const ca = a.codePointAt(i) as number;
    const cb = b.codePointAt(j) as number;
    if (ca !== cb) return ca - cb;
    i += ca > 0xffff ? 2 : 1;
    j += cb > 0xffff ? 2 : 1;
  }
  const restA = a.length - i;
  const restB = b.length - j;
  return restA === restB ? 0 : restA < restB ? -1 : 1;
}

function hex4(code: number): string {
  return code.toString(16).padStart(4, '0');
}

/**
 * Quotes a string the way Python's JSON encoder does: `"` `\` and the short escapes (`\n \r \t \b \f`),
 * other control characters as lower-case `\u00xx`; with `ensureAscii` also everything outside printable
 * ASCII (including DEL) as `\uxxxx` per UTF-16 code unit. Lone surrogates never throw: with `ensureAscii`
 * they are escaped, without it they are kept (and become U+FFFD when encoded as UTF-8).
 */
export function quotePythonString(value: string, ensureAscii: boolean): string {
  let out = '"';
  let runStart = 0;
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    let escaped: string | undefined;
    if (code < 0x20) {
      switch (code) {
        case 0x0a: escaped = '\\n'; break;
        case 0x0d: escaped = '\\r'; break;
        case 0x09: escaped = '\\t'; break;
        case 0x08: escaped = '\\b'; break;
        case 0x0c: escaped = '\\f'; break;
        default: escaped = '\\u' + hex4(code);
      }
    } else if (code === 0x22) {
      escaped = '\\"';
    } else if (code === 0x5c) {
      escaped = '\\\\';
    } else if (ensureAscii && code > 0x7e) {
      escaped = '\\u' + hex4(code);
    }
    if (escaped !== undefined) {
      out += value.slice(runStart, i) + escaped;
      runStart = i + 1;
    }
  }
  return out + value.slice(runStart) + '"';
}

/**
 * Formats a finite, non-integral double like Python's `repr(float)`: the shortest round-trip digits
 * (which JavaScript computes identically), in fixed notation when the decimal exponent is in [-4, 16) and
 * otherwise as `d.ddde-05` / `e+16` (sign always, at least two exponent digits).
 */
export function pythonFloatRepr(value: number): string {
  const exponential = value.toExponential();
  const at = exponential.indexOf('e');
  const mantissa = exponential.slice(0, at);
  const exponent = Number(exponential.slice(at + 1));
  if (exponent >= -4 && exponent < 16) return String(value);
  const sign = exponent < 0 ? '-' : '+';
  return `${mantissa}e${sign}${String(Math.abs(exponent)).padStart(2, '0')}`;
}

/**
 * Formats a JavaScript number as Didit's serialiser does after "shortening" floats: integral values as
 * integers (exactly, also above 2^53 — `1e21` → `1000000000000000000000`), `-0` as `0`, other finite values
 * per {@link pythonFloatRepr}, and non-finite ones as Python spells them (`NaN`, `Infinity`, `-Infinity`).
 */
export function formatPythonNumber(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return 'Infinity';
  if (value === -Infinity) return '-Infinity';
  if (Number.isInteger(value)) return BigInt(value).toString();
  return pythonFloatRepr(value);
}

/**
 * Serialises a plain JSON-like value (objects, arrays, strings, numbers, bigints, booleans, null) compactly
 * with keys in code-point order, integral numbers as integers and strings escaped as Python does. Object
 * members whose value is `undefined` are skipped, as `JSON.stringify` does.
 *
 * @throws TypeError for values JSON cannot hold (functions, symbols) or nesting deeper than 1000 levels.
 */
export function serializePythonJson(value: unknown, options: PythonJsonOptions): string {
  return write(value, options.ensureAscii, 0);
}

function write(value: unknown, ensureAscii: boolean, depth: number): string {
  if (depth > MAX_DEPTH) throw new TypeError('value nests too deeply to serialise');
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return quotePythonString(value, ensureAscii);
    case 'number':
      return formatPythonNumber(value);
    case 'bigint':
      return value.toString();
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (Array.isArray(value)) {
        return '[' + value.map((item: unknown) => write(item === undefined ? null : item, ensureAscii, depth + 1)).join(',') + ']';
      }
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record).filter((key) => record[key] !== undefined).sort(compareCodePoints);
      const members = keys.map(
        (key) => quotePythonString(key, ensureAscii) + ':' + write(record[key], ensureAscii, depth + 1),
      );
      return '{' + members.join(',') + '}';
    }
    default:
      throw new TypeError(`cannot serialise a ${typeof value} as JSON`);
  }
}
