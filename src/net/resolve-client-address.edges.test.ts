import { describe, expect, it } from 'vitest';
import { createCidrSet } from './create-cidr-set.js';
import { parseForwardedHop, resolveClientAddress } from './resolve-client-address.js';

/** Edges of forwarded-hop parsing and client-address resolution (found by mutation testing, `make mutation`). */
const none = createCidrSet([]);
const trusted = createCidrSet(['10.0.0.0/8']);
const text = (raw: string) => {
  const ip = parseForwardedHop(raw);
  return ip === undefined ? undefined : ip.family === 4 ? `v4:${ip.value}` : 'v6';
};

describe('parseForwardedHop ports', () => {
  it.each([
    ['1.2.3.4:0', true],
    ['1.2.3.4:9', true],
    ['1.2.3.4:1:', false],
    ['1.2.3.4:65535', true],
    ['1.2.3.4:65536', false],
    ['1.2.3.4:', false],
    ['1.2.3.4:000080', false], // 6 digits, even though the number is small
    ['1.2.3.4:-1', false],
    ['1.2.3.4:+80', false],
    ['1.2.3.4:8a', false],
    ['1.2.3.4:1e3', false],
    ['1.2.3.4:0x10', false],
    ['1.2.3.4:8/', false],
    ['1.2.3.4:8:', false],
    ['[2001:db8::1]:443', true],
    ['[2001:db8::1]:', false],
    ['[2001:db8::1]443', false],
    ['[2001:db8::1]x443', false],
    ['[2001:db8::1]:99999', false],
  ])('%s → valid %s', (raw, valid) => {
    expect(parseForwardedHop(raw) !== undefined).toBe(valid);
  });

  it('reads the address next to a port, and never a malformed one', () => {
    expect(text('1.2.3.4:80')).toBe(text('1.2.3.4'));
    expect(parseForwardedHop('1.2.3:80')).toBeUndefined();
    expect(parseForwardedHop('999.1.1.1:80')).toBeUndefined();
  });
});

describe('resolveClientAddress edges', () => {
  it('strips the port of a plain IPv4 peer even with no trusted proxies', () => {
    expect(resolveClientAddress({ peer: '203.0.113.9:443', trustedProxies: none })).toBe('203.0.113.9');
  });

  it('ignores x-forwarded-for from an IPv6 peer when no proxy is trusted', () => {
    expect(resolveClientAddress({ peer: '2001:db8::1', xForwardedFor: '198.51.100.1', trustedProxies: none })).toBe('2001:db8::1');
    expect(resolveClientAddress({ peer: '[2001:db8::1]:443', xForwardedFor: '198.51.100.1', trustedProxies: none })).toBe('2001:db8::1');
  });

  it('a trusted peer with a leading empty element still yields the client', () => {
    expect(resolveClientAddress({ peer: '10.0.0.1', xForwardedFor: ',198.51.100.1', trustedProxies: trusted })).toBe('198.51.100.1');
  });
});
