import { tracingChannel } from 'node:diagnostics_channel';
import { pino, type Level, type Logger } from 'pino';
import { describe, expect, it } from 'vitest';
import { createJsonLineWriter } from './create-json-line-writer.js';
import { createLogger } from './create-logger.js';

const KEYS = ['requestId', 'outcome', 'method', 'host', 'path', 'sourceAddress', 'durationMs', 'subject', 'status', 'trace', 'replay'];
const JWT = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln';

/** A logger from createLogger into memory, its decision child, and a count of lines pino serialised itself. */
function setup(options: { mixin?: () => Record<string, unknown> } = {}) {
  const chunks: string[] = [];
  const root = createLogger({ level: 'info', base: { pid: 1, hostname: 'h' }, destination: { write: (c: string) => void chunks.push(c) }, ...options });
  const child = root.child({ component: 'decision' });
  const byPino = { count: 0 };
  for (const level of ['info', 'error'] as const) {
    const original = child[level].bind(child);
    child[level] = ((...args: Parameters<typeof original>) => {
      byPino.count++;
      original(...args);
    }) as typeof original;
  }
  const write = createJsonLineWriter(child, KEYS, 'decision');
  return { child, write, chunks, byPino };
}

const untimed = (line: string | undefined): string => (line ?? '').replace(/,"time":\d+/, '');

/** Writes `fields` with the writer and with pino's own serialisation; both lines, without their time. */
function both(fields: Record<string, unknown>, level: Level = 'info', options: Parameters<typeof setup>[0] = {}, onlyJwtsToScrub?: boolean) {
  const { child, write, chunks, byPino } = setup(options);
  write(level, fields, onlyJwtsToScrub);
  const fast = untimed(chunks[0]);
  const viaWriterPino = byPino.count;
  child[level](fields, 'decision');
  return { fast, pino: untimed(chunks[1]), viaWriterPino };
}

const hostile: [string, string][] = [
  ['quotes and backslashes', 'a"b\\c\\"d'],
  ['every control character', Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)).join('') + 'end'],
  ['DEL and C1 controls', '\u007f\u0080\u009f'],
  ['line and paragraph separators', 'a\u2028b\u2029c'],
  ['non-Latin text', 'Ünïcödé Кириллица 中文 العربية'],
  ['astral characters (surrogate pairs)', 'emoji 😀 𝔘'],
  ['100 characters (pino escapes it itself)', '"'.repeat(50) + 'x'.repeat(50)],
  ['101 characters (pino uses JSON.stringify)', '"'.repeat(50) + 'x'.repeat(51)],
  ['a huge value', `${'A'.repeat(100_000)}"\n`],
  ['a JWT', `Bearer ${JWT}`],
  ['a header-injection attempt', 'v\r\nX-Idgate-Subject: admin'],
  ['JSON look-alikes', '","level":60,"x":"'],
  ['a J that is no JWT', 'J eJ yJ Jey eyj'],
];

describe('createJsonLineWriter', () => {
  it.each(hostile)('writes the bytes pino writes for %s, without pino', (_name, value) => {
    const fields = { requestId: value, outcome: 'step_up', method: value, host: value, path: `/p/${value}`, sourceAddress: '::1', durationMs: 0.5, subject: `corp:${value}`, status: 401 };
    const { fast, pino: expected, viaWriterPino } = both(fields);
    expect(viaWriterPino).toBe(0);
    expect(fast).toBe(expected);
    expect(fast).not.toContain('eyJ');
    expect(JSON.parse(fast)).toMatchObject({ level: 30, pid: 1, hostname: 'h', component: 'decision', msg: 'decision' });
  });

  it.each(hostile)('writes the bytes pino writes for %s when the caller says only JWTs can need scrubbing', (_name, value) => {
    const trace = [{ step: value, result: 'pass', detail: `detail ${value}` }, { step: 'roles', result: 'info', detail: 'x' }];
    const fields = { requestId: value, outcome: 'step_up', method: value, host: value, path: `/p/${value}`, sourceAddress: '::1', durationMs: 0.5, subject: `corp:${value}`, status: 401, trace };
    const { fast, pino: expected, viaWriterPino } = both(fields, 'info', {}, true);
    expect(viaWriterPino).toBe(0);
    expect(fast).toBe(expected);
    expect(fast).not.toContain('eyJ');
  });

  it('scrubs a JWT the unformatted JSON shows only through an escape, and one split by nothing', () => {
    // "\u001e" + "yJ…": the JSON text holds `eyJ` though no string does (a false alarm: formatted anyway);
    // a JWT in a trace detail: formatted, so scrubbed.
    for (const value of [`\u001e${JWT.slice(1)}`, `a${JWT.slice(1)}`, `x${JWT}y`]) {
      const fields = { requestId: 'r', outcome: 'deny', path: value, trace: [{ step: 's', result: 'pass', detail: `t ${JWT}` }] };
      const { fast, pino: expected, viaWriterPino } = both(fields, 'info', {}, true);
      expect(viaWriterPino).toBe(0);
      expect(fast).toBe(expected);
      expect(fast).toContain('"detail":"t [redacted-jwt]"');
    }
  });

  it('writes the bytes pino writes for nested traces and replay records, with the same redaction', () => {
    const headers: Record<string, string> = {
      Authorization: `Bearer ${JWT}`, 'X-SIGNATURE-evil': 'sig', 'proxy-authorization': 'p', 'x-api-key': 'k', accept: 'text/html',
      'x-"quoted"\nname': 'v', 'ключ': 'значение', __proto__x: 'y', constructor: 'c', 'x-long': 'z'.repeat(5_000),
    };
    const fields = {
      requestId: 'r', outcome: 'deny', method: 'GET', host: 'h', path: '/', sourceAddress: '::1', durationMs: 1, status: 403,
      trace: [{ step: 'route', result: 'fail', detail: `token ${JWT} \u0000 "x" 中文` }, { step: 'roles', result: 'pass', detail: 'x'.repeat(201) }],
      replay: { v: 1, at: 5, request: { headers }, auth: { kind: 'verified', claims: { email: 'a@example.com', Name: 'N', deep: { a: { b: { c: { d: { e: { f: { g: 'too deep' } } } } } } } } } },
    };
    const { fast, pino: expected, viaWriterPino } = both(fields, 'error');
    expect(viaWriterPino).toBe(0);
    expect(fast).toBe(expected);
    expect(fast).toMatch(/^\{"level":50,/);
    expect(fast).not.toMatch(/eyJ|Bearer|a@example\.com|"sig"|"k"/);
    expect(fast).toContain('"Authorization":"[redacted]"');
    expect(fast).toContain('"X-SIGNATURE-evil":"[redacted]"');
  });

  it('writes the bytes pino writes for numbers JSON cannot hold, and skips undefined fields', () => {
    for (const durationMs of [Number.NaN, Number.POSITIVE_INFINITY, -0, 1e21, 5e-7]) {
      const { fast, pino: expected, viaWriterPino } = both({ requestId: 'r', outcome: 'deny', durationMs, subject: undefined, status: 500 });
      expect(viaWriterPino).toBe(0);
      expect(fast).toBe(expected);
    }
  });

  it.each([
    ['a lone high surrogate', 'a\ud800b'],
    ['a lone low surrogate at the end', 'ab\udc00'],
    ['a reversed pair', '\udc00\ud800'],
  ])('leaves %s to pino, whose bytes differ from JSON.stringify', (_name, value) => {
    const { fast, pino: expected, viaWriterPino } = both({ requestId: value, outcome: 'deny', subject: 'corp:u' });
    expect(viaWriterPino).toBe(1);
    expect(fast).toBe(expected);
    expect(JSON.stringify(value)).toContain('\\ud');
    expect(fast).not.toContain('\\ud');
  });

  it('leaves the text of such an escape to pino too (the check is on the JSON text), with the same bytes', () => {
    const { fast, pino: expected, viaWriterPino } = both({ requestId: '\\ud800 and \\u0000', outcome: 'deny' });
    expect(viaWriterPino).toBe(1);
    expect(fast).toBe(expected);
    expect(fast).toContain('"requestId":"\\\\ud800 and \\\\u0000"');
  });

  it('leaves what JSON.stringify cannot write (a BigInt) to pino; a cycle is cut by the redaction walk for both', () => {
    const bigint = both({ requestId: 'r', outcome: 'deny', replay: { n: 10n } });
    expect(bigint.viaWriterPino).toBe(1);
    expect(bigint.fast).toBe(bigint.pino);
    expect(bigint.fast).toContain('"replay":{"n":10}');
    const cycle: Record<string, unknown> = { a: 1 };
    cycle['self'] = cycle;
    const cut = both({ requestId: 'r', outcome: 'deny', replay: cycle });
    expect(cut.viaWriterPino).toBe(0);
    expect(cut.fast).toBe(cut.pino);
    expect(cut.fast).toContain('"self":"[redacted]"');
  });

  it('leaves a line with a mixin (tracing on) to pino, mixin fields included', () => {
    const { fast, pino: expected, viaWriterPino } = both({ requestId: 'r', outcome: 'deny' }, 'info', { mixin: () => ({ traceId: 't1' }) });
    expect(viaWriterPino).toBe(1);
    expect(fast).toBe(expected);
    expect(fast).toContain('"traceId":"t1"');
  });

  it('leaves loggers not made by createLogger, and keys pino serialises specially, to pino', () => {
    const chunks: string[] = [];
    const plain: Logger = pino({ base: { pid: 1 } }, { write: (c: string) => void chunks.push(c) });
    createJsonLineWriter(plain, KEYS, 'decision')('info', { requestId: 'r', outcome: 'deny' });
    expect(untimed(chunks[0])).toBe('{"level":30,"pid":1,"requestId":"r","outcome":"deny","msg":"decision"}\n');
    // `token` is a redact path and `err` pino's error key: a writer for such keys must not bypass them.
    for (const [key, value] of [['token', 'SECRET'], ['err', new Error(`bad SECRET ${JWT}`)]] as const) {
      const { child, chunks: out, byPino } = setup();
      createJsonLineWriter(child, [...KEYS, key], 'decision')('info', { requestId: 'r', [key]: value });
      expect(byPino.count).toBe(1);
      expect(out.join('')).not.toMatch(key === 'token' ? /SECRET/ : /eyJ/);
      if (key === 'err') expect(out.join('')).toContain('"type":"Error"');
    }
  });

  it('leaves the line to pino while pino_asJson is traced, so its subscribers see it', () => {
    const channel = tracingChannel('pino_asJson');
    const seen: unknown[] = [];
    const handlers = { start: (message: unknown) => void seen.push(message), end: () => undefined, asyncStart: () => undefined, asyncEnd: () => undefined, error: () => undefined };
    channel.subscribe(handlers);
    try {
      const { fast, pino: expected, viaWriterPino } = both({ requestId: 'r', outcome: 'deny' });
      expect(viaWriterPino).toBe(1);
      expect(fast).toBe(expected);
      expect(seen.length).toBe(2);
    } finally {
      channel.unsubscribe(handlers);
    }
  });

  it('follows setBindings on the logger it writes for', () => {
    const { child, write, chunks } = setup();
    child.setBindings({ component: 'decision', extra: 'x"y' });
    write('info', { requestId: 'r' });
    child.info({ requestId: 'r' }, 'decision');
    expect(untimed(chunks[0])).toBe(untimed(chunks[1]));
    expect(chunks[0]).toContain('"extra":"x\\"y"');
  });
});
