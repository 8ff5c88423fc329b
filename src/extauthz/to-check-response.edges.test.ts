import { describe, expect, it } from 'vitest';
import type { VerdictMetadata } from '../core/render-decision.js';
import { toStruct } from './to-check-response.js';

/** Edges of the metadata Struct (found by mutation testing, `make mutation`). */
describe('toStruct edges', () => {
  it('maps each value type to its own Struct kind and drops values of any other type', () => {
    const metadata = { s: 'x', n: 2, b: false, u: undefined, o: { nested: true } } as unknown as VerdictMetadata;
    expect({ ...toStruct(metadata).fields }).toEqual({ s: { stringValue: 'x' }, n: { numberValue: 2 }, b: { boolValue: false } });
  });
});
