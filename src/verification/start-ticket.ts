import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';

/** What a start ticket grants: opening idgate's start URL creates or reuses this subject's session. */
export interface StartTicketClaims {
  /** `<issuer name>:<sub>` — kept encrypted inside the ticket, never visible in the URL. */
  readonly subject: string;
  /** Policy-level workflow name. */
  readonly workflow: string;
  /** Where the callback sends the browser once verified (validated again when used). */
  readonly returnTo?: string;
}

/** Why a ticket was refused. `invalid` covers malformed, tampered and foreign (another key) tickets. */
export type StartTicketError = 'invalid' | 'expired';

export type StartTicketResult =
  | { readonly ok: true; readonly claims: StartTicketClaims; readonly expiresAt: number }
  | { readonly ok: false; readonly reason: StartTicketError };

export interface StartTickets {
  /** A fresh ticket (URL-safe, unguessable: 128-bit random IV) valid for the configured TTL. */
  issue(claims: StartTicketClaims): string;
  /** Verifies (HMAC, constant time, current then previous key), decrypts and checks expiry. Never throws. */
  verify(ticket: string): StartTicketResult;
}

export interface StartTicketOptions {
  /** The current secret first, then (during a roll) the previous one. At least one, each ≥ 16 chars. */
  readonly secrets: readonly string[];
  /** How long a ticket is valid, ms (default 10 min). */
  readonly ttlMs?: number;
}

/** The longest return target kept in a ticket; longer ones are dropped (the callback then shows a page). */
const MAX_RETURN_TO = 2048;
/** The longest ticket accepted (a bound on work for hostile input). */
export const MAX_TICKET_CHARS = 4096;
const VERSION = 1;
const IV_BYTES = 16;
const MAC_BYTES = 32;
const TICKET_CHARS = /^[A-Za-z0-9_-]+$/;

/** Whether `s` has the shape of a ticket (charset and length; says nothing about its signature). */
export function isTicketShaped(s: string): boolean {
  return s.length > 0 && s.length <= MAX_TICKET_CHARS && TICKET_CHARS.test(s);
}

interface KeyPair {
  readonly enc: Buffer;
  readonly mac: Buffer;
}

function deriveKeys(secret: string): KeyPair {
  const ikm = Buffer.from(secret, 'utf8');
  const derive = (label: string) => Buffer.from(hkdfSync('sha256', ikm, 'idgate', `idgate step-up ticket v1 ${label}`, 32));
  return { enc: derive('enc'), mac: derive('mac') };
}

/**
 * Step-up start tickets: the capability in `<public.baseUrl>/verification/start/<ticket>` that a Check
 * hands out when the caller's Didit session is not ready yet.
 *
 * Format (base64url): `version(1) | iv(16) | AES-256-CTR(json) | HMAC-SHA256(version|iv|ciphertext)`.
 * Encrypt-then-MAC with two keys derived by HKDF from the configured secret: the MAC makes the ticket
 * unforgeable and binds subject, workflow, return target and expiry; the encryption keeps the subject
 * (`<issuer>:<sub>`, which can be an e-mail address) and the return URL out of browser history, proxy
 * logs and Referer headers. Verification tries every configured secret, so a key roll accepts tickets
 * signed with the previous secret until they expire.
 * @throws TypeError when no usable secret is given.
 */
export function createStartTickets(deps: { clock?: () => number }, options: StartTicketOptions): StartTickets {
  const clock = deps.clock ?? Date.now;
  const ttlMs = options.ttlMs ?? 600_000;
  if (options.secrets.length === 0) throw new TypeError('start tickets need at least one secret');
  for (const s of options.secrets) {
    if (s.length < 16) throw new TypeError('a start-ticket secret must be at least 16 characters');
  }
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new TypeError('ttlMs must be a positive number');
  const keys = options.secrets.map(deriveKeys);
  const current = keys[0] as KeyPair;

  function mac(key: KeyPair, signed: Buffer): Buffer {
    return createHmac('sha256', key.mac).update(signed).digest();
  }

  return {
    issue(claims) {
      const body: Record<string, unknown> = { s: claims.subject, w: claims.workflow, x: clock() + ttlMs };
      if (claims.returnTo !== undefined && claims.returnTo.length <= MAX_RETURN_TO) body.r = claims.returnTo;
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-ctr', current.enc, iv);
      const ct = Buffer.concat([cipher.update(JSON.stringify(body), 'utf8'), cipher.final()]);
      const signed = Buffer.concat([Buffer.from([VERSION]), iv, ct]);
      return Buffer.concat([signed, mac(current, signed)]).toString('base64url');
    },

    verify(ticket) {
      if (!isTicketShaped(ticket)) {
        return { ok: false, reason: 'invalid' };
      }
      const raw = Buffer.from(ticket, 'base64url');
      if (raw.length < 1 + IV_BYTES + 1 + MAC_BYTES || raw[0] !== VERSION) return { ok: false, reason: 'invalid' };
      const signed = raw.subarray(0, raw.length - MAC_BYTES);
      const given = raw.subarray(raw.length - MAC_BYTES);
      let matched: KeyPair | undefined;
      for (const key of keys) {
        // Constant-time comparison; every key is tried so timing does not tell which one matched.
        if (timingSafeEqual(mac(key, signed), given) && matched === undefined) matched = key;
      }
      if (matched === undefined) return { ok: false, reason: 'invalid' };
      let body: unknown;
      try {
        const decipher = createDecipheriv('aes-256-ctr', matched.enc, signed.subarray(1, 1 + IV_BYTES));
        const plain = Buffer.concat([decipher.update(signed.subarray(1 + IV_BYTES)), decipher.final()]);
        body = JSON.parse(plain.toString('utf8'));
      } catch {
        return { ok: false, reason: 'invalid' };
      }
      if (typeof body !== 'object' || body === null) return { ok: false, reason: 'invalid' };
      const { s, w, r, x } = body as Record<string, unknown>;
      if (typeof s !== 'string' || typeof w !== 'string' || typeof x !== 'number' || (r !== undefined && typeof r !== 'string')) {
        return { ok: false, reason: 'invalid' };
      }
      if (!(x > clock())) return { ok: false, reason: 'expired' };
      return { ok: true, claims: { subject: s, workflow: w, ...(r !== undefined ? { returnTo: r } : {}) }, expiresAt: x };
    },
  };
}
