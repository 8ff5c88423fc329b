import type { RequestContext } from '../core/request-context.js';

/** Headers through which common frameworks let a client replace the request method. */
export const METHOD_OVERRIDE_HEADERS = ['x-http-method-override', 'x-http-method', 'x-method-override'] as const;

/** The method the policy evaluates, or why the request is refused. */
export type EffectiveMethod = { readonly ok: true; readonly method: string } | { readonly ok: false; readonly reason: string };

const METHOD = /^[A-Z]{1,20}$/;

/**
 * The method a request is evaluated as, given `policy.methodOverride`.
 *
 * Upstreams that honour `X-HTTP-Method-Override`, `X-HTTP-Method`, `X-Method-Override` (Express
 * method-override, ASP.NET, Symfony, Google APIs…) or a `_method` query parameter (Rails, Laravel) run the
 * overriding method, so a policy that saw only the request method would let a `POST` through that runs as a
 * `DELETE`. Every override is read: each header (a repeated one is a comma list) and every `_method`
 * parameter, with its name percent-decoded and compared case-insensitively; empty values are ignored.
 *
 * - `deny`: any override different from the request method (case-insensitive) → refused.
 * - `honor`: the override is the effective method; overrides that disagree with each other, or that are not
 *   a plain method token, are refused (the upstream's choice between them cannot be known).
 *
 * The form-body `_method` of an `application/x-www-form-urlencoded` POST is not seen (idgate does not read
 * bodies); see docs/security.md.
 */
export function effectiveMethod(ctx: RequestContext, mode: 'deny' | 'honor'): EffectiveMethod {
  // Almost every request asks for no override: answered without collecting anything.
  if (!mayOverride(ctx)) return { ok: true, method: ctx.method };
  const overrides = requestedOverrides(ctx);
  if (overrides.length === 0) return { ok: true, method: ctx.method };
  if (mode === 'deny') {
    return overrides.every((m) => m === ctx.method)
      ? { ok: true, method: ctx.method }
      : { ok: false, reason: 'the request asks for another method through a method-override header or _method parameter' };
  }
  const first = overrides[0] as string;
  if (!overrides.every((m) => m === first)) return { ok: false, reason: 'the method overrides of this request disagree' };
  if (!METHOD.test(first)) return { ok: false, reason: 'the method override is not a method' };
  return { ok: true, method: first };
}

/**
 * False when the request certainly asks for no override: no override header and no query that could hold
 * a `_method` parameter (the same pre-check as {@link requestedOverrides}).
 */
function mayOverride(ctx: RequestContext): boolean {
  for (const name of METHOD_OVERRIDE_HEADERS) if (ctx.headers[name] !== undefined) return true;
  return ctx.query !== '' && MAY_NAME_METHOD.test(ctx.query);
}

/** A query that could name `_method`: "method" in it, or percent-encoding to hide it. */
const MAY_NAME_METHOD = /method|%/i;

/** Every non-empty override value, trimmed and upper-cased. */
function requestedOverrides(ctx: RequestContext): string[] {
  const out: string[] = [];
  for (const name of METHOD_OVERRIDE_HEADERS) {
    const value = ctx.headers[name];
    if (value === undefined) continue;
    for (const part of value.split(',')) {
      const m = part.trim().toUpperCase();
      if (m !== '') out.push(m);
    }
  }
  const query = ctx.query;
  // Cheap pre-check: a `_method` name needs "method" in it, or percent-encoding to hide it.
  if (query !== '' && MAY_NAME_METHOD.test(query)) {
    for (const pair of query.split(/[&;]/)) {
      const eq = pair.indexOf('=');
      const name = decodeFormComponent(eq < 0 ? pair : pair.slice(0, eq));
      if (name === undefined || name.toLowerCase() !== '_method') continue;
      const value = eq < 0 ? '' : decodeFormComponent(pair.slice(eq + 1));
      // An undecodable value cannot be matched to a method: count it as a (refused) override.
      const m = value === undefined ? '%' : value.trim().toUpperCase();
      if (m !== '') out.push(m);
    }
  }
  return out;
}

function decodeFormComponent(s: string): string | undefined {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}
