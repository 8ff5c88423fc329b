/**
 * A verified caller: the result of checking a token against one configured issuer.
 * Only `identity/` creates principals; everything downstream trusts them.
 */
export interface Principal {
  /** The configured issuer's short name (from config), e.g. `corp`. */
  readonly issuerName: string;
  /** The token's `iss` claim (the issuer URL). */
  readonly issuer: string;
  /** The subject claim's raw value (by default `sub`). */
  readonly sub: string;
  /**
   * `<issuer name>:<sub>` — the stable subject key: Didit `vendor_data`, verdict key and log field.
   */
  readonly subject: string;
  /** All verified claims of the token payload. */
  readonly claims: Readonly<Record<string, unknown>>;
  /** Token expiry, epoch seconds (`exp`), when present. */
  readonly expiresAt?: number;
  /** Where the token came from. */
  readonly source: 'header' | 'cookie' | 'metadata';
  /** A short stable fingerprint of the token (hash prefix), safe to log; never the token itself. */
  readonly tokenId: string;
}
