import type { Agent as UndiciAgent, Dispatcher } from 'undici';
import apiRequest from 'undici/lib/api/api-request.js';
import UndiciAgentClass from 'undici/lib/dispatcher/agent.js';
import undiciUtil from 'undici/lib/core/util.js';

/**
 * npm `undici`'s `Agent` and `request`, without its index. `import { Agent, request } from 'undici'` loads
 * the whole package — fetch, WebSocket, EventSource, the cache and cookie stores, the mock and snapshot
 * agents, the proxy and retry agents: 110 modules, of which idgate uses two (the JWKS/discovery fetch and
 * the Didit client). Loading just those two measured about 3 MiB less RSS in an idle `authz`
 * (bench/README.md, "Memory, fourth round"). undici has no `exports` map, so its `lib/` files are
 * importable; the version is pinned by the lock file and the tests of both callers fetch over real sockets.
 * Type-only imports from `undici` cost nothing and stay as they are. The three files are CommonJS: a default
 * import is their `module.exports` (typed in `undici-lib.d.ts`). Static imports, not `createRequire`, so that
 * the bundler (scripts/bundle.mjs) sees them and ships them inside the bundle: the image needs no node_modules.
 */

/** undici's connection-pooling `Agent` (`undici/lib/dispatcher/agent.js`, what the index re-exports). */
export const Agent = UndiciAgentClass;
/** An {@link Agent} instance (the type of the same name). */
export type Agent = UndiciAgent;

const { parseURL } = undiciUtil;

/** The options of {@link request}: undici's, with the dispatcher required (no global dispatcher here). */
export type RequestOptions = Omit<Dispatcher.RequestOptions, 'origin' | 'path' | 'method'> & {
  readonly method?: Dispatcher.HttpMethod;
  readonly dispatcher: Dispatcher;
};

/**
 * `undici.request(url, options)` for a string URL: what the index's `makeDispatcher` wrapper does before it
 * calls the dispatcher's `request` — the URL parsed by undici's own `parseURL` (same validation, same
 * errors), split into origin and path (with the query), the method defaulted as undici defaults it.
 */
export function request(url: string, options: RequestOptions): Promise<Dispatcher.ResponseData> {
  const { dispatcher, ...rest } = options;
  const parsed = parseURL(url);
  return apiRequest.call(dispatcher, {
    ...rest,
    origin: parsed.origin,
    path: parsed.search ? `${parsed.pathname}${parsed.search}` : parsed.pathname,
    method: rest.method || (rest.body ? 'PUT' : 'GET'),
  });
}
