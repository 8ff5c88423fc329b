import type { StepUpDecision } from '../core/decision.js';
import { isBrowserNavigation } from '../core/browser-navigation.js';
import { renderDecision, type CompiledRenderOptions } from '../core/render-decision.js';
import type { RequestContext } from '../core/request-context.js';
import { encodeVerdictResponse } from './check-codec.js';
import { ownCopy, probeFor } from './id-slot.js';

/** Verification URLs kept (one per pending session in use); the map is emptied when full. */
const MAX_URLS = 512;
/** Step-ups kept per verification URL (browser and API client, request-id lengths); the oldest goes first. */
const MAX_PER_URL = 4;

/** One encoded step-up and everything it was rendered from, but its decision id and request id. */
interface CachedStepUp {
  readonly sessionId: string | undefined;
  readonly workflow: string;
  readonly routeId: string | undefined;
  readonly subject: string | undefined;
  readonly shadow: boolean | undefined;
  readonly hasDecidedBy: boolean;
  readonly layer: string | undefined;
  readonly rule: string | undefined;
  readonly browser: boolean;
  readonly requestIdLength: number;
  readonly decisionIdLength: number;
  /** The CheckResponse, in memory of its own (a pooled slice would keep its whole 8 KiB pool alive). */
  readonly bytes: Buffer;
  /** Where the request id's bytes are (in the problem body), or −1 when the response holds none. */
  readonly requestIdAt: number;
  /** Where the decision id's bytes are: the problem body's (or −1: a redirect has no body) and the metadata's. */
  readonly bodyDecisionIdAt: number;
  readonly metadataDecisionIdAt: number;
}

/**
 * The encoded CheckResponse of a step-up, rendered once per distinct step-up and then copied per Check with
 * its request id and decision id written in. A subject that has not verified yet gets the same step-up on
 * every Check of a route — the same session, the same challenge, the same problem document — but for those
 * two ids, and rendering and encoding it was most of what a step-up costs over a cached allow in the
 * response (bench/README.md, "Step-up path, eighth round").
 *
 * Why it can never answer one caller with another's bytes: an entry is used only when the decision and the
 * request hold exactly the values the step-up's rendering reads — the verification URL, session id,
 * workflow, route, subject, shadow flag, deciding layer and rule, whether the request is a browser
 * navigation, and the lengths of the two ids. The compiled render options are fixed for the cache's
 * lifetime. The ids are written in only when they are ASCII that JSON writes as it is (no quote,
 * backslash or control character), so their bytes are the same in the problem body's JSON and in the
 * metadata and no length around them changes; any other id is rendered as before.
 *
 * The ids' places are found by encoding the step-up a second time with ids that differ from the real ones
 * in every character and checking that the two encodings differ in exactly those bytes, in the order the
 * response holds them (the body's `instance`, its `decision_id`, the metadata's `decision_id`); anything
 * else keeps nothing. Bounded: {@link MAX_URLS} verification URLs, {@link MAX_PER_URL} step-ups each.
 */
export class StepUpResponseCache {
  readonly #render: CompiledRenderOptions;
  readonly #byUrl = new Map<string, CachedStepUp[]>();

  constructor(render: CompiledRenderOptions) {
    this.#render = render;
  }

  /** The encoded CheckResponse of `decision` for `ctx`: `encodeVerdictResponse(renderDecision(…))`'s bytes. */
  respond(decision: StepUpDecision, ctx: RequestContext): Buffer {
    const decisionId = decision.decisionId;
    const requestId = ctx.requestId;
    if (decisionId === undefined || !isVerbatim(decisionId) || !isVerbatim(requestId)) return this.#encode(decision, ctx);
    const browser = isBrowserNavigation(ctx);
    const entries = this.#byUrl.get(decision.verificationUrl);
    if (entries !== undefined) {
      for (const entry of entries) {
        if (entry.browser === browser && entry.requestIdLength === requestId.length && entry.decisionIdLength === decisionId.length && rendersFrom(entry, decision)) {
          return withIds(entry, requestId, decisionId);
        }
      }
    }
    const verdict = renderDecision(decision, ctx, this.#render);
    const bytes = encodeVerdictResponse(verdict);
    // Only a step-up is kept: a verification URL the renderer refuses is answered with a 503 deny.
    if (!verdict.allow && verdict.code === 'verification_required') {
      const entry = this.#template(decision, ctx, browser, verdict.body !== '', bytes);
      if (entry !== undefined) this.#keep(decision.verificationUrl, entries, entry);
    }
    return bytes;
  }

  /** Forgets every step-up (on a config reload). */
  clear(): void {
    this.#byUrl.clear();
  }

  /** How many step-ups are kept (tests). */
  get size(): number {
    let n = 0;
    for (const entries of this.#byUrl.values()) n += entries.length;
    return n;
  }

  #keep(url: string, entries: CachedStepUp[] | undefined, entry: CachedStepUp): void {
    if (entries !== undefined) {
      if (entries.length >= MAX_PER_URL) entries.shift();
      entries.push(entry);
      return;
    }
    if (this.#byUrl.size >= MAX_URLS) this.#byUrl.clear();
    this.#byUrl.set(url, [entry]);
  }

  #encode(decision: StepUpDecision, ctx: RequestContext): Buffer {
    // The same call CheckVerdicts makes for any decision.
    return encodeVerdictResponse(renderDecision(decision, ctx, this.#render));
  }

  /** The entry for `decision` encoded as `bytes`, or undefined when its ids cannot be located exactly. */
  #template(decision: StepUpDecision, ctx: RequestContext, browser: boolean, body: boolean, bytes: Buffer): CachedStepUp | undefined {
    const decisionId = decision.decisionId as string;
    const requestId = ctx.requestId;
    if (decisionId.length === 0) return undefined;
    const decisionProbe = probeFor(decisionId);
    const requestProbe = probeFor(requestId);
    const other = this.#encode({ ...decision, decisionId: decisionProbe }, { ...ctx, requestId: requestProbe });
    if (other.length !== bytes.length) return undefined;
    // The runs where the two encodings differ, in order: each must be one whole id.
    const runs: number[] = [];
    for (let i = 0; i < bytes.length; ) {
      if (bytes[i] === other[i]) {
        i++;
        continue;
      }
      const start = i;
      while (i < bytes.length && bytes[i] !== other[i]) i++;
      runs.push(start, i - start);
    }
    const expected: Array<[string, string]> = [];
    // A step-up answered with a problem body (an API client's 401) holds `instance` (when there is a
    // request id) and `decision_id` in the body; a redirect (302) has no body. The metadata holds `decision_id`.
    if (body && requestId.length > 0) expected.push([requestId, requestProbe]);
    if (body) expected.push([decisionId, decisionProbe]);
    expected.push([decisionId, decisionProbe]);
    if (runs.length !== expected.length * 2) return undefined;
    for (let r = 0; r < expected.length; r++) {
      const [id, probe] = expected[r] as [string, string];
      const at = runs[2 * r] as number;
      if (runs[2 * r + 1] !== id.length) return undefined;
      for (let i = 0; i < id.length; i++) {
        if (bytes[at + i] !== id.charCodeAt(i) || other[at + i] !== probe.charCodeAt(i)) return undefined;
      }
    }
    const by = decision.decidedBy;
    const at = (r: number): number => runs[2 * r] as number;
    const withRequestId = body && requestId.length > 0;
    return {
      sessionId: decision.sessionId,
      workflow: decision.workflow,
      routeId: decision.routeId,
      subject: decision.subject,
      shadow: decision.shadow,
      hasDecidedBy: by !== undefined,
      layer: by?.layer,
      rule: by?.id,
      browser,
      requestIdLength: requestId.length,
      decisionIdLength: decisionId.length,
      bytes: ownCopy(bytes),
      requestIdAt: withRequestId ? at(0) : -1,
      bodyDecisionIdAt: body ? at(withRequestId ? 1 : 0) : -1,
      metadataDecisionIdAt: at(expected.length - 1),
    };
  }
}

/**
 * Whether `decision` holds exactly what the entry was rendered from (the caller compared the URL, the
 * request's kind and the ids' lengths). `Object.is`, as the allow cache, so nothing compares loosely.
 */
function rendersFrom(entry: CachedStepUp, decision: StepUpDecision): boolean {
  const by = decision.decidedBy;
  return (
    Object.is(entry.sessionId, decision.sessionId) &&
    Object.is(entry.workflow, decision.workflow) &&
    Object.is(entry.routeId, decision.routeId) &&
    Object.is(entry.subject, decision.subject) &&
    Object.is(entry.shadow, decision.shadow) &&
    entry.hasDecidedBy === (by !== undefined) &&
    Object.is(entry.layer, by?.layer) &&
    Object.is(entry.rule, by?.id)
  );
}

/** A copy of the entry's bytes with the ids written in (the caller checked they are verbatim and fit). */
function withIds(entry: CachedStepUp, requestId: string, decisionId: string): Buffer {
  const out = Buffer.allocUnsafe(entry.bytes.length);
  entry.bytes.copy(out);
  if (entry.requestIdAt >= 0) writeAscii(out, entry.requestIdAt, requestId);
  if (entry.bodyDecisionIdAt >= 0) writeAscii(out, entry.bodyDecisionIdAt, decisionId);
  writeAscii(out, entry.metadataDecisionIdAt, decisionId);
  return out;
}

function writeAscii(out: Buffer, at: number, s: string): void {
  for (let i = 0; i < s.length; i++) out[at + i] = s.charCodeAt(i);
}

/**
 * Whether `s` is written byte for byte as it is both as UTF-8 and inside a JSON string: printable ASCII
 * but `"` and `\`.
 */
function isVerbatim(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c >= 0x7f || c === 0x22 || c === 0x5c) return false;
  }
  return true;
}
