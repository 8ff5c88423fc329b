import { createRequire } from 'node:module';

/**
 * `node:http`'s `createServer`, loaded with `require`. On Node 24 an ESM value import of `node:http`
 * (`import { createServer } from 'node:http'`) builds the module's ESM facade, which reads every export —
 * including the lazy `WebSocket`, `CloseEvent` and `MessageEvent` getters, which load Node's bundled
 * undici (fetch, WebSocket): about 14 MiB of RSS that idgate never uses (issue 15 §3, bench/README.md
 * "Memory"). `require` returns the CommonJS exports object and leaves those getters untouched.
 * Type-only imports from `node:http` cost nothing and stay as they are.
 */
export const createHttpServer: typeof import('node:http').createServer = (
  createRequire(import.meta.url)('node:http') as typeof import('node:http')
).createServer;
