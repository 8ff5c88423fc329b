import { constants, verify, type KeyObject } from 'node:crypto';
import { deepFreeze } from '../config/deep-freeze.js';

/**
 * The key jose would verify a token with, by header `alg` and `kid`, when it is already at hand
 * (see SyncKeyTable); undefined sends the token to jose's path.
 */
export type SyncKeyResolver = (alg: string, kid: unknown) => KeyObject | undefined;

/** A compact JWT's header and claims, parsed exactly as jose's decoders and verify parse them. */
export interface DecodedJwt {
  readonly header: Readonly<Record<string, unknown>>;
  readonly claims: Record<string, unknown>;
}

/** How `node:crypto.verify` checks one JWS `alg` (RFC 7518 §3). */
interface AlgParams {
  /** Digest name, or null for EdDSA (the hash is part of the scheme). */
  readonly hash: string | null;
  readonly pss?: true;
  /** ECDSA: the exact IEEE P1363 (r‖s) signature length; DER or any other length is refused. */
  readonly ecSignatureBytes?: number;
}

/** The asymmetric algorithms the sync path covers; everything else (HS*, Ed25519 alias, ML-DSA) is jose's. */
const ALGORITHMS: ReadonlyMap<string, AlgParams> = new Map<string, AlgParams>([
  ['RS256', { hash: 'sha256' }],
  ['RS384', { hash: 'sha384' }],
  ['RS512', { hash: 'sha512' }],
  ['PS256', { hash: 'sha256', pss: true }],
  ['PS384', { hash: 'sha384', pss: true }],
  ['PS512', { hash: 'sha512', pss: true }],
  ['ES256', { hash: 'sha256', ecSignatureBytes: 64 }],
  ['ES384', { hash: 'sha384', ecSignatureBytes: 96 }],
  ['ES512', { hash: 'sha512', ecSignatureBytes: 132 }],
  ['EdDSA', { hash: null }],
]);

/** Compact JWS: three base64url segments, the last possibly empty (an unsigned token, rejected later). */
export const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** jose decodes JOSE headers and claims with a fatal UTF-8 decoder (a leading BOM is dropped, as there). */
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Decodes the header and payload of a token that matches {@link COMPACT_JWS} the way jose does
 * (`decodeProtectedHeader`, `decodeJwt`, and `jwtVerify` after the signature): base64url, fatal UTF-8,
 * JSON, a plain object. jose's atob-based base64url refuses a segment of length 1 mod 4, which Buffer
 * would quietly shorten, so that is refused here too; on any other segment of this alphabet the bytes are
 * the same.
 *
 * @returns the parsed header and claims, or undefined exactly where jose's decoders throw.
 */
export function decodeCompactJwt(token: string): DecodedJwt | undefined {
  const firstDot = token.indexOf('.');
  const secondDot = token.indexOf('.', firstDot + 1);
  if (firstDot <= 0 || secondDot <= firstDot + 1) return undefined;
  if (firstDot % 4 === 1 || (secondDot - firstDot - 1) % 4 === 1) return undefined;
  const header = decodeHeader(token.slice(0, firstDot));
  if (header === undefined) return undefined;
  const claims = parseJsonObject(Buffer.from(token.slice(firstDot + 1, secondDot), 'base64url'));
  return claims === undefined ? undefined : { header, claims };
}

/** How many distinct header segments {@link decodeHeader} keeps (an issuer signs with a handful of keys). */
const KEPT_HEADERS = 4;
/** Longest header segment kept: a normal JOSE header is 40–150 characters; a bloated one is decoded every time. */
const MAX_KEPT_HEADER_CHARS = 512;
const keptSegments: string[] = [];
const keptHeaders: Readonly<Record<string, unknown>>[] = [];
let nextKept = 0;

/**
 * A header segment decoded as {@link decodeCompactJwt} does, once per distinct segment: every token an
 * issuer signs with one key carries the same header bytes, so a stream of cold tokens would otherwise
 * base64url-decode, UTF-8-decode and JSON-parse the same ~60 characters for each (~1 µs and ~300 bytes).
 * Kept by exact segment text (equal text, equal bytes, equal parse), frozen because it is shared between
 * tokens (nothing writes to a header). Only the last few are kept, so a flood of distinct headers costs a few
 * string comparisons per token, and what is held stays bounded: {@link KEPT_HEADERS} segments (slices of
 * their tokens, which preflightToken bounds) and their parsed headers.
 */
function decodeHeader(segment: string): Readonly<Record<string, unknown>> | undefined {
  for (let i = 0; i < keptSegments.length; i++) if (keptSegments[i] === segment) return keptHeaders[i];
  const header = parseJsonObject(Buffer.from(segment, 'base64url'));
  if (header === undefined || segment.length > MAX_KEPT_HEADER_CHARS) return header;
  keptSegments[nextKept] = segment;
  keptHeaders[nextKept] = deepFreeze(header);
  nextKept = (nextKept + 1) % KEPT_HEADERS;
  return header;
}

/**
 * The synchronous signature check of the common case, for a token jose would handle the same way:
 * compact JWS, a JSON-object header without `crit` or `b64`, a string `alg` in the issuer's allowlist and
 * in {@link ALGORITHMS}, a JSON-object payload, and a key already resolved for its `alg`/`kid`. The
 * signature is verified with `node:crypto.verify` on the calling thread (WebCrypto, which jose uses,
 * queues each verify on the libuv pool: on one core that hop costs more than the verify itself).
 *
 * Anything outside that case answers `undefined` and the caller asks jose, which then produces its own
 * error for it; so this function can only ever reject a bad signature or pass a token that jose would
 * pass as well.
 *
 * @param algorithms the issuer's `alg` allowlist.
 * @param decoded this very token's {@link decodeCompactJwt}, when the caller already has it.
 * @returns the header and claims of a token whose signature verified, `'bad_signature'` (jose's
 *   ERR_JWS_SIGNATURE_VERIFICATION_FAILED), or undefined (defer to jose).
 */
export function verifyJwsSync(
  token: string,
  algorithms: readonly string[],
  resolveKey: SyncKeyResolver,
  decoded?: DecodedJwt,
): DecodedJwt | 'bad_signature' | undefined {
  if (!COMPACT_JWS.test(token)) return undefined;
  const secondDot = token.lastIndexOf('.');
  const signatureLength = token.length - secondDot - 1;
  // The empty signature and jose's base64url refusals are jose's to word.
  if (signatureLength === 0 || signatureLength % 4 === 1) return undefined;
  const jwt = decoded ?? decodeCompactJwt(token);
  if (jwt === undefined) return undefined;
  const { header } = jwt;
  if (header.crit !== undefined || header.b64 !== undefined) return undefined;
  const { alg } = header;
  if (typeof alg !== 'string' || !algorithms.includes(alg)) return undefined;
  const params = ALGORITHMS.get(alg);
  if (params === undefined) return undefined;
  const key = resolveKey(alg, header.kid);
  if (key === undefined) return undefined;

  const signature = Buffer.from(token.slice(secondDot + 1), 'base64url');
  if (params.ecSignatureBytes !== undefined && signature.length !== params.ecSignatureBytes) return 'bad_signature';
  const signingInput = Buffer.from(token.slice(0, secondDot), 'latin1');
  let ok: boolean;
  try {
    ok = verify(params.hash, signingInput, keyInput(key, params), signature);
  } catch {
    return undefined;
  }
  return ok ? jwt : 'bad_signature';
}

function keyInput(key: KeyObject, params: AlgParams) {
  if (params.pss === true) {
    // RFC 7518 §3.5: salt length = hash length (what WebCrypto's RSA-PSS params in jose say).
    return { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST };
  }
  if (params.ecSignatureBytes !== undefined) return { key, dsaEncoding: 'ieee-p1363' as const };
  return key;
}

/**
 * UTF-8 (fatal) + JSON.parse + jose's `isObject` (a plain object: not an array, not a class instance).
 * @returns the object, or undefined when jose would refuse it.
 */
export function parseJsonObject(bytes: Uint8Array): Record<string, unknown> | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(strictUtf8.decode(bytes));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Object.prototype.toString.call(parsed) !== '[object Object]') {
    return undefined;
  }
  const prototype = Object.getPrototypeOf(parsed) as object | null;
  return prototype === null || Object.getPrototypeOf(prototype) === null ? (parsed as Record<string, unknown>) : undefined;
}
