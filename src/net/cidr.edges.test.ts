import { describe, expect, it } from 'vitest';
import { createCidrSet } from './create-cidr-set.js';
import { CidrError, compileCidr, parseCidr } from './parse-cidr.js';
import { parseIp } from './parse-ip.js';

/** Edges of CIDR parsing and sets (found by mutation testing, `make mutation`). */
describe('CIDR edges', () => {
  it('names its error CidrError', () => {
    let caught: unknown;
    try {
      compileCidr('nope');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(CidrError);
    expect((caught as Error).name).toBe('CidrError');
  });

  it('refuses an IPv4-mapped network shorter than /96 (it would reach outside the mapped space)', () => {
    expect(() => compileCidr('::ffff:0:0/95')).toThrow(/host bits set \(an IPv4-mapped network needs a prefix of at least 96\)/);
    expect(compileCidr('::ffff:0:0/96').prefix).toBe(0);
  });

  it('a parsed network answers containsIp for parsed addresses', () => {
    const net = parseCidr('10.0.0.0/8');
    expect(net.containsIp(parseIp('10.1.2.3')!)).toBe(true);
    expect(net.containsIp(parseIp('11.1.2.3')!)).toBe(false);
  });

  it('an IPv4-only set contains no IPv6 address, and an IPv6-only set no IPv4 address', () => {
    const v4 = createCidrSet(['10.0.0.0/8']);
    expect(v4.contains('2001:db8::1')).toBe(false);
    expect(v4.containsIp(parseIp('fd00::1')!)).toBe(false);
    const v6 = createCidrSet(['fd00::/8']);
    expect(v6.contains('10.0.0.1')).toBe(false);
    expect(v6.contains('fd00::1')).toBe(true);
  });

  it('lets programming errors through unchanged instead of dressing them up as a config error', () => {
    expect(() => createCidrSet([undefined as unknown as string])).toThrow(TypeError);
    expect(() => createCidrSet(['10.0.0.0/8', 'bad'])).toThrow(/\(entry 1\)/);
  });
});
