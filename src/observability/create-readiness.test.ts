import { describe, expect, it } from 'vitest';
import { createReadiness } from './create-readiness.js';

describe('createReadiness', () => {
  it('is ready while not draining, with a store down or an issuer without keys reported but not fatal', async () => {
    const seen: boolean[] = [];
    const readiness = createReadiness({
      ping: async () => false,
      onStore: (up) => seen.push(up),
      issuers: () => [
        { name: 'corp', keysLoaded: true },
        { name: 'partner', keysLoaded: false, lastError: 'jwks fetch failed: 503' },
      ],
    });
    expect(await readiness.report()).toEqual({
      ready: true,
      checks: {
        process: { ok: true },
        store: { ok: false },
        'issuer:corp': { ok: true },
        'issuer:partner': { ok: false, detail: 'jwks fetch failed: 503' },
      },
    });
    expect(seen).toEqual([false]);
  });

  it('reports not ready once draining, and reads the issuers per report', async () => {
    let issuers = [{ name: 'a', keysLoaded: true }];
    const readiness = createReadiness({ ping: async () => true, issuers: () => issuers });
    issuers = [{ name: 'b', keysLoaded: true }];
    readiness.setDraining();
    expect(await readiness.report()).toEqual({
      ready: false,
      checks: { process: { ok: false, detail: 'draining' }, store: { ok: true }, 'issuer:b': { ok: true } },
    });
  });
});
