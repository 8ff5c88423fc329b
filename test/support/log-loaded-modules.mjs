// Test-only module hook, preloaded into an idgate process with `NODE_OPTIONS=--import <this file>`: appends
// the URL of every module the process loads (ESM imports, dynamic import() and require() alike) to the
// file named by IDGATE_TEST_MODULE_LOG, so a test can tell which of idgate's modules a command loaded.
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
}
