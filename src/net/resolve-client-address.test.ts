import { describe, expect, it } from 'vitest';
import { createCidrSet } from './create-cidr-set.js';
import { formatIp } from './parse-ip.js';
import { parseForwardedHop, resolveClientAddress } from './resolve-client-address.js';

const none = createCidrSet([]);
// Two proxy tiers: an edge load balancer in 10.0.0.0/8 and a mesh sidecar network in fd00::/8.
const trusted = createCidrSet(['10.0.0.0/8', 'fd00::/8', '127.0.0.1']);

describe('resolveClientAddress', () => {
  it.each([
    // description, peer, x-forwarded-for, trusted proxies, expected
    ['no trusted proxies: the peer, XFF ignored', '203.0.113.9', '198.51.100.1', none, '203.0.113.9'],
    ['untrusted peer sending XFF (spoofing): the peer', '203.0.113.9', '10.1.1.1, 198.51.100.1', trusted, '203.0.113.9'],
    ['untrusted peer claiming to be a trusted hop: the peer', '203.0.113.9', '10.0.0.1', trusted, '203.0.113.9'],
    ['trusted peer, one hop', '10.0.0.5', '198.51.100.1', trusted, '198.51.100.1'],
    ['trusted peer, no XFF: the peer', '10.0.0.5', undefined, trusted, '10.0.0.5'],
    ['trusted peer, empty XFF: the peer', '10.0.0.5', '', trusted, '10.0.0.5'],
    ['client prepends fake addresses: rightmost untrusted wins', '10.0.0.5', '1.1.1.1, 10.9.9.9, 198.51.100.1', trusted, '198.51.100.1'],
    ['client prepends a fake trusted hop: still the real client', '10.0.0.5', '10.66.66.66, 198.51.100.1', trusted, '198.51.100.1'],
    ['several trusted hops skipped', '10.0.0.5', '198.51.100.1, 10.0.0.7, 10.0.0.6', trusted, '198.51.100.1'],
    ['every hop trusted: leftmost trusted hop', '10.0.0.5', '10.0.0.9, 10.0.0.8', trusted, '10.0.0.9'],
    ['malformed rightmost entry: the peer (its right neighbour)', '10.0.0.5', '198.51.100.1, unknown', trusted, '10.0.0.5'],
    ['malformed entry after a trusted hop: that hop', '10.0.0.5', '198.51.100.1, garbage, 10.0.0.7', trusted, '10.0.0.7'],
    ['malformed entry left of the client is never read', '10.0.0.5', 'garbage, 198.51.100.1', trusted, '198.51.100.1'],
    ['IPv4 with port', '10.0.0.5', '198.51.100.1:4711', trusted, '198.51.100.1'],
    ['bracketed IPv6 with port', '10.0.0.5', '[2001:db8::1]:443', trusted, '2001:db8::1'],
    ['bracketed IPv6 without port', '10.0.0.5', '[2001:DB8::1]', trusted, '2001:db8::1'],
    ['bare IPv6 normalised', '10.0.0.5', '2001:0db8:0:0::1', trusted, '2001:db8::1'],
    ['IPv6 trusted peer and hop', 'fd00::1', '2001:db8::7, fd00::2', trusted, '2001:db8::7'],
    ['mapped peer is matched as IPv4', '::ffff:10.0.0.5', '198.51.100.1', trusted, '198.51.100.1'],
    ['mapped client returned as IPv4', '10.0.0.5', '::ffff:198.51.100.1', trusted, '198.51.100.1'],
    ['mapped hop is trusted as IPv4', '10.0.0.5', '198.51.100.1, ::ffff:10.0.0.8', trusted, '198.51.100.1'],
    ['untrusted mapped peer returned as IPv4', '::ffff:203.0.113.9', '10.0.0.1', trusted, '203.0.113.9'],
    ['spaces and tabs around entries', '10.0.0.5', ' 198.51.100.1 ,\t10.0.0.7 ', trusted, '198.51.100.1'],
    ['empty list elements skipped', '10.0.0.5', '198.51.100.1,, ,10.0.0.7,', trusted, '198.51.100.1'],
    ['multiple XFF headers as an array (oldest first)', '10.0.0.5', ['198.51.100.1', '10.0.0.7'], trusted, '198.51.100.1'],
    ['zone id in XFF is malformed', '10.0.0.5', '198.51.100.1, fe80::1%eth0', trusted, '10.0.0.5'],
    ['bracketed IPv4 is malformed', '10.0.0.5', '[198.51.100.1]', trusted, '10.0.0.5'],
    ['port out of range is malformed', '10.0.0.5', '198.51.100.1:70000', trusted, '10.0.0.5'],
    ['unbracketed IPv6 with a port is indistinguishable: read as an address', '10.0.0.5', '2001:db8::1:80', trusted, '2001:db8::1:80'],
    ['peer with port', '10.0.0.5:51234', '198.51.100.1', trusted, '198.51.100.1'],
    ['invalid peer: unknown source', 'not-an-ip', '198.51.100.1', trusted, ''],
    ['empty peer: unknown source', '', '198.51.100.1', none, ''],
  ] as const)('%s', (_description, peer, xForwardedFor, trustedProxies, expected) => {
    expect(resolveClientAddress({ peer, xForwardedFor, trustedProxies })).toBe(expected);
  });

  it('stops after maxHops trusted entries and returns the last trusted hop', () => {
    const chain = ['198.51.100.1', ...Array.from({ length: 10 }, (_, i) => `10.0.0.${i + 10}`)].join(',');
    expect(resolveClientAddress({ peer: '10.0.0.5', xForwardedFor: chain, trustedProxies: trusted, maxHops: 4 })).toBe('10.0.0.16');
    expect(resolveClientAddress({ peer: '10.0.0.5', xForwardedFor: chain, trustedProxies: trusted })).toBe('198.51.100.1');
  });

  it('handles a huge attacker-controlled prefix without reading it', () => {
    const junk = Array.from({ length: 5000 }, () => 'x').join(',');
    expect(resolveClientAddress({ peer: '10.0.0.5', xForwardedFor: `${junk}, 198.51.100.1`, trustedProxies: trusted })).toBe(
      '198.51.100.1',
    );
  });
});

describe('parseForwardedHop', () => {
  it.each([
    ['1.2.3.4', '1.2.3.4'],
    ['1.2.3.4:0', '1.2.3.4'],
    ['[::1]:65535', '::1'],
    ['unknown', undefined],
    ['_hidden', undefined],
    ['1.2.3.4:', undefined],
    ['[::1', undefined],
    ['[::1]x', undefined],
    ['"1.2.3.4"', undefined],
  ])('%j → %s', (input, expected) => {
    const hop = parseForwardedHop(input);
    expect(hop === undefined ? undefined : formatIp(hop)).toBe(expected);
  });
});
