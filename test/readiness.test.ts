import { describe, expect, it } from 'vitest';
import { createReadiness } from '../src/observability/create-readiness.js';

describe('createReadiness', () => {
  it('reports the invalidation channel without making the process unready', async () => {
    let live = false;
    const readiness = createReadiness({ ping: () => Promise.resolve(true), invalidationsLive: () => live });
    expect(await readiness.report()).toEqual({
      ready: true,
      checks: {
        process: { ok: true },
        store: { ok: true },
        invalidations: { ok: false, detail: 'not subscribed; verdict cache bypassed' },
      },
    });
    live = true;
    expect((await readiness.report()).checks.invalidations).toEqual({ ok: true });
  });

  it('omits the invalidation check for a store without one, and reports draining', async () => {
    const readiness = createReadiness({ ping: () => Promise.resolve(false) });
    readiness.setDraining();
    expect(await readiness.report()).toEqual({ ready: false, checks: { process: { ok: false, detail: 'draining' }, store: { ok: false } } });
  });
});
