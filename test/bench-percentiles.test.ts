import { describe, expect, it } from 'vitest';
import { parseH2loadLog, percentile, summarizeLatencies } from '../bench/percentiles.js';

describe('bench percentile math', () => {
  it.each([
    { p: 50, want: 50, what: 'median of 1..100 is the 50th value' },
    { p: 90, want: 90, what: 'p90 of 1..100' },
    { p: 99, want: 99, what: 'p99 of 1..100' },
    { p: 99.9, want: 100, what: 'p99.9 rounds the rank up to the last sample' },
    { p: 100, want: 100, what: 'p100 is the maximum' },
    { p: 0.5, want: 1, what: 'a tiny percentile is the first sample' },
  ])('$what', ({ p, want }) => {
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(sorted, p)).toBe(want);
  });

  it('rejects percentiles outside (0, 100] and answers NaN for no samples', () => {
    expect(() => percentile([1], 0)).toThrow(RangeError);
    expect(() => percentile([1], 101)).toThrow(RangeError);
    expect(percentile([], 50)).toBeNaN();
  });

  it('summarises unsorted samples numerically (not as strings)', () => {
    const s = summarizeLatencies([1000, 9, 80, 200, 3]);
    expect(s).toEqual({ count: 5, p50: 80, p90: 1000, p99: 1000, p999: 1000, max: 1000 });
  });

  it('p99.9 of 10 000 samples is the 9 990th smallest', () => {
    const values = Array.from({ length: 10_000 }, (_, i) => 10_000 - i);
    expect(summarizeLatencies(values).p999).toBe(9_990);
  });
});

describe('h2load log parsing', () => {
  it('reads start, status and elapsed columns and counts failures', () => {
    const log = [
      '1700000000000100\t200\t250',
      '1700000000000200\t200\t310\textra',
      '1700000000000050\t-1\t0',
      '',
      '1700000000000300\t503\t90',
    ].join('\n');
    const parsed = parseH2loadLog(log);
    expect(parsed.latenciesUs).toEqual([250, 310, 90]);
    expect(parsed.failed).toBe(1);
    expect(parsed.statusCounts).toEqual({ '200': 2, '503': 1 });
    expect(parsed.firstStartUs).toBe(1700000000000050);
    expect(parsed.lastStartUs).toBe(1700000000000300);
  });

  it('names the line that is not in the expected format', () => {
    expect(() => parseH2loadLog('1\t200\t5\nnot a log line')).toThrow(/line 2/);
  });
});
