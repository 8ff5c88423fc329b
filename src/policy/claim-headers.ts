import { compileClaimPath, readClaim, type ClaimPath } from './claim-path.js';
import type { TraceStep } from './outcome.js';

/** Longest header value passed upstream, UTF-8 bytes. Longer values are dropped, never truncated. */
export const MAX_CLAIM_HEADER_BYTES = 1024;

/** Builds the upstream headers a route maps from claims; records dropped values in `trace`. */
export type ClaimHeaderMapper = (claims: Readonly<Record<string, unknown>>, trace: TraceStep[]) => Readonly<Record<string, string>>;

const EMPTY: Readonly<Record<string, string>> = Object.freeze({});

/**
 * Compiles `claimHeaders` (header → claim path). Strings pass as they are, numbers and booleans as text,
 * arrays of those comma-joined; objects, null and absent claims produce no header. A value containing a
 * control character (CR, LF, NUL…) or longer than {@link MAX_CLAIM_HEADER_BYTES} is dropped: truncating
 * could turn `administrators-readonly` into something an upstream trusts.
 */
export function compileClaimHeaders(mapping: Readonly<Record<string, string>>): ClaimHeaderMapper {
  const entries: readonly (readonly [string, ClaimPath])[] = Object.entries(mapping).map(([h, c]) => [h, compileClaimPath(c)]);
  if (entries.length === 0) return () => EMPTY;
  return (claims, trace) => {
    const headers: Record<string, string> = {};
    for (const [header, path] of entries) {
      const value = headerValue(readClaim(claims, path));
      if (value === undefined) continue;
      if (CONTROL_CHARS.test(value)) {
        trace.push({ step: 'headers', result: 'info', detail: `${header} dropped: claim ${path.name} contains control characters` });
      } else if (utf8Length(value) > MAX_CLAIM_HEADER_BYTES) {
        trace.push({ step: 'headers', result: 'info', detail: `${header} dropped: claim ${path.name} is longer than ${MAX_CLAIM_HEADER_BYTES} bytes` });
      } else {
        headers[header] = value;
      }
    }
    return headers;
  };
}

// Everything below 0x20 except HTAB, and DEL: not allowed in a field value (RFC 9110 §5.5).
const CONTROL_CHARS = /[\u0000-\u0008\u000a-\u001f\u007f]/;

function scalarText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return undefined;
}

function headerValue(v: unknown): string | undefined {
  if (!Array.isArray(v)) return scalarText(v);
  const parts: string[] = [];
  for (const item of v) {
    const text = scalarText(item);
    if (text === undefined) return undefined;
    parts.push(text);
  }
  return parts.length === 0 ? undefined : parts.join(',');
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
