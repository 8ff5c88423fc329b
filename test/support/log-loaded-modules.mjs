// Test-only module hook, preloaded into an idgate process with `NODE_OPTIONS=--import <this file>`: appends
// the URL of every module the process loads (ESM imports, dynamic import() and require() alike) to the
// file named by IDGATE_TEST_MODULE_LOG, so a test can tell which of idgate's modules a command loaded. At
// exit it appends Node's own internal modules too, as `node:internal/…` (e.g. `node:internal/deps/undici/undici`,
// Node's bundled fetch), which no hook sees.
import { appendFileSync } from 'node:fs';
import { registerHooks } from 'node:module';

const out = process.env.IDGATE_TEST_MODULE_LOG;
if (out) {
  registerHooks({
    load(url, context, nextLoad) {
      appendFileSync(out, `${url}\n`);
      return nextLoad(url, context);
    },
  });
  process.on('exit', () => {
    const internal = process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')).map((m) => `node:${m.slice('NativeModule '.length)}`);
    appendFileSync(out, internal.map((m) => `${m}\n`).join(''));
  });
}
