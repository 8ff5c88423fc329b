import type { Principal } from '../core/principal.js';

/** An allow's upstream headers and dynamic metadata (the two objects `AllowDecision` carries). */
export interface AllowParts {
  readonly headers: Readonly<Record<string, string>>;
  readonly metadata: Readonly<Record<string, string | number | boolean>>;
}

/** Builds the parts of an allow from everything they depend on (the engine's `allowFrom`; pure). */
export type BuildAllowParts = (
  claimHeaders: Readonly<Record<string, string>>,
  routeId: string | undefined,
  principal: Principal,
  verified: readonly string[] | undefined,
) => AllowParts;

/** Parts kept per principal (its routes × verification states); the oldest goes first. */
const MAX_PER_PRINCIPAL = 8;

/** One principal's parts and the inputs they were built from. */
interface Entry {
  readonly parts: AllowParts;
  readonly routeId: string | undefined;
  readonly subject: string;
  readonly issuerName: string;
  /** The claim headers, flattened (name, value, …) in iteration order: the order they are set in. */
  readonly claimHeaders: readonly string[];
  readonly verified: readonly string[] | undefined;
}

/**
 * The header and metadata objects of an allow, built once per distinct allow of a principal and shared,
 * frozen, by every Check with the same inputs (bench/README.md, "Hot path, seventh round"). For a cached
 * token the engine used to build both objects per Check only for the allow cache to compare them with the
 * ones it rendered from and drop them; the cache now sees the same frozen objects and compares them by
 * identity (`AllowResponseCache`).
 *
 * Pure memo: the parts are a pure function of (claim headers in order, route id, subject, issuer name,
 * verified workflows in order) and of the engine's fixed header prefix, and an entry is used only when
 * every one of those compares equal, one by one (strings `===`, the claim headers entry by entry in order,
 * the verified list item by item). The principal object only locates the entries (a `WeakMap`: they go
 * with the principal, which identity's token cache bounds); nothing is decided by it alone. So a policy
 * reload needs no clearing: a route whose claim mapping changed hands in different claim headers.
 * Bounded: {@link MAX_PER_PRINCIPAL} entries per principal.
 */
export class AllowPartsCache {
  readonly #build: BuildAllowParts;
  readonly #byPrincipal = new WeakMap<Principal, Entry[]>();

  constructor(build: BuildAllowParts) {
    this.#build = build;
  }

  /** The parts `build(claimHeaders, routeId, principal, verified)` returns, frozen, from the memo when kept. */
  partsOf(
    claimHeaders: Readonly<Record<string, string>>,
    routeId: string | undefined,
    principal: Principal,
    verified: readonly string[] | undefined,
  ): AllowParts {
    let entries = this.#byPrincipal.get(principal);
    if (entries !== undefined) {
      for (const entry of entries) {
        if (builtFrom(entry, claimHeaders, routeId, principal, verified)) return entry.parts;
      }
    }
    const built = this.#build(claimHeaders, routeId, principal, verified);
    const flat = flatten(claimHeaders);
    if (flat === undefined) return built;
    const parts: AllowParts = Object.freeze({ headers: Object.freeze(built.headers), metadata: Object.freeze(built.metadata) });
    const entry: Entry = {
      parts,
      routeId,
      subject: principal.subject,
      issuerName: principal.issuerName,
      claimHeaders: flat,
      verified: verified === undefined ? undefined : [...verified],
    };
    if (entries === undefined) {
      // A literal of one: `[]` then `push` would reserve 17 slots for a principal that mostly keeps one entry.
      this.#byPrincipal.set(principal, [entry]);
      return parts;
    }
    if (entries.length >= MAX_PER_PRINCIPAL) entries.shift();
    entries.push(entry);
    return parts;
  }
}

/** Whether `entry` was built from exactly these inputs (see {@link AllowPartsCache}). */
function builtFrom(
  entry: Entry,
  claimHeaders: Readonly<Record<string, string>>,
  routeId: string | undefined,
  principal: Principal,
  verified: readonly string[] | undefined,
): boolean {
  if (entry.routeId !== routeId || entry.subject !== principal.subject || entry.issuerName !== principal.issuerName) return false;
  if (!sameList(entry.verified, verified)) return false;
  return sameEntries(entry.claimHeaders, claimHeaders);
}

function sameList(kept: readonly string[] | undefined, list: readonly string[] | undefined): boolean {
  if (kept === undefined || list === undefined) return kept === list;
  if (kept.length !== list.length) return false;
  for (let i = 0; i < kept.length; i++) if (kept[i] !== list[i]) return false;
  return true;
}

/**
 * Whether `record` holds exactly the entries `flat` lists, in the same order. Own entries only, as the
 * engine's spread copies them: an inherited enumerable one (a polluted prototype) is a mismatch.
 */
function sameEntries(flat: readonly string[], record: Readonly<Record<string, string>>): boolean {
  let i = 0;
  for (const name in record) {
    if (flat[i] !== name || flat[i + 1] !== record[name] || !Object.hasOwn(record, name)) return false;
    i += 2;
  }
  return i === flat.length;
}

/** The own entries of `record` (name, value, …) in order; undefined when it has inherited ones (kept nowhere). */
function flatten(record: Readonly<Record<string, string>>): string[] | undefined {
  const flat: string[] = [];
  for (const name in record) {
    if (!Object.hasOwn(record, name)) return undefined;
    flat.push(name, record[name] as string);
  }
  return flat;
}
