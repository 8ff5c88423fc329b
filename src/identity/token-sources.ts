import type { TokenSource } from '../config/types.js';
import type { RequestContext } from '../core/request-context.js';

/** The source tried when an issuer lists none: `Authorization: Bearer <token>`. */
export const DEFAULT_TOKEN_SOURCE: TokenSource = { type: 'header', name: 'authorization', scheme: 'Bearer' };

/**
 * What {@link extractCredential} found: a raw token string, a claims object that Envoy's `jwt_authn`
 * filter already verified, or nothing. `sourceKey` identifies the exact configured source (see
 * {@link tokenSourceKey}) so the caller can check that the token's issuer accepts tokens from there.
 */
export type ExtractedCredential =
  | { readonly kind: 'none' }
  | { readonly kind: 'token'; readonly token: string; readonly source: 'header' | 'cookie'; readonly sourceKey: string }
  | { readonly kind: 'claims'; readonly claims: unknown; readonly sourceKey: string };

/** Keys of the configured sources, computed once per source object rather than on every request. */
const sourceKeys = new WeakMap<TokenSource, string>();
/**
 * Lower-cased names of the configured header sources, once per source object: `toLowerCase()` answers a new
 * string even when nothing changes (32 bytes per Check), which the header lookup then has to hash afresh.
 */
const headerNames = new WeakMap<TokenSource, string>();

function headerNameOf(source: Extract<TokenSource, { type: 'header' }>): string {
  let name = headerNames.get(source);
  if (name === undefined) {
    name = source.name.toLowerCase();
    headerNames.set(source, name);
  }
  return name;
}

/**
 * A stable identity for a configured source (`header:authorization:bearer`, `cookie:session`,
 * `metadata:<namespace>:<key>`), comparing header names and schemes case-insensitively.
 */
export function tokenSourceKey(source: TokenSource): string {
  let key = sourceKeys.get(source);
  if (key === undefined) {
    key = sourceKeyOf(source);
    sourceKeys.set(source, key);
  }
  return key;
}

function sourceKeyOf(source: TokenSource): string {
  switch (source.type) {
    case 'header':
      return `header:${source.name.toLowerCase()}:${(source.scheme ?? '').toLowerCase()}`;
    case 'cookie':
      return `cookie:${source.name}`;
    case 'envoyMetadata':
      return `metadata:${source.namespace}:${source.key}`;
    default: {
      const unreachable: never = source;
      return unreachable;
    }
  }
}

/**
 * Looks for a credential in `sources`, in order; the first source that is present wins.
 *
 * - `header`: with a `scheme`, the value must be `<scheme> <token>` (scheme compared case-insensitively,
 *   RFC 9110 §11.1); a header with another scheme does not count as this source. Without a scheme the whole
 *   value is the token. `<scheme>` alone yields an empty token (rejected later as malformed).
 * - `cookie`: the named cookie in the `cookie` header (first occurrence; surrounding quotes removed).
 * - `envoyMetadata`: `ctx.metadata[namespace][key]`, whatever its value (validated later).
 *
 * Pure; never throws.
 */
export function extractCredential(ctx: RequestContext, sources: readonly TokenSource[]): ExtractedCredential {
  let cookies: ReadonlyMap<string, string> | undefined;
  for (const source of sources) {
    switch (source.type) {
      case 'header': {
        const value = ctx.headers[headerNameOf(source)];
        if (value === undefined) break;
        const token = source.scheme === undefined ? value.trim() : afterScheme(value, source.scheme);
        if (token === undefined) break;
        return { kind: 'token', token, source: 'header', sourceKey: tokenSourceKey(source) };
      }
      case 'cookie': {
        const header = ctx.headers.cookie;
        if (header === undefined) break;
        cookies ??= parseCookieHeader(header);
        const token = cookies.get(source.name);
        if (token === undefined) break;
        return { kind: 'token', token, source: 'cookie', sourceKey: tokenSourceKey(source) };
      }
      case 'envoyMetadata': {
        const namespace = Object.hasOwn(ctx.metadata, source.namespace) ? ctx.metadata[source.namespace] : undefined;
        if (namespace === undefined || !Object.hasOwn(namespace, source.key)) break;
        const claims = namespace[source.key];
        if (claims === undefined || claims === null) break;
        return { kind: 'claims', claims, sourceKey: tokenSourceKey(source) };
      }
      default: {
        const unreachable: never = source;
        return unreachable;
      }
    }
  }
  return { kind: 'none' };
}

/** `Bearer abc` → `abc`; `Bearer` → `` ; `Basic abc` → undefined (another scheme). */
function afterScheme(value: string, scheme: string): string | undefined {
  const trimmed = value.trim();
  const n = scheme.length;
  if (trimmed.length < n) return undefined;
  // The scheme as configured (`Bearer`) is what nearly every request sends: compared in place, with no
  // lower-cased copies of both per Check; any other spelling takes the case-insensitive comparison.
  if (!trimmed.startsWith(scheme) && trimmed.slice(0, n).toLowerCase() !== scheme.toLowerCase()) return undefined;
  if (trimmed.length === n) return '';
  const separator = trimmed.charCodeAt(n);
  if (separator !== 0x20 && separator !== 0x09) return undefined;
  return trimmed.slice(n + 1).trim();
}

/** Upper bound on cookie pairs looked at, so a hostile header costs bounded work. */
const MAX_COOKIES = 200;

/**
 * Parses a `cookie` request header (RFC 6265 §5.4 `name=value; name2=value2`). Pairs joined by a proxy with
 * `,` are split too. Malformed pairs are skipped; the first occurrence of a name wins; values are not
 * percent-decoded (JWTs need none); one pair of surrounding double quotes is removed.
 *
 * @returns name → value. Never throws.
 */
export function parseCookieHeader(header: string): ReadonlyMap<string, string> {
  const cookies = new Map<string, string>();
  let count = 0;
  for (const part of header.split(/[;,]/)) {
    if (++count > MAX_COOKIES) break;
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    if (name === '' || cookies.has(name)) continue;
    let value = part.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    cookies.set(name, value);
  }
  return cookies;
}
