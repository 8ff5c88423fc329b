import type { AuthResult } from '../core/auth-result.js';
import type { RequestContext } from '../core/request-context.js';
import type { RiskAssessment } from '../core/risk-assessment.js';
import { compileClaimPath } from '../policy/claim-path.js';
import type { PolicyReads } from '../policy/policy-reads.js';

/** Version of the {@link ReplayRecord} shape; a reader refuses others. */
export const REPLAY_RECORD_VERSION = 1;

/**
 * What `idgate policy diff --replay` needs to evaluate a logged decision again, and nothing more
 * (docs/decision-log.md, "Replay records"): never the token, never a header or claim no rule reads.
 */
export interface ReplayRecord {
  readonly v: typeof REPLAY_RECORD_VERSION;
  /** The clock the policy evaluated at, epoch ms (time windows, token age). */
  readonly at: number;
  readonly request: {
    readonly method: string;
    readonly scheme: string;
    readonly host: string;
    /** Canonical path. */
    readonly path: string;
    /** The whole query when a CEL rule reads it; else only its `_method` parameters; absent when empty. */
    readonly query?: string;
    readonly sourceAddress: string;
    readonly sourcePrincipal?: string;
    readonly contextExtensions?: Readonly<Record<string, string>>;
    /** Only the headers the policy reads ({@link PolicyReads.headers}). */
    readonly headers?: Readonly<Record<string, string>>;
    /** The path could not be canonicalised (the reason is not kept). */
    readonly pathError?: true;
    readonly pathParameters?: 'raw' | 'encoded';
  };
  readonly auth:
    | { readonly kind: 'anonymous' }
    | { readonly kind: 'failed'; readonly code: Extract<AuthResult, { kind: 'failed' }>['code']; readonly issuer?: string }
    /** `issuer` is the configured issuer name; `claims` only those the policy references. */
    | { readonly kind: 'verified'; readonly issuer: string; readonly subject: string; readonly claims: Readonly<Record<string, unknown>> };
  readonly risk?: { readonly score: number; readonly signals: readonly string[] };
}

/** Builds replay records for one configuration's {@link PolicyReads}; the claim paths are compiled once. */
export function createReplayRecorder(reads: PolicyReads): (ctx: RequestContext, auth: AuthResult, risk: RiskAssessment | undefined, at: number) => ReplayRecord {
  const claimPaths = reads.claims.map(compileClaimPath);
  const headerNames = reads.headers;
  return (ctx, auth, risk, at) => {
    const headers: Record<string, string> = {};
    let anyHeader = false;
    for (const name of headerNames) {
      const value = ctx.headers[name];
      if (value !== undefined && Object.hasOwn(ctx.headers, name)) {
        headers[name] = value;
        anyHeader = true;
      }
    }
    const query = reads.query ? ctx.query : methodParameters(ctx.query);
    const ext = Object.keys(ctx.contextExtensions).length > 0 ? { contextExtensions: { ...ctx.contextExtensions } } : {};
    return {
      v: REPLAY_RECORD_VERSION,
      at,
      request: {
        method: ctx.method,
        scheme: ctx.scheme,
        host: ctx.host,
        path: ctx.path,
        ...(query !== '' ? { query } : {}),
        sourceAddress: ctx.sourceAddress,
        ...(ctx.sourcePrincipal !== '' ? { sourcePrincipal: ctx.sourcePrincipal } : {}),
        ...ext,
        ...(anyHeader ? { headers } : {}),
        ...(ctx.pathError !== undefined ? { pathError: true as const } : {}),
        ...(ctx.pathParameters !== undefined ? { pathParameters: ctx.pathParameters } : {}),
      },
      auth: authRecord(auth, claimPaths),
      ...(risk !== undefined ? { risk: { score: risk.score, signals: risk.signals.map((s) => s.name) } } : {}),
    };
  };
}

function authRecord(auth: AuthResult, paths: readonly ReturnType<typeof compileClaimPath>[]): ReplayRecord['auth'] {
  switch (auth.kind) {
    case 'anonymous':
      return { kind: 'anonymous' };
    case 'failed':
      return { kind: 'failed', code: auth.code, ...(auth.issuerName !== undefined ? { issuer: auth.issuerName } : {}) };
    case 'verified': {
      const { claims } = auth.principal;
      const kept: Record<string, unknown> = {};
      for (const path of paths) {
        // The same lookup as readClaim: a top-level name wins, else the dotted walk (only that branch is kept).
        if (Object.hasOwn(claims, path.name)) {
          kept[path.name] = claims[path.name];
          continue;
        }
        if (path.segments.length === 1) continue;
        let cur: unknown = claims;
        for (const segment of path.segments) {
          cur = cur !== null && typeof cur === 'object' && !Array.isArray(cur) && Object.hasOwn(cur, segment) ? (cur as Record<string, unknown>)[segment] : undefined;
        }
        if (cur === undefined) continue;
        let into = kept;
        path.segments.forEach((segment, i) => {
          if (i === path.segments.length - 1) {
            into[segment] = cur;
            return;
          }
          const next = Object.hasOwn(into, segment) ? into[segment] : undefined;
          into = (next !== null && typeof next === 'object' && !Array.isArray(next) ? next : (into[segment] = {})) as Record<string, unknown>;
        });
      }
      return { kind: 'verified', issuer: auth.principal.issuerName, subject: auth.principal.subject, claims: kept };
    }
    default:
      return { kind: 'anonymous' };
  }
}

/** The `_method` parameters of a raw query (what the method-override check reads), joined with `&`. */
function methodParameters(query: string): string {
  if (query === '' || !/method|%/i.test(query)) return '';
  return query
    .split(/[&;]/)
    .filter((pair) => {
      const eq = pair.indexOf('=');
      try {
        return decodeURIComponent((eq < 0 ? pair : pair.slice(0, eq)).replace(/\+/g, ' ')).toLowerCase() === '_method';
      } catch {
        return false;
      }
    })
    .join('&');
}
