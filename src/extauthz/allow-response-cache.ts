import { LRUCache } from 'lru-cache';
import type { AllowDecision } from '../core/decision.js';
import { renderDecision, type CompiledRenderOptions } from '../core/render-decision.js';
import { firstHeaderName, type RequestContext } from '../core/request-context.js';
import { encodeVerdictResponse } from './check-codec.js';
import { probeFor } from './id-slot.js';

/**
 * Allows kept in all by default (`caches.allows`; ~1 KiB each with the bytes), the least recently used
 * subject's first out.
 */
export const DEFAULT_MAX_ALLOWS = 2_000;
/** Routes kept per subject (routes come from the config, and a reload clears the cache). */
const MAX_ROUTES_PER_SUBJECT = 64;
/** Allows kept per subject and route (its claim sets and verification states); the oldest goes first. */
const MAX_PER_ROUTE = 4;

/** Ends the header and the metadata entries in {@link CachedAllow.inputs}: no header name or value is it. */
const END = Symbol('end of entries');

/** One encoded allow and everything it was rendered from, but its decision id. */
interface CachedAllow {
  /**
   * What `renderDecision` reads of an allow, in reading order: route, subject, shadow, whether it has a
   * `decidedBy`, its layer and id, then the header entries (name, value…) up to {@link END}, then the
   * metadata entries up to {@link END}.
   */
  readonly inputs: readonly unknown[];
  /**
   * The header and metadata objects the allow was rendered from, when both are frozen plain records of
   * data properties (the engine shares such objects between the Checks of one allow: engine/
   * allow-parts-cache.ts): a decision holding these very objects holds their entries, unlooked at.
   * Undefined otherwise (their entries are compared).
   */
  readonly headers: object | undefined;
  readonly metadata: object | undefined;
  /**
   * The CheckResponse, one character per byte (latin1): a string lives in V8's heap, which compacts it,
   * where a Buffer of its own was a malloc'd block that thousands of long-lived entries, interleaved with
   * every Check's short-lived ones, kept whole allocator pages resident for (bench/README.md, "Cache memory
   * per active subject, twelfth round").
   */
  readonly bytes: string;
  /** Where the decision id's bytes are in {@link bytes}. */
  readonly idAt: number;
  readonly idLength: number;
}

/**
 * The encoded CheckResponse of an allow, rendered once per distinct allow and then copied per Check with
 * only its decision id written in (bench/README.md, "Hot path, sixth round"). For a cached token on a given
 * route the allow is the same on every Check but for the id, and rendering and encoding it was the largest
 * per-Check stage idgate adds over the lower bound.
 *
 * Why it can never answer one caller with another's bytes: an entry is used only when the decision holds,
 * compared one by one and in order, exactly the values `renderDecision` reads of an allow (every header and
 * metadata entry, route, subject, shadow flag, deciding layer and rule) — whatever token, claim set, route,
 * policy generation, tenant, risk or verification state produced them. The other inputs of the rendering
 * are fixed for the cache's lifetime (the compiled render options: header prefix, strip names) or make it
 * step aside: a request carrying any header that folds to an identity or strip name (its removal list
 * depends on the request) and a decision id that is not ASCII of the entry's length are rendered as before,
 * and nothing is kept from them. Subject and route only pick the entries to compare (their strings' hashes
 * are computed once: the subject's with the cached principal, the route's with the policy); the
 * comparison decides. Headers and metadata are compared by identity when the entry was rendered from
 * frozen records of data properties and the decision holds those very objects (the engine shares them
 * between the Checks of one allow: engine/allow-parts-cache.ts), entry by entry otherwise.
 *
 * The decision id's place is found by encoding the allow a second time with an id that differs from the
 * real one in every character and checking that the two encodings differ in exactly those bytes; anything
 * else keeps nothing. Bounded: `maxAllows` ({@link DEFAULT_MAX_ALLOWS}) allows in all (least recently used subject out first),
 * {@link MAX_ROUTES_PER_SUBJECT} routes per subject and {@link MAX_PER_ROUTE} allows per subject and route
 * (so one caller on many routes, or every anonymous caller of many public routes, does not evict itself).
 */
export class AllowResponseCache {
  readonly #render: CompiledRenderOptions;
  // A subject's allows, every route's in one list (oldest first): a flat array costs a few words where a Map
  // by route cost ~190 bytes per subject, and most subjects have one route (bench/README.md, "Cache memory per
  // active subject, twelfth round"). Sized by allows, not subjects: no arrays allocated up front for the
  // bound (as core/bounded-lru.ts).
  readonly #bySubject: LRUCache<string, readonly CachedAllow[]>;

  /** @throws TypeError if `maxAllows` is not a positive integer. */
  constructor(render: CompiledRenderOptions, maxAllows: number = DEFAULT_MAX_ALLOWS) {
    if (!Number.isInteger(maxAllows) || maxAllows < 1) throw new TypeError('allow cache size must be a positive integer');
    this.#render = render;
    this.#bySubject = new LRUCache({ maxSize: maxAllows, sizeCalculation: (allows) => allows.length });
  }

  /** The encoded CheckResponse of `decision` for `ctx`: `encodeVerdictResponse(renderDecision(…))`'s bytes. */
  respond(decision: AllowDecision, ctx: RequestContext): Buffer {
    const id = decision.decisionId;
    if (id === undefined || hasIdentityHeader(ctx, this.#render)) return this.#encode(decision, ctx);
    const subject = decision.subject ?? '';
    const allows = this.#bySubject.get(subject);
    if (allows !== undefined) {
      for (const entry of allows) {
        if (!rendersFrom(entry, decision)) continue;
        const bytes = withId(entry, id);
        if (bytes !== undefined) return bytes;
        break;
      }
    }
    const bytes = this.#encode(decision, ctx);
    const entry = this.#template(decision, id, ctx, bytes);
    if (entry !== undefined) this.#keep(subject, allows ?? [], entry);
    return bytes;
  }

  /** Forgets every allow (on a config reload: entries of removed routes or claim mappings are dead weight). */
  clear(): void {
    this.#bySubject.clear();
  }

  /** How many allows are kept (tests). */
  get size(): number {
    let n = 0;
    for (const allows of this.#bySubject.values()) n += allows.length;
    return n;
  }

  /**
   * Keeps `entry` among the subject's `allows`: the oldest of its route goes when the route has
   * {@link MAX_PER_ROUTE}, and a route beyond {@link MAX_ROUTES_PER_SUBJECT} starts the subject's list afresh.
   * Set as a new array: the LRU sizes an entry (by its allows) only when a new value is set.
   */
  #keep(subject: string, allows: readonly CachedAllow[], entry: CachedAllow): void {
    if (allows.length === 0) {
      this.#bySubject.set(subject, [entry]);
      return;
    }
    const route = entry.inputs[0];
    let ofRoute = 0;
    const routes = new Set<unknown>();
    for (const kept of allows) {
      routes.add(kept.inputs[0]);
      if (kept.inputs[0] === route) ofRoute++;
    }
    if (ofRoute === 0 && routes.size >= MAX_ROUTES_PER_SUBJECT) {
      this.#bySubject.set(subject, [entry]);
      return;
    }
    // A route never holds more than MAX_PER_ROUTE: when full, only its oldest (first) allow goes.
    let dropOldest = ofRoute >= MAX_PER_ROUTE;
    const next: CachedAllow[] = [];
    for (const kept of allows) {
      if (dropOldest && kept.inputs[0] === route) {
        dropOldest = false;
        continue;
      }
      next.push(kept);
    }
    next.push(entry);
    this.#bySubject.set(subject, next);
  }

  #encode(decision: AllowDecision, ctx: RequestContext): Buffer {
    return encodeVerdictResponse(renderDecision(decision, ctx, this.#render));
  }

  /** The entry for `decision` encoded as `bytes`, or undefined when its id cannot be located exactly. */
  #template(decision: AllowDecision, id: string, ctx: RequestContext, bytes: Buffer): CachedAllow | undefined {
    if (id.length === 0 || !isAscii(id)) return undefined;
    const probe = probeFor(id);
    const other = this.#encode({ ...decision, decisionId: probe }, ctx);
    if (other.length !== bytes.length) return undefined;
    let at = 0;
    while (at < bytes.length && bytes[at] === other[at]) at++;
    if (at + id.length > bytes.length) return undefined;
    for (let i = 0; i < id.length; i++) {
      if (bytes[at + i] !== id.charCodeAt(i) || other[at + i] !== probe.charCodeAt(i)) return undefined;
    }
    for (let i = at + id.length; i < bytes.length; i++) if (bytes[i] !== other[i]) return undefined;
    const immutable = isImmutableRecord(decision.headers) && isImmutableRecord(decision.metadata);
    return {
      inputs: inputsOf(decision),
      headers: immutable ? decision.headers : undefined,
      metadata: immutable ? decision.metadata : undefined,
      bytes: bytes.toString('latin1'),
      idAt: at,
      idLength: id.length,
    };
  }
}

/** A copy of the entry's bytes with `id` written in; undefined when `id` does not fit its place exactly. */
function withId(entry: CachedAllow, id: string): Buffer | undefined {
  if (id.length !== entry.idLength) return undefined;
  const length = entry.bytes.length;
  const out = Buffer.allocUnsafe(length);
  out.write(entry.bytes, 0, length, 'latin1');
  const at = entry.idAt;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    // A non-ASCII character is more than one byte of UTF-8: the lengths around it would change.
    if (c >= 0x80) return undefined;
    out[at + i] = c;
  }
  return out;
}

/**
 * Whether the request carries a header that folds to an identity or strip name: the allow then lists it
 * for removal, so its bytes depend on the request (rare: a client forging identity headers, or a
 * misconfigured one).
 */
function hasIdentityHeader(ctx: RequestContext, render: CompiledRenderOptions): boolean {
  return firstHeaderName(ctx, render.isIdentityHeader) !== undefined;
}

/** What `renderDecision` reads of an allow (see {@link CachedAllow.inputs}). */
function inputsOf(decision: AllowDecision): unknown[] {
  const by = decision.decidedBy;
  const inputs: unknown[] = [decision.routeId, decision.subject, decision.shadow, by !== undefined, by?.layer, by?.id];
  const headers = decision.headers;
  for (const name in headers) inputs.push(name, headers[name]);
  inputs.push(END);
  const metadata = decision.metadata;
  for (const key in metadata) inputs.push(key, metadata[key]);
  inputs.push(END);
  return inputs;
}

/**
 * Whether `decision` holds exactly the entry's inputs ({@link inputsOf}), without building its list.
 * `Object.is`, not `===`: a metadata number −0 encodes differently from 0.
 */
function rendersFrom(entry: CachedAllow, decision: AllowDecision): boolean {
  const inputs = entry.inputs;
  const by = decision.decidedBy;
  if (
    !Object.is(inputs[0], decision.routeId) ||
    !Object.is(inputs[1], decision.subject) ||
    !Object.is(inputs[2], decision.shadow) ||
    inputs[3] !== (by !== undefined) ||
    !Object.is(inputs[4], by?.layer) ||
    !Object.is(inputs[5], by?.id)
  ) {
    return false;
  }
  // The very frozen objects it was rendered from: their entries cannot have changed.
  if (entry.headers !== undefined && entry.headers === decision.headers && entry.metadata === decision.metadata) return true;
  let i = 6;
  const headers = decision.headers;
  for (const name in headers) {
    if (inputs[i] !== name || !Object.is(inputs[i + 1], headers[name])) return false;
    i += 2;
  }
  if (inputs[i++] !== END) return false;
  const metadata = decision.metadata;
  for (const key in metadata) {
    if (inputs[i] !== key || !Object.is(inputs[i + 1], metadata[key])) return false;
    i += 2;
  }
  return inputs[i] === END && i + 1 === inputs.length;
}

/**
 * Whether `record` can never read differently: frozen, a plain record (Object.prototype or null), and
 * only data properties (a frozen getter may still answer differently).
 */
function isImmutableRecord(record: object): boolean {
  if (!Object.isFrozen(record)) return false;
  const proto: unknown = Object.getPrototypeOf(record);
  if (proto !== Object.prototype && proto !== null) return false;
  for (const descriptor of Object.values(Object.getOwnPropertyDescriptors(record))) if (!('value' in descriptor)) return false;
  return true;
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return false;
  return true;
}
