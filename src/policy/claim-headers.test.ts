import { describe, expect, it } from 'vitest';
import type { TraceStep } from '../core/outcome.js';
import { compileClaimHeaders, MAX_CLAIM_HEADER_BYTES } from './claim-headers.js';

/** The mapping's answers for every kind of claim value, and the trace steps of the refused and dropped ones. */
const map = compileClaimHeaders({ 'x-v': 'v' });
const run = (v: unknown): { headers: Readonly<Record<string, string>> | undefined; trace: TraceStep[] } => {
  const trace: TraceStep[] = [];
  return { headers: map({ v }, trace), trace };
};

describe('compileClaimHeaders', () => {
  it.each([
    ['a string', 'alice@example.com', 'alice@example.com'],
    ['a string to encode', 'José, 100%', 'Jos%C3%A9%2C%20100%25'],
    ['a number', 42, '42'],
    ['a boolean', false, 'false'],
    ['an array of scalars', ['a', 'b,c', 3, true], 'a,b%2Cc,3,true'],
  ])('writes %s', (_name, value, header) => {
    expect(run(value)).toEqual({ headers: { 'x-v': header }, trace: [] });
  });

  it.each([
    ['absent', undefined],
    ['null', null],
    ['an object', { a: 1 }],
    ['an empty array', []],
    ['an array with an object', ['a', { b: 1 }]],
    ['a non-finite number', Number.NaN],
  ])('writes no header for %s', (_name, value) => {
    expect(run(value)).toEqual({ headers: {}, trace: [] });
  });

  it('refuses a control character or a lone surrogate, in a scalar or an item', () => {
    for (const value of ['a\nb', ['ok', '\ud800']]) {
      const { headers, trace } = run(value);
      expect(headers).toBeUndefined();
      expect(trace).toEqual([{ step: 'headers', result: 'fail', detail: 'x-v: claim v contains a control character or a lone surrogate' }]);
    }
  });

  it('drops a value longer than the bound (UTF-8, commas counted), keeps one exactly at it', () => {
    const dropped = { step: 'headers', result: 'info', detail: `x-v dropped: claim v is longer than ${MAX_CLAIM_HEADER_BYTES} bytes` };
    expect(run('é'.repeat(MAX_CLAIM_HEADER_BYTES / 2 + 1))).toEqual({ headers: {}, trace: [dropped] });
    expect(run(['a'.repeat(MAX_CLAIM_HEADER_BYTES / 2), 'b'.repeat(MAX_CLAIM_HEADER_BYTES / 2)])).toEqual({ headers: {}, trace: [dropped] });
    expect(run(['a'.repeat(MAX_CLAIM_HEADER_BYTES / 2), 'b'.repeat(MAX_CLAIM_HEADER_BYTES / 2 - 1)]).headers?.['x-v']).toHaveLength(MAX_CLAIM_HEADER_BYTES);
    expect(run('x'.repeat(MAX_CLAIM_HEADER_BYTES)).headers?.['x-v']).toHaveLength(MAX_CLAIM_HEADER_BYTES);
  });
});
