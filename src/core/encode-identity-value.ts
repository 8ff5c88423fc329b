/**
 * The one wire encoding of identity values (subject, issuer, mapped claims) in upstream headers and in the
 * dynamic metadata, identical from the gRPC and the HTTP front end.
 *
 * Every UTF-8 byte outside visible ASCII (`!` 0x21 … `~` 0x7E) is written as `%XX` (upper-case hex), and so
 * are `%` itself (so the encoding is reversible) and `,` (so a comma inside a value never reads as a list
 * separator: array claims are their encoded items joined with `,`). Plain ASCII identifiers pass unchanged
 * (`test:alice`, `alice@example.com`); `José` becomes `Jos%C3%A9`, `中` `%E4%B8%AD`, a space `%20`. An
 * upstream decodes with `decodeURIComponent` (per item, after splitting on `,`, for list headers); the result
 * is exactly the claim.
 *
 * Why: header values are bytes. Node's HTTP server refuses anything above U+00FF (and wrote Latin-1
 * below it) while the gRPC API carries UTF-8, so the same subject used to reach the upstream as different
 * bytes, or crash the HTTP front end; leading and trailing spaces are trimmed by HTTP parsers, and raw
 * non-ASCII is read differently by every upstream framework. Visible ASCII is read the same everywhere.
 */
export function encodeIdentityValue(value: string): string | undefined {
  if (!isRepresentable(value)) return undefined;
  return percentEncode(value);
}

/**
 * Whether a value can be carried losslessly: no lone surrogate (not a Unicode scalar sequence, so it has no
 * UTF-8 form) and no control character (C0, DEL or C1: never part of a legitimate identity, and the C0 ones
 * are header injection material). Such values are refused, never altered.
 */
export function isRepresentable(value: string): boolean {
  return !UNREPRESENTABLE.test(value);
}

/**
 * Last-resort form for a header value of unknown origin: visible ASCII, space and tab pass, everything else
 * is percent-encoded as UTF-8 (a lone surrogate as U+FFFD, `%EF%BF%BD`). Total and never throws, so a
 * value that slipped past {@link encodeIdentityValue} can neither crash a front end nor inject a header.
 * Values already in the identity encoding are returned unchanged.
 */
export function toHeaderSafe(value: string): string {
  return HEADER_UNSAFE.test(value) ? value.replace(HEADER_UNSAFE_RUNS, (run) => hexBytes(toWellFormed(run))) : value;
}

/** Replaces each lone surrogate with U+FFFD (as `String.prototype.toWellFormed`, which ES2023 lacks). */
export function toWellFormed(value: string): string {
  return LONE_SURROGATE.test(value) ? value.replace(LONE_SURROGATES, '\ufffd') : value;
}

// \p{Cs} in `u` mode matches only unpaired surrogates; \p{Cc} is C0, DEL and C1.
const UNREPRESENTABLE = /[\p{Cs}\p{Cc}]/u;
const LONE_SURROGATE = /\p{Cs}/u;
const LONE_SURROGATES = /\p{Cs}/gu;
const HEADER_UNSAFE = /[^\t\x20-\x7e]/;
const HEADER_UNSAFE_RUNS = /[^\t\x20-\x7e]+/g;
const NEEDS_ENCODING = /[^\x21-\x24\x26-\x2b\x2d-\x7e]/;
const NEEDS_ENCODING_RUNS = /[^\x21-\x24\x26-\x2b\x2d-\x7e]+/g;

function percentEncode(value: string): string {
  return NEEDS_ENCODING.test(value) ? value.replace(NEEDS_ENCODING_RUNS, hexBytes) : value;
}

const HEX = '0123456789ABCDEF';

function hexBytes(run: string): string {
  let out = '';
  for (const byte of Buffer.from(run, 'utf8')) out += '%' + HEX[byte >> 4] + HEX[byte & 15];
  return out;
}
