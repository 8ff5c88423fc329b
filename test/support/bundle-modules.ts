import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const DIST = resolve(import.meta.dirname, '../../dist');
const BUNDLE = join(DIST, 'idgate');

/**
 * The modules behind the URLs a process loaded (support/log-loaded-modules.mjs): a chunk of the bundle
 * (dist/idgate/) stands for every module scripts/bundle.mjs put into it — listed in dist/idgate.modules.json
 * as repository paths (`/dist/src/…` for idgate's own, `/node_modules/…` for its dependencies) — and any
 * other URL stands for itself. A chunk's modules are all in memory once it is loaded (its source text,
 * at least), so "the process loaded module X" reads as it did before the bundle.
 */
export function bundledModules(urls: readonly string[]): string[] {
  const chunks = JSON.parse(readFileSync(`${BUNDLE}.modules.json`, 'utf8')) as Record<string, string[]>;
  return urls.flatMap((url) => {
    const path = url.startsWith('file:') ? fileURLToPath(url) : url;
    if (!path.startsWith(`${BUNDLE}/`)) return [url];
    const modules = chunks[path.slice(BUNDLE.length + 1)];
    if (modules === undefined) throw new Error(`${path}: not a chunk of dist/idgate.modules.json (stale build?)`);
    return modules;
  });
}
