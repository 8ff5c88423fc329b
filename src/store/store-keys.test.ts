import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createStoreKeys, escapeKeyPart } from './store-keys.js';

/** The substring Redis Cluster hashes: between the first `{` and the next `}`, when non-empty. */
function hashTag(key: string): string {
  const open = key.indexOf('{');
  const close = open >= 0 ? key.indexOf('}', open + 1) : -1;
  return open >= 0 && close > open + 1 ? key.slice(open + 1, close) : key;
}

// Pieces that could make two escaped strings collide if the encoding were not injective.
const tricky = fc
  .array(fc.constantFrom('a', '%', '{', '}', '7', 'D', 'B', 'u', '25', '%7D', '%u', '\uD800', '\uDC00', '\uFFFD', '🙂'), {
    maxLength: 8,
  })
  .map((parts) => parts.join(''));
const anyString = fc.oneof(tricky, fc.string({ unit: 'binary' }));

describe('checkState keys', () => {
  it('are the verdict keys then the pending keys, exactly as verdict() and pending() build them', () => {
    const keys = createStoreKeys('p:');
    expect(keys.checkState('corp:a', [])).toEqual([]);
    fc.assert(
      fc.property(anyString, fc.array(anyString, { maxLength: 3 }), (subject, workflows) => {
        const expected = [...workflows.map((w) => keys.verdict(subject, w)), ...workflows.map((w) => keys.pending(subject, w))];
        expect(keys.checkState(subject, workflows)).toEqual(expected);
      }),
      { numRuns: 500 },
    );
  });
});

describe('escapeKeyPart', () => {
  it('escapes only %, braces and lone surrogates', () => {
    expect(escapeKeyPart('corp:alice')).toBe('corp:alice');
    expect(escapeKeyPart('a}{b')).toBe('a%7D%7Bb');
    expect(escapeKeyPart('%7D')).toBe('%257D');
    // Well-formed unicode is kept; a lone high or low surrogate is escaped.
    expect(escapeKeyPart('ü🙂')).toBe('ü🙂');
    expect(`${escapeKeyPart('a\uD800')} ${escapeKeyPart('\uDC00b')}`).toBe('a%uD800 %uDC00b');
  });

  it('is injective on UTF-8 bytes (distinct strings never share a Redis key)', () => {
    fc.assert(
      fc.property(anyString, anyString, (a, b) => {
        fc.pre(a !== b);
        const ea = Buffer.from(escapeKeyPart(a), 'utf8');
        const eb = Buffer.from(escapeKeyPart(b), 'utf8');
        return !ea.equals(eb);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('createStoreKeys', () => {
  const keys = createStoreKeys();

  it('lays out the documented keys', () => {
    expect(keys.verdict('corp:u', 'kyc')).toBe('idgate:v1:{corp:u}:verdict:kyc');
    expect(keys.pending('corp:u', 'kyc')).toBe('idgate:v1:{corp:u}:pending:kyc');
    expect(keys.workflows('corp:u')).toBe('idgate:v1:{corp:u}:workflows');
    expect(keys.stepUps('corp:u', 'kyc')).toBe('idgate:v1:{corp:u}:stepups:kyc');
    expect(keys.revocations('corp:u')).toBe('idgate:v1:{corp:u}:revocations');
    expect(keys.session('s1')).toBe('idgate:v1:session:s1');
    expect(keys.event('e1')).toBe('idgate:v1:event:e1');
    expect(keys.lock('l1')).toBe('idgate:v1:lock:l1');
    expect(keys.audit()).toBe('idgate:v1:audit');
  });

  it('puts every key of any subject in one hash tag equal to the escaped subject', () => {
    fc.assert(
      fc.property(anyString, anyString, (subject, workflow) => {
        const tags = new Set(
          [
            keys.verdict(subject, workflow),
            keys.pending(subject, workflow),
            keys.workflows(subject),
            keys.stepUps(subject, workflow),
            keys.revocations(subject),
          ].map(
            hashTag,
          ),
        );
        return tags.size === 1 && [...tags][0] === (subject === '' ? '%' : escapeKeyPart(subject));
      }),
    );
  });

  it('refuses a prefix with braces', () => {
    expect(() => createStoreKeys('x{y}:')).toThrow(TypeError);
  });
});
