import type { RequestContext } from './request-context.js';

/**
 * A plain HTTPS `GET /api` to `app.example.com` from `10.0.0.1` (request id `req-1`), with `overrides` on
 * top: the request tests start from. Test-only; it lives in src/ (not test/support/) so the mutation run,
 * which copies src/ but not test/, can load it from the render-decision tests.
 */
export function testRequestContext(overrides: Partial<RequestContext> = {}): RequestContext {
  return {
    method: 'GET',
    scheme: 'https',
    host: 'app.example.com',
    path: '/api',
    rawPath: '/api',
    query: '',
    headers: {},
    sourceAddress: '10.0.0.1',
    sourcePrincipal: '',
    contextExtensions: {},
    metadata: {},
    requestId: 'req-1',
    protocol: 'HTTP/2',
    receivedAt: 0,
    ...overrides,
  };
}
