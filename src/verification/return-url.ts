import { isBrowserNavigation } from '../core/browser-navigation.js';
import { parseHttpUrl } from '../core/parse-http-url.js';
import type { RequestContext } from '../core/request-context.js';

/**
 * The URL a browser should come back to after verifying: the original request's absolute URL, built only
 * for GET/HEAD requests that accept HTML (API clients get a challenge, not a redirect). Returns undefined
 * when the host is not a plain host name (so nothing odd is ever stored).
 */
export function originalUrl(ctx: RequestContext): string | undefined {
  if (!isBrowserNavigation(ctx)) return undefined;
  if (!/^[a-z0-9.-]+$/.test(ctx.host) && !/^\[[0-9a-f:.]+\]$/.test(ctx.host)) return undefined;
  const scheme = ctx.scheme === 'http' ? 'http' : 'https';
  const port = ctx.port !== undefined ? `:${ctx.port}` : '';
  const target = ctx.rawPath.startsWith('/') && !ctx.rawPath.startsWith('//') ? ctx.rawPath : '/';
  try {
    return new URL(`${scheme}://${ctx.host}${port}${target}`).toString();
  } catch {
    return undefined;
  }
}


/**
 * Open-redirect guard for the verification callback: a return target is allowed only when it is an absolute
 * http(s) URL without credentials whose origin (scheme, host, port) is in `allowlist`, or whose scheme and
 * port are the public base URL's and whose host is the base URL's host or a subdomain of that host's parent
 * domain (same site). Another port or scheme of an allowed host is another origin — possibly another
 * service, or a downgrade to cleartext — so it needs its own allowlist entry. Anything else → undefined.
 */
export function validateReturnUrl(
  candidate: string | undefined,
  publicBaseUrl: string,
  allowlist: readonly string[],
): string | undefined {
  if (!candidate) return undefined;
  const url = parseHttpUrl(candidate);
  if (url === undefined) return undefined;
  if (allowlist.some((origin) => sameOrigin(origin, url))) return url.toString();
  const base = new URL(publicBaseUrl);
  // `URL` drops a scheme's default port, so `https://x` and `https://x:443` compare equal here.
  if (url.protocol !== base.protocol || url.port !== base.port) return undefined;
  if (url.hostname === base.hostname) return url.toString();
  const site = registrableSite(base.hostname);
  if (site !== undefined && (url.hostname === site || url.hostname.endsWith(`.${site}`))) return url.toString();
  return undefined;
}

function sameOrigin(origin: string, url: URL): boolean {
  try {
    return new URL(origin).origin === url.origin;
  } catch {
    return false;
  }
}

/**
 * The parent domain used for the same-site rule: the public base URL's host without its first label
 * (`idgate.shop.example.com` → `shop.example.com`). There is none for IP addresses, names of fewer than
 * three labels, and parents that are (or look like) a public suffix shared by unrelated owners — a
 * two-label parent under a country code whose first label is a generic second level (`co.uk`, `com.au`)
 * or a well-known hosting suffix (`github.io`, `herokuapp.com`…) — since every tenant there would count as
 * "same site". Operators on such names list their origins in the allowlist instead.
 */
function registrableSite(hostname: string): string | undefined {
  if (/^[0-9.]+$/.test(hostname) || hostname.includes(':')) return undefined;
  const labels = hostname.split('.');
  if (labels.length < 3) return undefined;
  const parent = labels.slice(1);
  if (parent.length === 2 && looksLikePublicSuffix(parent[0] as string, parent[1] as string)) return undefined;
  return parent.join('.');
}

/** Second-level labels that registries under country codes hand out to the public. */
const GENERIC_SECOND_LEVEL: ReadonlySet<string> = new Set([
  'ac', 'co', 'com', 'edu', 'gob', 'go', 'gov', 'govt', 'gv', 'info', 'lg', 'ltd', 'me', 'mil', 'ne', 'net', 'nhs', 'nic', 'nom', 'or', 'org', 'plc', 'sch',
]);

/** Shared hosting domains whose subdomains belong to unrelated tenants (a small, well-known subset of the PSL). */
const SHARED_HOSTING: ReadonlySet<string> = new Set([
  'github.io', 'gitlab.io', 'herokuapp.com', 'vercel.app', 'netlify.app', 'pages.dev', 'workers.dev', 'appspot.com', 'web.app',
  'firebaseapp.com', 'azurewebsites.net', 'cloudfront.net', 'amazonaws.com', 'onrender.com', 'fly.dev', 'blogspot.com', 'ngrok.io', 'ngrok-free.app',
]);

function looksLikePublicSuffix(second: string, top: string): boolean {
  if (SHARED_HOSTING.has(`${second}.${top}`)) return true;
  return top.length === 2 && GENERIC_SECOND_LEVEL.has(second);
}
