import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The process-level guard (issue 18): a throw that escapes every handler — in a timer or a promise
 * callback, where the front ends' own catches cannot see it — is logged and the process keeps running.
 * Runs the built module (dist/) in a child process, as `idgate serve` installs it. (Build first.)
 */
const GUARD = pathToFileURL(resolve(import.meta.dirname, '../dist/src/app/install-process-guard.js')).href;
const PINO = pathToFileURL(resolve(import.meta.dirname, '../node_modules/pino/pino.js')).href;

function run(install: boolean): { status: number | null; stdout: string } {
  const script = `
    const { installProcessGuard } = await import(${JSON.stringify(GUARD)});
    const { default: pino } = await import(${JSON.stringify(PINO)});
    if (${install}) installProcessGuard(pino());
    setTimeout(() => { throw new Error('escaped from a timer'); }, 1);
    Promise.resolve().then(() => { throw new Error('escaped from a promise callback'); });
    // Exits 0 only if the process survived both.
    setTimeout(() => { console.log(JSON.stringify({ msg: 'still alive' })); }, 50);
  `;
  const out = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 10_000 });
  return { status: out.status, stdout: out.stdout };
}

describe('installProcessGuard', () => {
  it('without the guard, one escaped throw ends the process (the failure it prevents)', () => {
    const { status, stdout } = run(false);
    expect(status).not.toBe(0);
    expect(stdout).not.toContain('still alive');
  });

  it('logs an escaped exception and an unhandled rejection at error level and keeps running', () => {
    const { status, stdout } = run(true);
    expect(status).toBe(0);
    const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as { level?: number; msg: string; err?: { message?: string } });
    expect(lines.at(-1)?.msg).toBe('still alive');
    const errors = lines.filter((l) => l.level === 50).map((l) => l.err?.message);
    expect(errors.sort()).toEqual(['escaped from a promise callback', 'escaped from a timer']);
  });
});
