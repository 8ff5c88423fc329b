import { isIP } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatIp, normalizeIp, parseIp, parseIpv4Value } from './parse-ip.js';

describe('parseIp / normalizeIp', () => {
  it.each([
    ['IPv4', '192.0.2.1', '192.0.2.1'],
    ['IPv4 zeros', '0.0.0.0', '0.0.0.0'],
    ['IPv4 max', '255.255.255.255', '255.255.255.255'],
    ['IPv6 loopback', '::1', '::1'],
    ['IPv6 unspecified', '::', '::'],
    ['IPv6 upper case and leading zeros', '2001:0DB8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['IPv6 longest zero run compressed', '2001:db8:0:0:1:0:0:0', '2001:db8:0:0:1::'],
    ['IPv6 leftmost run on a tie', '2001:0:0:1:0:0:1:1', '2001::1:0:0:1:1'],
    ['IPv6 single zero group not compressed', '2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['mapped dotted → IPv4', '::ffff:198.51.100.7', '198.51.100.7'],
    ['mapped hex → IPv4', '::ffff:c633:6407', '198.51.100.7'],
    ['mapped full form → IPv4', '0:0:0:0:0:ffff:10.1.2.3', '10.1.2.3'],
    ['IPv4-compatible stays IPv6', '::10.1.2.3', '::a01:203'],
    ['NAT64 stays IPv6', '64:ff9b::192.0.2.1', '64:ff9b::c000:201'],
  ])('%s: %s → %s', (_desc, input, expected) => {
    expect(normalizeIp(input)).toBe(expected);
  });

  it.each([
    ['empty', ''],
    ['leading zero (octal ambiguity)', '010.0.0.1'],
    ['three parts', '10.0.1'],
    ['five parts', '1.2.3.4.5'],
    ['octet over 255', '1.2.3.256'],
    ['trailing dot', '1.2.3.4.'],
    ['space', ' 1.2.3.4'],
    ['port', '1.2.3.4:80'],
    ['zone id', 'fe80::1%eth0'],
    ['encoded zone id', 'fe80::1%25eth0'],
    ['two ::', '1::2::3'],
    ['nine groups', '1:2:3:4:5:6:7:8:9'],
    ['seven groups without ::', '1:2:3:4:5:6:7'],
    [':: with eight groups', '1:2:3:4:5:6:7::8'],
    ['group too long', '12345::1'],
    ['non-hex', 'g::1'],
    ['leading single colon', ':1::2'],
    ['trailing single colon', '1::2:'],
    ['IPv4 not last', '1.2.3.4::1'],
    ['brackets', '[::1]'],
    ['hostname', 'localhost'],
  ])('rejects %s: %j', (_desc, input) => {
    expect(parseIp(input)).toBeUndefined();
  });

  it('parses IPv4 into an unsigned 32-bit value', () => {
    expect(parseIpv4Value('255.255.255.255')).toBe(0xffffffff);
    expect(parseIpv4Value('10.0.0.1')).toBe(0x0a000001);
    expect(parseIp('10.0.0.1')).toEqual({ family: 4, value: 0x0a000001 });
  });

  it('agrees with node:net isIP on validity for generated IPv6 text (zone ids aside)', () => {
    fc.assert(
      fc.property(fc.ipV6(), (text) => {
        expect(parseIp(text) !== undefined).toBe(isIP(text) === 6);
      }),
    );
  });

  it('round-trips generated addresses through formatIp', () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), (text) => {
        const ip = parseIp(text);
        expect(ip).toBeDefined();
        const canonical = formatIp(ip!);
        expect(parseIp(canonical)).toEqual(ip);
        expect(isIP(canonical)).toBe(ip!.family);
      }),
    );
  });
});
