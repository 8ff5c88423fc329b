/** The default key prefix: versioned so a future layout can live beside this one. */
export const DEFAULT_KEY_PREFIX = 'idgate:v1:';

/**
 * Every key and channel name the stores use. Subject keys carry a Redis Cluster hash tag `{…}` so all of a
 * subject's keys hash to one slot (one-round-trip MGET and single-slot Lua scripts work on Cluster).
 */
export interface StoreKeys {
  readonly prefix: string;
  verdict(subject: string, workflow: string): string;
  pending(subject: string, workflow: string): string;
  /**
   * What a Check reads in one `MGET`: the verdict keys of `workflows`, then their pending keys (equal to
   * {@link verdict} and {@link pending} of each), with the subject's tag and each workflow escaped once.
   */
  checkState(subject: string, workflows: readonly string[]): string[];
  workflows(subject: string): string;
  stepUps(subject: string, workflow: string): string;
  /**
   * Revocation watermarks of a subject (a hash: field `*` for the whole subject, `w:<workflow>` per
   * workflow; each value `{"at":…,"reason":…,"workflow"?:…}`). Never expires: a revocation must outlive
   * every session that predates it.
   */
  revocations(subject: string): string;
  /** Risk state hash of a subject (last address, country, sighting times, velocity buckets). */
  riskState(subject: string): string;
  /** Set of the subject's known device hashes. */
  riskDevices(subject: string): string;
  /** Sorted set of the subject's tokens whose address sets are tracked (score = first use). */
  riskTokens(subject: string): string;
  /** Set of source addresses one token was used from (`tokenId` '' gives the prefix of these keys). */
  tokenIps(subject: string, tokenId: string): string;
  session(sessionId: string): string;
  event(eventKey: string): string;
  lock(name: string): string;
  audit(): string;
  /**
   * The global sorted set of pending sessions (score = createdAt). It has no subject tag, so on Cluster it
   * lives on one node and is written by a separate command from the pending key (not atomically).
   */
  pendingIndex(): string;
  /** Pub/sub channel for verdict invalidations. */
  invalidationChannel(): string;
}

// `%` is escaped so the encoding is injective; lone UTF-16 surrogates are escaped because Redis would
// store them as U+FFFD (UTF-8), making two different hostile strings share one key.
const ESCAPE = /[%{}]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * Encodes one variable key part so it can never end a hash tag early or collide with another value:
 * `%` → `%25`, `{` → `%7B`, `}` → `%7D`, and each lone surrogate → `%uXXXX`. Everything else (including
 * `:` and well-formed unicode) is kept as is. Injective, so distinct inputs give distinct keys.
 */
export function escapeKeyPart(value: string): string {
  return value.replace(ESCAPE, (ch) => {
    switch (ch) {
      case '%':
        return '%25';
      case '{':
        return '%7B';
      case '}':
        return '%7D';
      default:
        return `%u${ch.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
    }
  });
}

/**
 * Builds the key layout for a prefix: `<prefix>{<subject>}:verdict:<workflow>`, `…:pending:<workflow>`,
 * `…:workflows`, `…:stepups:<workflow>`, `…:revocations`, `…:risk`, `…:risk:devices`, `…:risk:tokens`, `…:tokips:<tokenId>`, `<prefix>session:<id>`, `<prefix>event:<key>`, `<prefix>lock:<name>`,
 * `<prefix>audit`, `<prefix>pending-index`, channel `<prefix>invalidate`. Every variable part goes through
 * {@link escapeKeyPart} (the empty subject's tag is `{%}`); non-subject keys start with a letter after the prefix and subject keys with `{`,
 * so the two families never overlap.
 *
 * @throws TypeError when the prefix contains `{` or `}` (it would take over the hash tag).
 */
export function createStoreKeys(prefix: string = DEFAULT_KEY_PREFIX): StoreKeys {
  if (/[{}]/.test(prefix)) throw new TypeError('store key prefix must not contain "{" or "}"');
  // An empty tag `{}` would make Redis hash the whole key (scattering the subject over slots); a lone `%`
  // is never produced by escapeKeyPart, so it names the empty subject without colliding.
  const tag = (subject: string): string => `${prefix}{${subject === '' ? '%' : escapeKeyPart(subject)}}`;
  return {
    prefix,
    verdict: (subject, workflow) => `${tag(subject)}:verdict:${escapeKeyPart(workflow)}`,
    pending: (subject, workflow) => `${tag(subject)}:pending:${escapeKeyPart(workflow)}`,
    checkState: (subject, workflows) => {
      const subjectTag = tag(subject);
      const n = workflows.length;
      const out = new Array<string>(2 * n);
      for (let i = 0; i < n; i++) {
        const workflow = escapeKeyPart(workflows[i] ?? '');
        out[i] = `${subjectTag}:verdict:${workflow}`;
        out[n + i] = `${subjectTag}:pending:${workflow}`;
      }
      return out;
    },
    workflows: (subject) => `${tag(subject)}:workflows`,
    stepUps: (subject, workflow) => `${tag(subject)}:stepups:${escapeKeyPart(workflow)}`,
    revocations: (subject) => `${tag(subject)}:revocations`,
    riskState: (subject) => `${tag(subject)}:risk`,
    riskDevices: (subject) => `${tag(subject)}:risk:devices`,
    riskTokens: (subject) => `${tag(subject)}:risk:tokens`,
    tokenIps: (subject, tokenId) => `${tag(subject)}:tokips:${escapeKeyPart(tokenId)}`,
    session: (sessionId) => `${prefix}session:${escapeKeyPart(sessionId)}`,
    event: (eventKey) => `${prefix}event:${escapeKeyPart(eventKey)}`,
    lock: (name) => `${prefix}lock:${escapeKeyPart(name)}`,
    audit: () => `${prefix}audit`,
    pendingIndex: () => `${prefix}pending-index`,
    invalidationChannel: () => `${prefix}invalidate`,
  };
}
