import { compileClaimPath, readClaim, type ClaimPath } from './claim-path.js';
import { encodeIdentityValue, isRepresentable } from '../core/encode-identity-value.js';
import type { TraceStep } from '../core/outcome.js';

/** Longest header value passed upstream, UTF-8 bytes. Longer values are dropped, never truncated. */
export const MAX_CLAIM_HEADER_BYTES = 1024;

/**
 * Builds the upstream headers a route maps from claims (values in the identity encoding); records dropped
 * values in `trace`. Returns undefined when a mapped claim holds a value that cannot be represented (a lone
 * surrogate or a control character): the policy refuses the request (`claims_invalid`).
 */
export type ClaimHeaderMapper = (
  claims: Readonly<Record<string, unknown>>,
  trace: TraceStep[],
) => Readonly<Record<string, string>> | undefined;

const EMPTY: Readonly<Record<string, string>> = Object.freeze({});

/**
 * Compiles `claimHeaders` (header → claim path). Strings, numbers and booleans (as text) are written in the
 * identity encoding ({@link encodeIdentityValue}: percent-encoded UTF-8 outside visible ASCII, plus `%` and
 * `,`); arrays of those as their encoded items joined with `,`; objects, null and absent claims produce no
 * header. A value longer than {@link MAX_CLAIM_HEADER_BYTES} (UTF-8, before encoding) is dropped:
 * truncating could turn `administrators-readonly` into something an upstream trusts. A value with a lone
 * surrogate or a control character (CR, LF, NUL, C1…) refuses the whole mapping (undefined): passing it
 * altered would not be the claim, and dropping it silently would hide an attack.
 */
export function compileClaimHeaders(mapping: Readonly<Record<string, string>>): ClaimHeaderMapper {
  const entries: readonly (readonly [string, ClaimPath])[] = Object.entries(mapping).map(([h, c]) => [h, compileClaimPath(c)]);
  if (entries.length === 0) return () => EMPTY;
  return (claims, trace) => {
    const headers: Record<string, string> = {};
    for (const [header, path] of entries) {
      const items = headerItems(readClaim(claims, path));
      if (items === undefined) continue;
      if (!items.every(isRepresentable)) {
        trace.push({ step: 'headers', result: 'fail', detail: `${header}: claim ${path.name} contains a control character or a lone surrogate` });
        return undefined;
      }
      if (items.reduce((n, item) => n + utf8Length(item), items.length - 1) > MAX_CLAIM_HEADER_BYTES) {
        trace.push({ step: 'headers', result: 'info', detail: `${header} dropped: claim ${path.name} is longer than ${MAX_CLAIM_HEADER_BYTES} bytes` });
      } else {
        headers[header] = items.map((item) => encodeIdentityValue(item) as string).join(',');
      }
    }
    return headers;
  };
}

function scalarText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return undefined;
}

/** The claim as text items: one for a scalar, one per element for an array of scalars; else undefined. */
function headerItems(v: unknown): readonly string[] | undefined {
  if (!Array.isArray(v)) {
    const text = scalarText(v);
    return text === undefined ? undefined : [text];
  }
  const parts: string[] = [];
  for (const item of v) {
    const text = scalarText(item);
    if (text === undefined) return undefined;
    parts.push(text);
  }
  return parts.length === 0 ? undefined : parts;
}

function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}
