import { describe, expect, it } from 'vitest';
import { formatIp, normalizeIp, parseIp, parseIpv4Value } from './parse-ip.js';

/**
 * Edges of the IP parser that parse-ip.test.ts leaves open (found by mutation testing, `make mutation`): the
 * character-class boundaries of digits and hex letters, the length limits, sub-ranges of a longer text, and
 * the exact words and values returned.
 */
describe('parseIpv4Value', () => {
  it('parses only text[start, end)', () => {
    expect(parseIpv4Value('x10.1.2.3y', 1, 9)).toBe(0x0a010203);
    expect(parseIpv4Value('x10.1.2.3y', 0, 9)).toBe(-1);
    expect(parseIpv4Value('x10.1.2.3y', 1, 10)).toBe(-1);
    expect(parseIpv4Value('10.1.2.3:80', 0, 8)).toBe(0x0a010203);
    expect(parseIpv4Value('10.1.2.3', 0, 0)).toBe(-1);
  });

  it.each([
    ['1.2.3.4', 0x01020304],
    ['0.0.0.0', 0],
    ['9.9.9.9', 0x09090909],
    ['255.0.0.1', 0xff000001],
    ['1.255.0.0', 0x01ff0000],
    ['100.200.10.250', 0x64c80afa],
  ])('%s → %d', (text, value) => {
    expect(parseIpv4Value(text)).toBe(value);
    expect(parseIp(text)).toEqual({ family: 4, value });
    expect(formatIp({ family: 4, value })).toBe(text);
  });

  it.each([
    '1.2.3./', // '/' is just below '0'
    '1.2.3.:', // ':' is just above '9'
    '1/2.3.4',
    '1:2.3.4',
    '.1.2.3',
    '1..2.3',
    '1.2.3',
    '1.2.3.4.',
    '1.2.3.',
    '00.1.2.3',
    '1.2.3.00',
    '1.2.3.04',
    '1.2.300.4',
    '1.2.3.2560',
    '',
  ])('rejects %j', (text) => {
    expect(parseIpv4Value(text)).toBe(-1);
  });
});

describe('parseIp IPv6', () => {
  it('returns the four 32-bit words, most significant first', () => {
    expect(parseIp('1:2:3:4:5:6:7:8')).toEqual({ family: 6, words: [0x00010002, 0x00030004, 0x00050006, 0x00070008] });
    expect(parseIp('ffff:FFFF:aBcD:9:0:0:0:1')).toEqual({ family: 6, words: [0xffffffff, 0xabcd0009, 0, 1] });
    expect(parseIp('1::')).toEqual({ family: 6, words: [0x00010000, 0, 0, 0] });
    expect(parseIp('::2:3')).toEqual({ family: 6, words: [0, 0, 0, 0x00020003] });
    expect(parseIp('1:2:3:4:5:6:7::')).toEqual({ family: 6, words: [0x00010002, 0x00030004, 0x00050006, 0x00070000] });
    expect(parseIp('::2:3:4:5:6:7:8')).toEqual({ family: 6, words: [0x00000002, 0x00030004, 0x00050006, 0x00070008] });
    expect(parseIp('1:2:3:4:5:6:1.2.3.4')).toEqual({ family: 6, words: [0x00010002, 0x00030004, 0x00050006, 0x01020304] });
  });

  it.each(['a', 'f', 'A', 'F', '0', '9'])('accepts the hex digit %s', (d) => {
    expect(normalizeIp(`${d}:1::`)).toBe(`${d.toLowerCase()}:1::`);
  });

  it.each(['g', 'G', '@', '`', '/', ' ', 'z'])('rejects the non-hex character %j', (d) => {
    expect(parseIp(`${d}::1`)).toBeUndefined();
    expect(parseIp(`1::${d}`)).toBeUndefined();
  });

  it('maps only ::ffff:0:0/96 to IPv4', () => {
    expect(parseIp('::ffff:1.2.3.4')).toEqual({ family: 4, value: 0x01020304 });
    expect(parseIp('::fffe:1.2.3.4')).toEqual({ family: 6, words: [0, 0, 0xfffe, 0x01020304] });
    expect(parseIp('0:1::ffff:1.2.3.4')).toEqual({ family: 6, words: [1, 0, 0xffff, 0x01020304] });
    expect(parseIp('0:0:0:1:0:ffff:1.2.3.4')).toEqual({ family: 6, words: [0, 1, 0xffff, 0x01020304] });
    expect(parseIp('1::ffff:1.2.3.4')).toEqual({ family: 6, words: [0x00010000, 0, 0xffff, 0x01020304] });
  });

  it('accepts the longest valid text (45 characters) and refuses anything with an empty group', () => {
    const longest = '0000:0000:0000:0000:0000:0000:255.255.255.255';
    expect(longest.length).toBe(45);
    expect(normalizeIp(longest)).toBe('::ffff:ffff');
    expect(normalizeIp('ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255')).toBe('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff');
    expect(parseIp('0000:0000:0000:0000:0000:0000:255.255.255.2555')).toBeUndefined();
    expect(parseIp(':')).toBeUndefined();
    expect(parseIp('1:')).toBeUndefined();
    expect(parseIp(':1')).toBeUndefined();
    expect(parseIp(':::')).toBeUndefined();
    expect(parseIp('1:::2')).toBeUndefined();
    expect(parseIp('::1:')).toBeUndefined();
    expect(parseIp('1:2:3:4:5:6:7:')).toBeUndefined();
  });

  it('refuses a dotted group that is not last or not valid IPv4', () => {
    expect(parseIp('::1.2.3.4:5')).toBeUndefined();
    expect(parseIp('1.2.3.4::')).toBeUndefined();
    expect(parseIp('::1.2.3')).toBeUndefined();
    expect(parseIp('::01.2.3.4')).toBeUndefined();
    expect(parseIp('::1.2.3.')).toBeUndefined();
    // 0.0.0.0 is a valid tail (its value is 0, not an error).
    expect(parseIp('::0.0.0.0')).toEqual({ family: 6, words: [0, 0, 0, 0] });
    expect(normalizeIp('1::0.0.0.1')).toBe('1::1');
    expect(parseIp('1:2:3:4:5:6:7:1.2.3.4')).toBeUndefined();
    expect(parseIp('1:2:3:4:5:6:7:8:9')).toBeUndefined();
    expect(parseIp('1:2:3:4:5:1.2.3.4')).toBeUndefined();
  });

  it('accepts groups of one to four digits only', () => {
    expect(normalizeIp('1:22:333:4444::')).toBe('1:22:333:4444::');
    expect(parseIp('1:22:333:44444::')).toBeUndefined();
    expect(parseIp('::00000')).toBeUndefined();
  });
});

describe('normalizeIp', () => {
  it.each(['x', '', '1.2.3', '::g', '[::1]'])('returns undefined for %j', (text) => {
    expect(normalizeIp(text)).toBeUndefined();
  });
});

describe('formatIp IPv6', () => {
  it.each([
    ['1:0:0:0:0:0:0:0', '1::'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['1:0:2:0:3:0:4:0', '1:0:2:0:3:0:4:0'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
    ['0:0:1:0:0:0:0:2', '0:0:1::2'],
    ['1:2:3:4:5:6:0:0', '1:2:3:4:5:6::'],
    ['0:0:1:2:3:4:5:6', '::1:2:3:4:5:6'],
    ['abcd:ef01:2345:6789:abcd:ef01:2345:6789', 'abcd:ef01:2345:6789:abcd:ef01:2345:6789'],
  ])('%s → %s', (input, expected) => {
    expect(normalizeIp(input)).toBe(expected);
  });
});
