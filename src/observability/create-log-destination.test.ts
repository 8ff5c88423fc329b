import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogDestination, type LogDestination } from './create-log-destination.js';
import { createLogger } from './create-logger.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'idgate-log-dest-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Resolves once the destination has written everything and closed its file. */
function end(destination: Pick<LogDestination, 'end' | 'once'>): Promise<void> {
  return new Promise((resolve) => {
    destination.once('close', resolve);
    destination.end();
  });
}

/** Lines that differ in every way the encoding could: width, validity, control bytes, length past maxWrite. */
const lines = [
  '{"msg":"plain ascii"}\n',
  '{"msg":"Ünïcödé Кириллица 中文 العربية"}\n',
  '{"msg":"astral 😀 𝔘"}\n',
  '{"msg":"lone \ud800 high, lone \udc00 low, reversed \udc00\ud800"}\n',
  `{"msg":"controls ${Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)).join('')} \u2028\u2029 \u007f"}\n`,
  `{"msg":"${'é'.repeat(20_000)}"}\n`, // 40 kB of UTF-8: over sonic-boom's 16 kB maxWrite
  `{"msg":"${'x'.repeat(70_000)}"}\n`,
];

/** Runs `script` in a fresh process importing the built dist/ (as idgate runs); its stdout, parsed. */
function runChild(script: string): { i: number; text: string }[] {
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 20_000, maxBuffer: 64 * 1024 * 1024 });
  expect(child.stderr).toBe('');
  expect(child.status).toBe(0);
  return child.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { i: number; text: string });
}

describe('createLogDestination', () => {
  it('writes the bytes sonic-boom alone writes, in order, for every kind of text, over several turns', async () => {
    const ours = createLogDestination(join(dir, 'ours.log'));
    const theirs = pino.destination({ dest: join(dir, 'theirs.log'), sync: false });
    const burst = Array.from({ length: 3_000 }, (_, i) => lines[i % lines.length] ?? '');
    // Bursts over several event-loop turns, so lines pile up while a write is in flight.
    for (let turn = 0; turn < 10; turn++) {
      for (const line of burst.slice(turn * 300, turn * 300 + 300)) {
        ours.write(line);
        theirs.write(line);
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    await Promise.all([end(ours), end(theirs)]);
    const written = readFileSync(join(dir, 'ours.log'));
    expect(written.equals(readFileSync(join(dir, 'theirs.log')))).toBe(true);
    expect(written.equals(Buffer.from(burst.join(''), 'utf8'))).toBe(true);
    expect(written.includes(Buffer.from('\ufffd'))).toBe(true); // lone surrogates as U+FFFD, as before
  });

  it('hands the turn over when flushed, every line in order', async () => {
    const file = join(dir, 'flush.log');
    const destination = createLogDestination(file);
    await new Promise<void>((resolve) => destination.once('ready', resolve));
    // sonic-boom's flushSync writes what it has queued, but not a write it already handed to the thread pool
    // (its first write after idle), so the bytes are awaited rather than read at once: reading right after
    // flushSync raced that write and failed under load. That flushSync hands a turn's lines over before the
    // turn ends is what the process-exit test below proves (without it, half the lines are lost).
    const contents = async (expected: string): Promise<string> => {
      let text = '';
      for (let i = 0; i < 200 && text !== expected; i++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
        text = readFileSync(file, 'utf8');
      }
      return text;
    };
    destination.write('a\n');
    destination.flushSync();
    expect(await contents('a\n')).toBe('a\n');
    destination.write('b\n');
    destination.write('c\n');
    destination.flushSync();
    expect(await contents('a\nb\nc\n')).toBe('a\nb\nc\n');
    await end(destination);
  });

  it('carries a logger from createLogger, every line in order', async () => {
    const file = join(dir, 'logger.log');
    const destination = createLogDestination(file);
    const logger = createLogger({ level: 'info', base: { pid: 1, hostname: 'h' }, destination });
    for (let i = 0; i < 500; i++) logger.info({ i, text: 'Кириллица' }, 'line');
    await end(destination);
    const written = readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { i: number; text: string });
    expect(written.map((l) => l.i)).toEqual(Array.from({ length: 500 }, (_, i) => i));
    expect(written.every((l) => l.text === 'Кириллица')).toBe(true);
  });

  it('loses no line when the process exits in the turn it logged (a fatal error: pino and this flush on exit)', () => {
    // Stdout is a pipe here, as in a container. Exiting synchronously right after a burst: the lines are
    // still in this turn's list (and sonic-boom holds the earlier turns').
    const written = runChild(`
      const { createLogger } = await import('./dist/src/observability/create-logger.js');
      const logger = createLogger({ level: 'info' });
      for (let i = 0; i < 1000; i++) logger.info({ i, text: 'ü'.repeat(i % 50) }, 'earlier turn');
      await new Promise((resolve) => setImmediate(resolve));
      for (let i = 1000; i < 2000; i++) logger.info({ i, text: 'ü'.repeat(i % 50) }, 'bye');
      process.exit(0);
    `);
    expect(written.map((l) => l.i)).toEqual(Array.from({ length: 2000 }, (_, i) => i));
    expect(written[49]?.text).toBe('ü'.repeat(49));
  });

  it('adds one exit listener for any number of destinations, and removes it when they close', async () => {
    const before = process.listenerCount('exit');
    const many = Array.from({ length: 20 }, (_, i) => createLogDestination(join(dir, `many-${i}.log`)));
    expect(process.listenerCount('exit')).toBeLessThanOrEqual(before + 2); // ours, and pino's own
    await Promise.all(many.map((d) => end(d)));
    expect(process.listenerCount('exit')).toBeLessThanOrEqual(before);
  });

  it('loses no line when the process ends by itself', () => {
    const written = runChild(`
      const { createLogger } = await import('./dist/src/observability/create-logger.js');
      const logger = createLogger({ level: 'info' });
      for (let i = 0; i < 300; i++) logger.info({ i, text: 'x' }, 'last words');
    `);
    expect(written.map((l) => l.i)).toEqual(Array.from({ length: 300 }, (_, i) => i));
  });
});
