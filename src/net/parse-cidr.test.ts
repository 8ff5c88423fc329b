import { describe, expect, it } from 'vitest';
import { CidrError, compileCidr, parseCidr } from './parse-cidr.js';

describe('parseCidr', () => {
  it.each([
    ['IPv4 network', '10.0.0.0/8', 4, 8, '10.0.0.0/8'],
    ['IPv4 host', '192.0.2.7', 4, 32, '192.0.2.7/32'],
    ['IPv4 everything', '0.0.0.0/0', 4, 0, '0.0.0.0/0'],
    ['IPv6 network', '2001:DB8::/32', 6, 32, '2001:db8::/32'],
    ['IPv6 host', '::1', 6, 128, '::1/128'],
    ['mapped network becomes IPv4', '::ffff:10.0.0.0/104', 4, 8, '10.0.0.0/8'],
    ['whole mapped space = IPv4 /0', '::ffff:0:0/96', 4, 0, '0.0.0.0/0'],
    ['mapped host', '::ffff:192.0.2.7', 4, 32, '192.0.2.7/32'],
    ['surrounding spaces trimmed', ' 10.1.0.0/16 ', 4, 16, '10.1.0.0/16'],
  ])('%s: %s', (_desc, input, family, prefix, text) => {
    const cidr = parseCidr(input);
    expect({ family: cidr.family, prefix: cidr.prefix, text: cidr.text }).toEqual({ family, prefix, text });
  });

  it.each([
    ['host bits set', '10.0.0.1/8', /did you mean 10\.0\.0\.0\/8/],
    ['IPv6 host bits set', '2001:db8::1/32', /did you mean 2001:db8::\/32/],
    ['prefix too long v4', '10.0.0.0/33', /exceeds 32/],
    ['prefix too long v6', '::/129', /exceeds 128/],
    ['prefix with sign', '10.0.0.0/+8', /prefix length/],
    ['prefix leading zero', '10.0.0.0/08', /prefix length/],
    ['empty prefix', '10.0.0.0/', /prefix length/],
    ['zone id', 'fe80::%eth0/64', /zone ids/],
    ['garbage', 'ten.0.0.0/8', /not an IPv4 or IPv6/],
    ['empty', '', /not an IPv4 or IPv6/],
    ['mapped base with short prefix', '::ffff:10.0.0.0/80', /host bits set/],
    ['two slashes', '10.0.0.0/8/8', /prefix length/],
  ])('rejects %s: %j', (_desc, input, message) => {
    expect(() => parseCidr(input)).toThrow(CidrError);
    expect(() => parseCidr(input)).toThrow(
      expect.objectContaining({ code: 'cidr_invalid', message: expect.stringMatching(message) }) as unknown as Error,
    );
  });

  it.each([
    ['10.0.0.0/8', '10.255.255.255', true],
    ['10.0.0.0/8', '11.0.0.0', false],
    ['10.0.0.0/8', '9.255.255.255', false],
    ['10.0.0.0/8', '::ffff:10.9.9.9', true],
    ['10.0.0.0/8', '::ffff:a09:909', true],
    ['192.0.2.7', '192.0.2.7', true],
    ['192.0.2.7', '192.0.2.8', false],
    ['0.0.0.0/0', '203.0.113.1', true],
    ['0.0.0.0/0', '2001:db8::1', false],
    ['::/0', '2001:db8::1', true],
    ['::/0', '203.0.113.1', false],
    ['::/0', '::ffff:203.0.113.1', false],
    ['::ffff:10.0.0.0/104', '10.1.2.3', true],
    ['2001:db8::/32', '2001:db8:ffff::1', true],
    ['2001:db8::/32', '2001:db9::1', false],
    ['2001:db8:0:0:8000::/65', '2001:db8::8000:0:0:1', true],
    ['2001:db8:0:0:8000::/65', '2001:db8::7fff:0:0:1', false],
    ['fe80::/10', 'fe80::1%eth0', false],
    ['10.0.0.0/8', 'not-an-ip', false],
    ['10.0.0.0/8', '10.0.0.1:80', false],
  ])('%s contains %s: %s', (cidr, address, expected) => {
    expect(parseCidr(cidr).contains(address)).toBe(expected);
  });

  describe('exact (the configuration spelling rules)', () => {
    const exact = (input: string) => () => compileCidr(input, { exact: true });

    it('reports the spelling first, then the same problems as the request path', () => {
      const reasons: Readonly<Record<string, string>> = {
        '10.0.0.0/33': 'prefix length must be 0..32',
        'fd00::/129': 'prefix length must be 0..128',
        '10.0.0.0/+8': 'prefix length must be 0..32',
        '10.0.0.0/': 'prefix length must be 0..32',
        '10.0.0.0/8 ': 'prefix length must be 0..32',
        ' 10.0.0.0/8': 'not an IPv4 or IPv6 address',
        nope: 'not an IPv4 or IPv6 address',
        '10.0.0.0/08': 'prefix length must be a number',
        'fe80::1%eth0/64': 'zone ids are not allowed',
        '192.168.1.1/16': 'host bits set; did you mean 192.168.0.0/16?',
      };
      for (const [input, reason] of Object.entries(reasons)) expect(exact(input), input).toThrow(new CidrError(input, reason));
    });

    it('accepts what the request path accepts, without trimming', () => {
      expect(exact('10.0.0.0/8')()).toMatchObject({ family: 4, prefix: 8 });
      expect(exact('::ffff:10.0.0.0/104')()).toMatchObject({ family: 4, prefix: 8, text: '10.0.0.0/8' });
      expect(exact('2001:DB8::/32')().text).toBe('2001:db8::/32');
    });
  });
});
