import { describe, expect, it } from 'vitest';
import { claimList, claimListIncludes } from './claim-path.js';

describe('claimListIncludes', () => {
  const values: unknown[] = [
    'read',
    'read write',
    ' read  write ',
    'readwrite',
    'write read:all read',
    'a b',
    '',
    ' ',
    'read:all',
    'xread read',
    ['read', 'write'],
    ['read write'],
    ['', 'read', 1, null, { read: true }],
    [],
    42,
    null,
    undefined,
    { read: true },
    true,
  ];
  const items = ['read', 'write', 'read:all', 'a b', 'a', 'b', '', ' ', 'rea', 'ead', 'read write', 'readwrite', 'x'];

  it('agrees with claimList(value).includes(item) on every pair of these values and items', () => {
    for (const value of values) {
      for (const item of items) {
        expect([value, item, claimListIncludes(value, item)]).toEqual([value, item, claimList(value).includes(item)]);
      }
    }
  });

  it('finds a member past an earlier partial match', () => {
    expect(claimListIncludes('reader read', 'read')).toBe(true);
    expect(claimListIncludes('reader unread', 'read')).toBe(false);
  });
});
