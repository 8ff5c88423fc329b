import { KeyObject } from 'node:crypto';
import type { CompactJWSHeaderParameters, CryptoKey, FlattenedJWSInput } from 'jose';

/** jose's local key set resolver (what `createLocalJWKSet` returns). */
type LocalKeySet = (header: CompactJWSHeaderParameters, token?: FlattenedJWSInput) => Promise<CryptoKey>;

/** Imports started and not yet settled; bounds the work a flood of unknown `kid`s can queue. */
const MAX_PENDING_IMPORTS = 64;

/** The smallest RSA modulus jose verifies with (`checkModulusLength`); smaller keys stay on jose's path. */
const MIN_RSA_BITS = 2048;

/**
 * `node:crypto` KeyObjects for one installed key set, by (`alg`, `kid`), for the synchronous verify path.
 *
 * The key is never chosen here: a miss asks jose's own local key set for the (`alg`, `kid`) pair — the
 * same candidate filter (`kty`, `crv`, `use`, `key_ops`, `alg`, `kid`) and the same import jose's verify
 * path uses — and keeps `KeyObject.from(thatCryptoKey)` only when jose resolved exactly one public key.
 * A pair jose cannot resolve (no key, several candidates, an unusable JWK) is never stored, so the sync
 * path keeps deferring it to jose. Entries are bounded by (keys + 1) × algorithms; a new key set gets a
 * new table.
 */
export class SyncKeyTable {
  readonly #keySet: LocalKeySet;
  /** By `alg`, then `kid` (undefined: a token without one): no lookup string is built per token. */
  readonly #keys = new Map<string, Map<string | undefined, KeyObject>>();
  readonly #pending = new Set<string>();

  constructor(keySet: LocalKeySet) {
    this.#keySet = keySet;
  }

  /**
   * @param alg the token's `alg` (already checked against the issuer's allowlist and a supported one).
   * @param kid the token header's `kid`, unverified.
   * @returns the key jose would verify this token with, or undefined (not imported yet, or not resolvable
   *   to exactly one key): the caller then takes jose's path. A miss starts the import in the background.
   */
  get(alg: string, kid: unknown): KeyObject | undefined {
    // jose matches only a string kid; anything else resolves to no key, which jose reports itself.
    if (kid !== undefined && typeof kid !== 'string') return undefined;
    const key = this.#keys.get(alg)?.get(kid);
    if (key === undefined) this.#import(alg, kid);
    return key;
  }

  #import(alg: string, kid: string | undefined): void {
    // alg comes from a fixed list without NUL, so the two forms never collide.
    const id = kid === undefined ? alg : `${alg}\u0000${kid}`;
    if (this.#pending.has(id) || this.#pending.size >= MAX_PENDING_IMPORTS) return;
    this.#pending.add(id);
    this.#keySet(kid === undefined ? { alg } : { alg, kid })
      .then((cryptoKey) => {
        if (cryptoKey.type !== 'public') return;
        const modulusLength = (cryptoKey.algorithm as { modulusLength?: unknown }).modulusLength;
        if ((alg.startsWith('RS') || alg.startsWith('PS')) && !(typeof modulusLength === 'number' && modulusLength >= MIN_RSA_BITS)) {
          return;
        }
        let byKid = this.#keys.get(alg);
        if (byKid === undefined) {
          byKid = new Map();
          this.#keys.set(alg, byKid);
        }
        byKid.set(kid, KeyObject.from(cryptoKey));
      })
      // No key, several keys, an unusable JWK: jose's path answers those tokens with its own error.
      .catch(() => undefined)
      .finally(() => this.#pending.delete(id));
  }
}
