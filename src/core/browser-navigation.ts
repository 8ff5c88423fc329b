import type { RequestContext } from './request-context.js';

/**
 * Whether a header can hold a `text/html` range at all. Sound as a pre-test: only ASCII letters lower-case
 * to the letters of `text/html` (no other code point's `toLowerCase` yields them), so a range that passes
 * the full test below contains this text in some ASCII case.
 */
const TEXT_HTML = /text\/html/i;

/**
 * A top-level browser navigation: a GET or HEAD whose `Accept` lists the media range `text/html` (type and
 * subtype compared case-insensitively, RFC 9110 §8.3.1) with a weight above zero. Browsers send it on
 * every navigation; API clients (`application/json`, a bare wildcard) do not, so they get a challenge, not a
 * redirect.
 *
 * The one test used everywhere: the renderer decides redirect-or-challenge with it and the verification
 * gate decides whether to store a return URL with it, so a request is never redirected without a way
 * back (or the other way round).
 */
export function isBrowserNavigation(ctx: RequestContext): boolean {
  if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return false;
  const accept = ctx.headers['accept'];
  if (accept === undefined) return false;
  // A range can only be `text/html` if the header holds that text in some case: API clients' headers
  // (`application/json, text/plain, */*`) are answered without splitting them into arrays. Both the
  // renderer and the decision log ask, on every step-up.
  if (!TEXT_HTML.test(accept)) return false;
  for (const range of accept.split(',')) {
    const [type, ...params] = range.split(';');
    if (type?.trim().toLowerCase() !== 'text/html') continue;
    const q = params.map((p) => p.trim().toLowerCase()).find((p) => p.startsWith('q='));
    if (q === undefined || Number(q.slice(2)) > 0) return true;
  }
  return false;
}
