import type { RequestContext } from '../core/request-context.js';
import type { Principal } from '../core/principal.js';
import type { CidrSet } from '../net/create-cidr-set.js';
import { resolveClientAddress } from '../net/resolve-client-address.js';
import type { RiskAssessment } from '../core/risk-assessment.js';
import type { CelBindings } from '../cel/compile-cel.js';

/** Most request headers bound to `request.headers` in CEL. */
const MAX_BOUND_HEADERS = 64;
/** Longest header value bound to CEL; longer values are left out (reading them is an evaluation error). */
const MAX_BOUND_HEADER_LENGTH = 4096;
/** Headers never bound to CEL: credentials. */
const CREDENTIAL_HEADERS = ['authorization', 'proxy-authorization', 'cookie'];

/**
 * What the context stage reads about one request, each computed at most once and only when a condition
 * asks (so routes without conditions pay nothing).
 */
export interface RequestFacts {
  readonly ctx: RequestContext;
  readonly principal: Principal | undefined;
  /** Epoch ms of the decision. */
  readonly now: number;
  readonly risk: RiskAssessment | undefined;
  /** The client address (canonical text), or `''` when unknown. */
  clientAddress(): string;
  /** The upper-case ISO country from the trusted country header, or undefined when absent or malformed. */
  country(): string | undefined;
  /** The CEL variables for this request. */
  celBindings(): CelBindings;
}

/** Policy-wide settings of {@link createRequestFacts}. */
export interface RequestFactsSettings {
  /** Proxies whose `x-forwarded-for` is believed (`network.trustedProxies`). */
  readonly trustedProxies: CidrSet;
  /** `context.countryHeader`. */
  readonly countryHeader?: string;
  /** Further header names kept out of CEL (token source headers). */
  readonly secretHeaders: readonly string[];
}

/**
 * Returns a factory of per-request {@link RequestFacts}.
 *
 * Client address: the front ends differ — the HTTP authorization mode has already resolved
 * `x-forwarded-for` against `network.trustedProxies`, while over gRPC `sourceAddress` is whatever Envoy
 * reports as the downstream address (the load balancer in front of Envoy, unless Envoy itself was told to
 * trust forwarded hops). So the policy resolves again with the same rule: the resolution is idempotent
 * (an already resolved address is untrusted, or the same trusted hop is found again), and a client that
 * prepends fake hops or talks to us from an untrusted peer never moves the answer.
 */
export function createRequestFacts(settings: RequestFactsSettings): (
  ctx: RequestContext,
  principal: Principal | undefined,
  now: number,
  risk: RiskAssessment | undefined,
) => RequestFacts {
  const hidden = new Set([...CREDENTIAL_HEADERS, ...settings.secretHeaders.map((h) => h.toLowerCase())]);
  const { countryHeader, trustedProxies } = settings;

  return (ctx, principal, now, risk) => {
    let address: string | undefined;
    let country: string | null | undefined;
    let bindings: CelBindings | undefined;
    const facts: RequestFacts = {
      ctx,
      principal,
      now,
      risk,
      clientAddress() {
        address ??= resolveClientAddress({ peer: ctx.sourceAddress, xForwardedFor: ctx.headers['x-forwarded-for'], trustedProxies });
        return address;
      },
      country() {
        if (country === undefined) {
          const raw = countryHeader === undefined ? undefined : ctx.headers[countryHeader];
          const code = raw?.trim().toUpperCase();
          country = code !== undefined && /^[A-Z]{2}$/.test(code) ? code : null;
        }
        return country ?? undefined;
      },
      celBindings() {
        bindings ??= {
          request: {
            method: ctx.method,
            host: ctx.host,
            path: ctx.path,
            query: ctx.query,
            scheme: ctx.scheme,
            headers: boundHeaders(ctx.headers, hidden),
            sourceIp: facts.clientAddress(),
            country: facts.country() ?? '',
            // The caller workload's SPIFFE ID from mTLS (gRPC mode), '' when none.
            principal: ctx.sourcePrincipal,
          },
          claims: (principal?.claims ?? {}) as CelBindings['claims'],
          context: ctx.contextExtensions,
          // Verdicts are looked up after the policy (verification/), so conditions see none yet.
          verification: {},
          risk: {
            assessed: risk !== undefined,
            score: risk?.score ?? 0,
            signals: (risk?.signals ?? []).map((s) => s.name),
          },
        };
        return bindings;
      },
    };
    return facts;
  };
}

function boundHeaders(headers: Readonly<Record<string, string>>, hidden: ReadonlySet<string>): Record<string, string> {
  const out: Record<string, string> = {};
  let count = 0;
  for (const name in headers) {
    if (!Object.hasOwn(headers, name) || name.startsWith(':') || hidden.has(name)) continue;
    const value = headers[name];
    if (value === undefined || value.length > MAX_BOUND_HEADER_LENGTH) continue;
    out[name] = value;
    if (++count >= MAX_BOUND_HEADERS) break;
  }
  return out;
}
