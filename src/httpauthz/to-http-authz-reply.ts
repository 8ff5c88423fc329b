import type { RenderedVerdict } from '../core/render-decision.js';
import type { HttpAuthzFlavor } from './to-http-authz-context.js';

/** What the HTTP authorization endpoint sends back to the proxy. */
export interface HttpAuthzReply {
  readonly status: number;
  /** Lower-case names; a repeated header is an array. */
  readonly headers: Readonly<Record<string, string | readonly string[]>>;
  readonly body: string;
}

/**
 * Turns a rendered verdict into the HTTP answer each proxy understands.
 *
 * - allow → **200** (Envoy treats any other 2xx as a denial) with an empty body, `cache-control: no-store`
 *   and the identity headers; for Envoy also `x-envoy-auth-headers-to-remove` listing the client-sent
 *   identity headers to strip (nginx and Traefik do not read it, their configs overwrite the headers).
 * - deny → the verdict's status, headers and problem body, relayed by Envoy and Traefik as they are.
 * - a step-up redirect (302) to nginx → **401** with `<prefix>location` carrying the verification URL and
 *   the RFC 9470 `insufficient_user_authentication` challenge: nginx's `auth_request` turns every 3xx into
 *   a 500, so the example config reads the header with `auth_request_set` and redirects in `error_page 401`.
 *
 * @param identityPrefix the configured identity header prefix (default `x-idgate-`).
 * @param realm the `WWW-Authenticate` realm.
 */
export function toHttpAuthzReply(
  verdict: RenderedVerdict,
  flavor: HttpAuthzFlavor,
  identityPrefix = 'x-idgate-',
  realm = 'idgate',
): HttpAuthzReply {
  if (verdict.allow) {
    const headers: Record<string, string> = { 'cache-control': 'no-store' };
    for (const [name, value] of verdict.upstreamHeaders) headers[name] = value;
    if (flavor === 'envoy' && verdict.removeHeaders.length > 0) {
      headers['x-envoy-auth-headers-to-remove'] = verdict.removeHeaders.join(',');
    }
    return { status: 200, headers, body: '' };
  }
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of verdict.headers) {
    const prev = headers[name];
    headers[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  if (verdict.status === 302 && flavor === 'nginx') {
    const location = headers['location'];
    delete headers['location'];
    if (typeof location === 'string') headers[`${identityPrefix}location`] = location;
    headers['www-authenticate'] =
      `Bearer realm="${realm.replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, '')}", error="insufficient_user_authentication", ` +
      'error_description="identity verification required"';
    return { status: 401, headers, body: '' };
  }
  return { status: verdict.status, headers, body: verdict.body };
}
