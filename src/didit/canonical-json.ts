import { compareCodePoints, pythonFloatRepr, quotePythonString } from './python-json.js';

/** Why {@link canonicalJson} rejected its input. */
export type CanonicalJsonErrorCode = 'invalid_json' | 'too_deep';

/** Thrown by {@link canonicalJson} / {@link parseSignedJson} for input Python's `json.loads` would reject. */
export class CanonicalJsonError extends Error {
  override readonly name = 'CanonicalJsonError';
  readonly code: CanonicalJsonErrorCode;
  /** Offset (UTF-16 code units) in the input where the problem was found. */
  readonly position: number;

  constructor(code: CanonicalJsonErrorCode, message: string, position: number) {
    super(`${message} at offset ${position}`);
    this.code = code;
    this.position = position;
  }
}

/** The canonical text of a JSON document and the same document as a plain JavaScript value. */
export interface SignedJson {
  /** See {@link canonicalJson}. */
  readonly canonical: string;
  /**
   * The parsed value. Numbers are JavaScript numbers (integers above 2^53 lose precision here, never in
   * `canonical`); `NaN`/`Infinity` literals become the corresponding numbers.
   */
  readonly value: unknown;
}

/**
 * Re-serialises JSON text into the canonical form Didit signs with `X-Signature-V2`: Python's
 * `json.dumps(shorten_floats(json.loads(text)), sort_keys=True, separators=(",", ":"), ensure_ascii=False)`.
 *
 * - object keys in Unicode code-point order (never JavaScript property order, so `"10"` precedes `"9"`);
 *   a duplicated key keeps its last value;
 * - integer literals verbatim (no precision loss above 2^53), except `-0` → `0` as Python's `int` has no
 *   negative zero;
 * - floats with no fractional part as the exact integer (`92.0` → `92`, `1e21` → `1000000000000000000000`);
 *   other floats like Python's `repr` (`5e-05`, `0.0001`); `NaN`/`Infinity`/`-Infinity` literals, which
 *   Python accepts, are kept;
 * - strings re-escaped as Python does with `ensure_ascii=False` (non-ASCII raw, lone surrogates kept).
 *
 * @throws CanonicalJsonError `invalid_json` for text that is not JSON, `too_deep` past 1000 nesting levels.
 */
export function canonicalJson(text: string): string {
  return new Parser(text).parseDocument().canonical;
}

/**
 * Parses JSON text once into both its canonical form ({@link canonicalJson}) and a plain value; used by
 * webhook verification so the body is read by a single parser.
 *
 * @throws CanonicalJsonError as {@link canonicalJson}.
 */
export function parseSignedJson(text: string): SignedJson {
  return new Parser(text).parseDocument();
}

const MAX_DEPTH = 1000;

interface Parsed {
  canonical: string;
  value: unknown;
}

class Parser {
  private pos = 0;

  constructor(private readonly text: string) {}

  parseDocument(): Parsed {
    this.skipWhitespace();
    const result = this.parseValue(0);
    this.skipWhitespace();
    if (this.pos !== this.text.length) this.fail('unexpected data after the JSON value');
    return result;
  }

  private fail(message: string, code: CanonicalJsonErrorCode = 'invalid_json'): never {
    throw new CanonicalJsonError(code, message, this.pos);
  }

  private skipWhitespace(): void {
    const text = this.text;
    while (this.pos < text.length) {
      const c = text.charCodeAt(this.pos);
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return;
      this.pos++;
    }
  }

  private parseValue(depth: number): Parsed {
    if (depth > MAX_DEPTH) this.fail('JSON nests too deeply', 'too_deep');
    const c = this.text.charCodeAt(this.pos);
    switch (c) {
      case 0x7b: // {
        return this.parseObject(depth);
      case 0x5b: // [
        return this.parseArray(depth);
      case 0x22: { // "
        const value = this.parseString();
        return { canonical: quotePythonString(value, false), value };
      }
      case 0x74: // t
        return this.literal('true', true);
      case 0x66: // f
        return this.literal('false', false);
      case 0x6e: // n
        return this.literal('null', null);
      case 0x4e: // N
        return this.literal('NaN', Number.NaN);
      case 0x49: // I
        return this.literal('Infinity', Infinity);
      default:
        if (c === 0x2d && this.text.startsWith('-Infinity', this.pos)) return this.literal('-Infinity', -Infinity);
        if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.parseNumber();
        return this.fail(Number.isNaN(c) ? 'unexpected end of input' : 'unexpected character');
    }
  }

  private literal(word: string, value: unknown): Parsed {
    if (!this.text.startsWith(word, this.pos)) this.fail('invalid literal');
    this.pos += word.length;
    return { canonical: word, value };
  }

  private parseObject(depth: number): Parsed {
    const members = new Map<string, Parsed>();
    this.parseItems(0x7d, () => {
      if (this.text.charCodeAt(this.pos) !== 0x22) this.fail('expected a property name in double quotes');
      const key = this.parseString();
      this.skipWhitespace();
      if (this.text.charCodeAt(this.pos) !== 0x3a) this.fail("expected ':'");
      this.pos++;
      this.skipWhitespace();
      // Python's dict keeps the last value of a repeated key.
      members.set(key, this.parseValue(depth + 1));
    });
    const keys = [...members.keys()].sort(compareCodePoints);
    const value: Record<string, unknown> = {};
    const parts: string[] = [];
    for (const key of keys) {
      const member = members.get(key) as Parsed;
      parts.push(quotePythonString(key, false) + ':' + member.canonical);
      // defineProperty, not assignment: a "__proto__" key must stay an own data property.
      Object.defineProperty(value, key, { value: member.value, enumerable: true, writable: true, configurable: true });
    }
    return { canonical: '{' + parts.join(',') + '}', value };
  }

  private parseArray(depth: number): Parsed {
    const canon: string[] = [];
    const values: unknown[] = [];
    this.parseItems(0x5d, () => {
      const item = this.parseValue(depth + 1);
      canon.push(item.canonical);
      values.push(item.value);
    });
    return { canonical: '[' + canon.join(',') + ']', value: values };
  }

  /**
   * The comma-separated items of an object or array, from its opening bracket through `close` (`}` or `]`),
   * whitespace allowed around each: `parseItem` reads one item where it starts. The one place that decides
   * what separates and ends a container, so objects and arrays cannot drift apart.
   */
  private parseItems(close: 0x7d | 0x5d, parseItem: () => void): void {
    this.pos++;
    this.skipWhitespace();
    if (this.text.charCodeAt(this.pos) === close) {
      this.pos++;
      return;
    }
    for (;;) {
      parseItem();
      this.skipWhitespace();
      const next = this.text.charCodeAt(this.pos);
      this.pos++;
      if (next === close) return;
      if (next !== 0x2c) {
        this.pos--;
        this.fail(`expected ',' or '${String.fromCharCode(close)}'`);
      }
      this.skipWhitespace();
    }
  }

  private parseString(): string {
    const text = this.text;
    this.pos++;
    let out = '';
    let runStart = this.pos;
    for (;;) {
      if (this.pos >= text.length) this.fail('unterminated string');
      const c = text.charCodeAt(this.pos);
      if (c === 0x22) {
        out += text.slice(runStart, this.pos);
        this.pos++;
        return out;
      }
      // Python's strict mode (the default) rejects raw control characters inside strings.
      if (c < 0x20) this.fail('control character in string');
      if (c !== 0x5c) {
        this.pos++;
        continue;
      }
      out += text.slice(runStart, this.pos);
      const escape = text.charCodeAt(this.pos + 1);
      this.pos += 2;
      switch (escape) {
        case 0x22: out += '"'; break;
        case 0x5c: out += '\\'; break;
        case 0x2f: out += '/'; break;
        case 0x62: out += '\b'; break;
        case 0x66: out += '\f'; break;
        case 0x6e: out += '\n'; break;
        case 0x72: out += '\r'; break;
        case 0x74: out += '\t'; break;
        case 0x75: {
          const hex = text.slice(this.pos, this.pos + 4);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail('invalid \\u escape');
          // A surrogate pair written as two escapes combines naturally in UTF-16; a lone one stays lone.
          out += String.fromCharCode(parseInt(hex, 16));
          this.pos += 4;
          break;
        }
        default:
          this.pos -= 2;
          this.fail('invalid escape');
      }
      runStart = this.pos;
    }
  }

  private parseNumber(): Parsed {
    const text = this.text;
    const start = this.pos;
    let isFloat = false;
    if (text.charCodeAt(this.pos) === 0x2d) this.pos++;
    const first = text.charCodeAt(this.pos);
    if (first === 0x30) {
      this.pos++;
    } else if (first >= 0x31 && first <= 0x39) {
      this.skipDigits();
    } else {
      this.fail('invalid number');
    }
    if (text.charCodeAt(this.pos) === 0x2e) {
      this.pos++;
      if (!this.skipDigits()) this.fail('invalid number: digits expected after the decimal point');
      isFloat = true;
    }
    const e = text.charCodeAt(this.pos);
    if (e === 0x65 || e === 0x45) {
      this.pos++;
      const sign = text.charCodeAt(this.pos);
      if (sign === 0x2b || sign === 0x2d) this.pos++;
      if (!this.skipDigits()) this.fail('invalid number: digits expected in the exponent');
      isFloat = true;
    }
    const literal = text.slice(start, this.pos);
    const value = Number(literal);
    if (!isFloat) return { canonical: literal === '-0' ? '0' : literal, value: value === 0 ? 0 : value };
    return { canonical: formatFloat(value), value };
  }

  private skipDigits(): boolean {
    const start = this.pos;
    while (this.pos < this.text.length) {
      const c = this.text.charCodeAt(this.pos);
      if (c < 0x30 || c > 0x39) break;
      this.pos++;
    }
    return this.pos > start;
  }
}

/** A float literal as Didit's serialiser writes it after shortening integral floats to integers. */
function formatFloat(value: number): string {
  // Python parses an out-of-range literal (`1e400`) to inf, which `json.dumps` writes as `Infinity`.
  if (value === Infinity) return 'Infinity';
  if (value === -Infinity) return '-Infinity';
  if (Number.isInteger(value)) return BigInt(value).toString();
  return pythonFloatRepr(value);
}
