import { describe, expect, it } from 'vitest';
import { newDecisionId } from './new-decision-id.js';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('newDecisionId', () => {
  it('returns random v4 UUIDs in lower-case hex, unique across several entropy refills', () => {
    const ids = Array.from({ length: 1_000 }, () => newDecisionId());
    for (const id of ids) expect(id).toMatch(UUID_V4);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('leaves every position but the version nibble random (no byte of the pool reused or fixed)', () => {
    const ids = Array.from({ length: 2_000 }, () => newDecisionId());
    for (let pos = 0; pos < 36; pos++) {
      const seen = new Set(ids.map((id) => id[pos]));
      if ([8, 13, 18, 23].includes(pos)) expect(seen).toEqual(new Set(['-']));
      else if (pos === 14) expect(seen).toEqual(new Set(['4']));
      // The variant nibble has 4 values; every other hex digit all 16 in 2,000 draws.
      else if (pos === 19) expect(seen).toEqual(new Set(['8', '9', 'a', 'b']));
      else expect(seen.size).toBe(16);
    }
  });

  it('returns a string that does not change when the next id is drawn', () => {
    const first = newDecisionId();
    const copy = `${first}`;
    for (let i = 0; i < 300; i++) newDecisionId();
    expect(first).toBe(copy);
    expect(first).toMatch(UUID_V4);
  });
});
