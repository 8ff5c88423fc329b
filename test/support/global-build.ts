import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, utimesSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * Vitest global setup: brings `dist/` up to date before any test runs, so the process-level suites (which
 * spawn the bundle, `dist/idgate/cli.js`, as the image runs it) always exercise the code in the working
 * tree. `make test`, `npx vitest run` and a single-file run all go through here.
 *
 * The build is what `make build` does: an incremental `tsc -p tsconfig.json` whose build-info file lives
 * inside `dist/` (so `make clean` forgets it too), then scripts/bundle.mjs. It is skipped only when the
 * build-info file is newer than every input (`.ts` under src/, test/, bench/, plus tsconfig.json,
 * package-lock.json and the bundle script) and both CLIs exist. A type error fails the run: tests never run
 * against output the compiler rejected.
 *
 * `IDGATE_TEST_SKIP_BUILD=1` skips it (for tools that build in their own sandbox).
 */
const ROOT = resolve(import.meta.dirname, '../..');
const BUILD_INFO = join(ROOT, 'dist', '.tsbuildinfo');
const CLI = join(ROOT, 'dist', 'src', 'cli.js');
/** The shipped CLI: the bundle of dist/src/cli.js. */
export const BUNDLED_CLI = join(ROOT, 'dist', 'idgate', 'cli.js');

function newestInput(): number {
  let newest = 0;
  const visit = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules' && entry.name !== 'results') visit(path);
      } else if (entry.name.endsWith('.ts') || entry.name.endsWith('.json')) {
        newest = Math.max(newest, statSync(path).mtimeMs);
      }
    }
  };
  for (const dir of ['src', 'test', 'bench']) visit(join(ROOT, dir));
  for (const file of ['tsconfig.json', 'package-lock.json', 'scripts/bundle.mjs']) {
    if (existsSync(join(ROOT, file))) newest = Math.max(newest, statSync(join(ROOT, file)).mtimeMs);
  }
  return newest;
}

/** True when `dist/` was built from the current inputs (by this setup). */
export function distIsFresh(): boolean {
  if (!existsSync(BUILD_INFO) || !existsSync(CLI) || !existsSync(BUNDLED_CLI)) return false;
  return statSync(BUILD_INFO).mtimeMs >= newestInput();
}

export default function setup(): void {
  if (process.env.IDGATE_TEST_SKIP_BUILD === '1') return;
  if (distIsFresh()) return;
  const started = new Date();
  const tsc = spawnSync(
    process.execPath,
    [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json', '--incremental', '--tsBuildInfoFile', BUILD_INFO],
    { cwd: ROOT, encoding: 'utf8', timeout: 300_000 },
  );
  if (tsc.status !== 0) {
    throw new Error(`tsc failed (exit ${String(tsc.status ?? tsc.signal)}); tests not run against stale dist/:\n${tsc.stdout}${tsc.stderr}`);
  }
  const bundle = spawnSync(process.execPath, [join(ROOT, 'scripts', 'bundle.mjs')], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
  if (bundle.status !== 0) {
    throw new Error(`bundling failed (exit ${String(bundle.status ?? bundle.signal)}); tests not run against a stale bundle:\n${bundle.stdout}${bundle.stderr}`);
  }
  // tsc leaves the build-info file alone when nothing changed. Stamp it with the time the build STARTED:
  // an input edited while tsc ran is then newer, and the next run builds again.
  if (existsSync(BUILD_INFO)) utimesSync(BUILD_INFO, started, started);
  process.stdout.write(`[global-build] dist/ rebuilt in ${Date.now() - started.getTime()} ms\n`);
}
