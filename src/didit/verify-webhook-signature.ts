import { createHmac, timingSafeEqual } from 'node:crypto';
import { CanonicalJsonError, parseSignedJson, type SignedJson } from './canonical-json.js';

/** Input of {@link verifyWebhookSignature}. */
export interface VerifyWebhookSignatureOptions {
  /** The exact request body bytes as received. */
  readonly rawBody: Buffer;
  /** Request headers with lower-case names (`x-signature`, `x-signature-v2`, `x-signature-simple`, `x-timestamp`). */
  readonly headers: Readonly<Record<string, string | undefined>>;
  /** Accepted webhook secrets, current first, then the previous one during rotation. Used as UTF-8 bytes. */
  readonly secrets: readonly string[];
  /** Current time, epoch ms. */
  readonly now: number;
  /** Largest accepted difference between `now` and the timestamps, either direction (default 300 000 ms). */
  readonly toleranceMs?: number;
  /**
   * Oldest accepted event `timestamp` in the signed body (default `toleranceMs` + 10 min). Didit retries a
   * delivery twice within about five minutes, and whether a retry carries a fresh body timestamp is not
   * documented: a retry must not be refused as stale. Replays inside this window are harmless because
   * verdict writes are ordered and de-duplicated.
   */
  readonly maxEventAgeMs?: number;
}

/** Which of Didit's three signatures authenticated the delivery. */
export type WebhookSignatureMethod = 'raw' | 'v2' | 'simple';

/** Why a delivery was rejected. */
export type WebhookSignatureFailure =
  | 'missing_signature'
  | 'bad_signature'
  | 'stale_timestamp'
  | 'bad_timestamp'
  | 'malformed_body';

/** Result of {@link verifyWebhookSignature}. */
export type WebhookSignatureResult =
  | {
      readonly ok: true;
      readonly method: WebhookSignatureMethod;
      /** The parsed body (not yet shape-checked; see `parseWebhookPayload`). */
      readonly payload: unknown;
      /**
       * True when only `X-Signature-Simple` matched: it covers timestamp, session id, status and type, not
       * `decision`, `vendor_data` or `metadata`, so those must be re-fetched from the decision endpoint.
       */
      readonly needsRefetch: boolean;
      /** Index in `secrets` of the secret that matched (> 0 means a previous secret is still in use). */
      readonly secretIndex: number;
    }
  | { readonly ok: false; readonly reason: WebhookSignatureFailure };

const DEFAULT_TOLERANCE_MS = 300_000;
/** Didit's two retries land within about five minutes of the first attempt; allow that and some slack. */
const RETRY_WINDOW_MS = 600_000;
const SIGNATURE_HEX = /^[0-9a-fA-F]{64}$/;
const TIMESTAMP = /^\d{1,15}$/;

/**
 * Authenticates a Didit webhook delivery.
 *
 * 1. At least one signature header must be present (`missing_signature`), and `X-Timestamp` must be
 *    integer Unix seconds (`bad_timestamp`) within `toleranceMs` of `now`, past or future (`stale_timestamp`).
 * 2. `X-Signature`: HMAC-SHA256 over the raw bytes; else `X-Signature-V2`: over the canonical
 *    re-serialisation of the body (see `canonicalJson`); else `X-Signature-Simple`: over
 *    `timestamp:session_id:status:webhook_type` taken from the body (missing values empty), which yields
 *    `needsRefetch: true`. Each is tried with every secret and compared in constant time; a signature that
 *    is not 64 hex digits simply does not match. None matching → `bad_signature`.
 * 3. The body must be UTF-8 JSON (`malformed_body`) and its own `timestamp` must be a number within the
 *    tolerance too (`bad_timestamp` / `stale_timestamp`): no signature covers the `X-Timestamp` header,
 *    so only the signed body timestamp stops the replay of an old delivery under a fresh header.
 *
 * Never throws for bad input.
 *
 * @throws TypeError when `secrets` is empty or holds an empty string (a configuration error).
 */
export function verifyWebhookSignature(options: VerifyWebhookSignatureOptions): WebhookSignatureResult {
  const { rawBody, headers, secrets, now } = options;
  const toleranceMs = options.toleranceMs ?? DEFAULT_TOLERANCE_MS;
  if (secrets.length === 0 || secrets.some((s) => s.length === 0)) {
    throw new TypeError('verifyWebhookSignature needs at least one non-empty secret');
  }

  const raw = headers['x-signature'];
  const v2 = headers['x-signature-v2'];
  const simple = headers['x-signature-simple'];
  if (raw === undefined && v2 === undefined && simple === undefined) return { ok: false, reason: 'missing_signature' };

  const headerTimestamp = headers['x-timestamp']?.trim();
  if (headerTimestamp === undefined || !TIMESTAMP.test(headerTimestamp)) return { ok: false, reason: 'bad_timestamp' };
  if (!isFresh(Number(headerTimestamp), now, toleranceMs)) return { ok: false, reason: 'stale_timestamp' };

  let parsed: SignedJson | undefined;
  let parseFailed = false;
  const parse = (): SignedJson | undefined => {
    if (parsed === undefined && !parseFailed) {
      parsed = parseBody(rawBody);
      parseFailed = parsed === undefined;
    }
    return parsed;
  };

  let method: WebhookSignatureMethod | undefined;
  let secretIndex = -1;
  if (raw !== undefined) {
    secretIndex = matchingSecret(secrets, rawBody, raw);
    if (secretIndex >= 0) method = 'raw';
  }
  if (method === undefined && v2 !== undefined) {
    const body = parse();
    if (body === undefined) return { ok: false, reason: 'malformed_body' };
    secretIndex = matchingSecret(secrets, Buffer.from(body.canonical, 'utf8'), v2);
    if (secretIndex >= 0) method = 'v2';
  }
  if (method === undefined && simple !== undefined) {
    const body = parse();
    if (body === undefined) return { ok: false, reason: 'malformed_body' };
    secretIndex = matchingSecret(secrets, Buffer.from(simpleMessage(body.value), 'utf8'), simple);
    if (secretIndex >= 0) method = 'simple';
  }
  if (method === undefined) return { ok: false, reason: 'bad_signature' };

  const body = parse();
  if (body === undefined) return { ok: false, reason: 'malformed_body' };
  const bodyTimestamp = isRecord(body.value) ? body.value.timestamp : undefined;
  if (typeof bodyTimestamp !== 'number' || !Number.isFinite(bodyTimestamp)) return { ok: false, reason: 'bad_timestamp' };
  const maxEventAgeMs = options.maxEventAgeMs ?? toleranceMs + RETRY_WINDOW_MS;
  const eventAgeMs = now - bodyTimestamp * 1000;
  if (eventAgeMs > maxEventAgeMs || -eventAgeMs > toleranceMs) return { ok: false, reason: 'stale_timestamp' };

  return { ok: true, method, payload: body.value, needsRefetch: method === 'simple', secretIndex };
}

function isFresh(seconds: number, now: number, toleranceMs: number): boolean {
  return Math.abs(now - seconds * 1000) <= toleranceMs;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function parseBody(rawBody: Buffer): SignedJson | undefined {
  let text: string;
  try {
    text = utf8.decode(rawBody);
  } catch {
    return undefined;
  }
  try {
    return parseSignedJson(text);
  } catch (err) {
    if (err instanceof CanonicalJsonError) return undefined;
    throw err;
  }
}

/** The `X-Signature-Simple` message; values come from the parsed body, a missing one is empty. */
function simpleMessage(value: unknown): string {
  const body = isRecord(value) ? value : {};
  return [body.timestamp, body.session_id, body.status, body.webhook_type].map(field).join(':');
}

function field(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isInteger(value)) return BigInt(value).toString();
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return '';
}

/** Index of the first secret whose HMAC of `message` equals `signatureHex`, else -1; constant time per secret. */
function matchingSecret(secrets: readonly string[], message: Buffer, signatureHex: string): number {
  const candidate = signatureHex.trim();
  if (!SIGNATURE_HEX.test(candidate)) return -1;
  const provided = Buffer.from(candidate, 'hex');
  let found = -1;
  for (let i = 0; i < secrets.length; i++) {
    const expected = createHmac('sha256', Buffer.from(secrets[i] as string, 'utf8')).update(message).digest();
    if (expected.length === provided.length && timingSafeEqual(expected, provided) && found < 0) found = i;
  }
  return found;
}
