import { describe, expect, it } from 'vitest';
import type { StepUpDecision } from '../core/decision.js';
import { compileRenderOptions, renderDecision, type RenderOptions } from '../core/render-decision.js';
import type { RequestContext } from '../core/request-context.js';
import { testRequestContext } from '../core/test-request-context.js';
import { newDecisionId } from '../engine/new-decision-id.js';
import { encodeVerdictResponse } from './check-codec.js';
import { StepUpResponseCache } from './step-up-response-cache.js';

/**
 * A kept step-up must be the uncached render's bytes for the same inputs, whatever the step-up and whatever
 * the request and decision ids, and a change of any input of the rendering must change the bytes (another
 * subject's session, route or challenge must never be served).
 */
const uncached = (decision: StepUpDecision, ctx: RequestContext, options: RenderOptions = {}): Buffer =>
  encodeVerdictResponse(renderDecision(decision, ctx, compileRenderOptions(options)));

const SESSION_URL = 'https://verify.didit.me/session/b7c1d2e3-0000-4000-8000-00000000beef';
const api = (requestId: string): RequestContext => testRequestContext({ requestId, headers: { accept: 'application/json' } });
const browser = (requestId: string): RequestContext => testRequestContext({ requestId, headers: { accept: 'text/html,application/xhtml+xml' } });

const STEP_UPS: readonly [string, StepUpDecision][] = [
  ['a pending session', { kind: 'step_up', workflow: 'kyc', verificationUrl: SESSION_URL, sessionId: 'b7c1d2e3-0000-4000-8000-00000000beef', routeId: 'orders', subject: 'bench:alice', decidedBy: { layer: 'platform', id: 'orders', revision: 'r1' } }],
  ['idgate start URL, no session', { kind: 'step_up', workflow: 'kyc', verificationUrl: 'https://idgate.example.com/verification/start/t1', routeId: 'orders', subject: 'idp:bob' }],
  ['a URL the renderer normalises', { kind: 'step_up', workflow: 'age', verificationUrl: 'HTTPS://Verify.Example.COM:443/a b/ü?x="y"', sessionId: 's"1\\', subject: 'idp:é"x' }],
  ['shadow', { kind: 'step_up', workflow: 'kyc', verificationUrl: SESSION_URL, sessionId: 's2', routeId: 'r', subject: 'idp:carol', shadow: true }],
  ['anonymous, no route', { kind: 'step_up', workflow: 'kyc', verificationUrl: SESSION_URL }],
  ['a refused URL (rendered as a 503 deny)', { kind: 'step_up', workflow: 'kyc', verificationUrl: 'javascript:alert(1)', subject: 'idp:mallory' }],
  ['a long one (length varints past 127)', { kind: 'step_up', workflow: 'w'.repeat(300), verificationUrl: `${SESSION_URL}?${'q'.repeat(400)}`, sessionId: 'x'.repeat(200), routeId: 'r'.repeat(150), subject: 's'.repeat(150) }],
];

const REQUEST_IDS = ['req-1', '6f1c2b9e-3d4a-4e5f-9a8b-7c6d5e4f3a2b', '', 'a"b', 'back\\slash', 'ctl\u0001', 'ümlaut', 'del\u007f', 'x'.repeat(300)];

describe('StepUpResponseCache', () => {
  it.each(STEP_UPS)('answers %s with the uncached bytes, for every client, request id and decision id', (_name, step) => {
    for (const options of [{}, { realm: 'shop "eu"', problemTypeBase: 'https://errors.example.com/' }] as RenderOptions[]) {
      const cache = new StepUpResponseCache(compileRenderOptions(options));
      for (let round = 0; round < 3; round++) {
        for (const requestId of REQUEST_IDS) {
          for (const ctx of [api(requestId), browser(requestId), testRequestContext({ requestId, method: 'POST', headers: { accept: 'text/html' } })]) {
            for (const decisionId of [newDecisionId(), newDecisionId(), 'd-1', 'd"2', 'dé3', '']) {
              const decision = { ...step, decisionId };
              expect(cache.respond(decision, ctx).equals(uncached(decision, ctx, options))).toBe(true);
            }
            const noId = { ...step };
            expect(cache.respond(noId, ctx).equals(uncached(noId, ctx, options))).toBe(true);
          }
        }
      }
    }
  });

  it('keeps a step-up per distinct rendering and answers the next Checks from it', () => {
    const cache = new StepUpResponseCache(compileRenderOptions({}));
    const [, step] = STEP_UPS[0]!;
    for (let i = 0; i < 5; i++) cache.respond({ ...step, decisionId: newDecisionId() }, api(`req-${i}`));
    expect(cache.size).toBe(1);
    cache.respond({ ...step, decisionId: newDecisionId() }, browser('req-9'));
    expect(cache.size).toBe(2);
    // Ids it cannot write in verbatim are rendered, and nothing is kept from them.
    cache.respond({ ...step, decisionId: 'dé' }, api('req-1'));
    cache.respond({ ...step, decisionId: newDecisionId() }, api('a"b'));
    expect(cache.size).toBe(2);
    // A refused URL is a 503 deny: not kept.
    cache.respond({ ...STEP_UPS[5]![1], decisionId: newDecisionId() }, api('req-1'));
    expect(cache.size).toBe(2);
    cache.clear();
    expect(cache.size).toBe(0);
  });

  it('never answers with another rendering: every input changed alone changes the bytes', () => {
    const cache = new StepUpResponseCache(compileRenderOptions({}));
    const step: StepUpDecision = STEP_UPS[0]![1];
    const changes: Partial<StepUpDecision>[] = [
      { verificationUrl: `${SESSION_URL}x` },
      { sessionId: 'b7c1d2e3-0000-4000-8000-00000000bee0' },
      { sessionId: undefined },
      { workflow: 'kyd' },
      { routeId: 'orderz' },
      { routeId: undefined },
      { subject: 'bench:alicf' },
      { subject: undefined },
      { shadow: true },
      { decidedBy: { layer: 'tenant', id: 'orders', revision: 'r1' } },
      { decidedBy: { layer: 'platform', id: 'orderz', revision: 'r1' } },
      { decidedBy: undefined },
    ];
    const requestId = '6f1c2b9e-3d4a-4e5f-9a8b-7c6d5e4f3a2b';
    for (const ctx of [api(requestId), browser(requestId)]) {
      const decisionId = newDecisionId();
      const first = cache.respond({ ...step, decisionId }, ctx);
      expect(cache.respond({ ...step, decisionId }, ctx).equals(first)).toBe(true);
      for (const change of changes) {
        const other = { ...step, ...change, decisionId };
        const bytes = cache.respond(other, ctx);
        expect(bytes.equals(uncached(other, ctx))).toBe(true);
        expect(bytes.equals(first)).toBe(false);
        // And the kept original is still answered as it was.
        expect(cache.respond({ ...step, decisionId }, ctx).equals(first)).toBe(true);
      }
    }
    // The same decision for a browser and for an API client: a redirect and a 401, never each other's.
    const decisionId = newDecisionId();
    expect(cache.respond({ ...step, decisionId }, api('r')).equals(cache.respond({ ...step, decisionId }, browser('r')))).toBe(false);
  });

  it('is bounded per verification URL and in all', () => {
    const cache = new StepUpResponseCache(compileRenderOptions({}));
    const [, step] = STEP_UPS[0]!;
    for (let i = 0; i < 10; i++) cache.respond({ ...step, decisionId: newDecisionId() }, api('r'.repeat(i + 1)));
    expect(cache.size).toBe(4);
    for (let i = 0; i < 600; i++) cache.respond({ ...step, verificationUrl: `${SESSION_URL}/${i}`, decisionId: newDecisionId() }, api('r'));
    expect(cache.size).toBeLessThanOrEqual(512);
    expect(cache.size).toBeGreaterThan(0);
  });
});
