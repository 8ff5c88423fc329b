import { BlockList } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createCidrSet } from './create-cidr-set.js';
import { CidrError } from './parse-cidr.js';
import { formatIp, parseIp } from './parse-ip.js';

describe('createCidrSet', () => {
  const set = createCidrSet(['10.0.0.0/8', '192.168.0.0/16', '2001:db8::/32', '::ffff:172.16.0.0/108', '127.0.0.1']);

  it('normalises and keeps its entries in order', () => {
    expect(set.size).toBe(5);
    expect(set.entries).toEqual(['10.0.0.0/8', '192.168.0.0/16', '2001:db8::/32', '172.16.0.0/12', '127.0.0.1/32']);
  });

  it.each([
    ['10.20.30.40', true],
    ['192.168.255.1', true],
    ['172.31.0.1', true],
    ['172.32.0.1', false],
    ['::ffff:192.168.1.1', true],
    ['127.0.0.1', true],
    ['127.0.0.2', false],
    ['2001:db8::abcd', true],
    ['2001:db9::', false],
    ['8.8.8.8', false],
    ['', false],
    ['garbage', false],
  ])('contains(%j) is %s', (address, expected) => {
    expect(set.contains(address)).toBe(expected);
    const parsed = parseIp(address);
    if (parsed !== undefined) expect(set.containsIp(parsed)).toBe(expected);
  });

  it('an empty set contains nothing', () => {
    const empty = createCidrSet([]);
    expect(empty.size).toBe(0);
    expect(empty.contains('10.0.0.1')).toBe(false);
  });

  it('names the index of the first invalid entry', () => {
    expect(() => createCidrSet(['10.0.0.0/8', '10.0.0.1/8'])).toThrow(CidrError);
    expect(() => createCidrSet(['10.0.0.0/8', '10.0.0.1/8'])).toThrow(/entry 1/);
  });

  // node:net BlockList is an independent implementation; within one family its answers must match ours.
  it('agrees with node:net BlockList on IPv4', () => {
    fc.assert(
      fc.property(fc.ipV4(), fc.integer({ min: 0, max: 32 }), fc.ipV4(), (base, prefix, address) => {
        const network = parseIp(base)!;
        const value = network.family === 4 ? network.value : 0;
        const masked = prefix === 0 ? 0 : (value & (-1 << (32 - prefix))) >>> 0;
        const cidr = `${formatIp({ family: 4, value: masked })}/${prefix}`;
        const blockList = new BlockList();
        blockList.addSubnet(formatIp({ family: 4, value: masked }), prefix, 'ipv4');
        expect(createCidrSet([cidr]).contains(address)).toBe(blockList.check(address, 'ipv4'));
      }),
    );
  });

  it('agrees with node:net BlockList on IPv6 outside the mapped range', () => {
    fc.assert(
      fc.property(fc.ipV6(), fc.integer({ min: 0, max: 128 }), fc.ipV6(), (base, prefix, address) => {
        const parsedBase = parseIp(base)!;
        const parsedAddress = parseIp(address)!;
        fc.pre(parsedBase.family === 6 && parsedAddress.family === 6);
        const blockList = new BlockList();
        blockList.addSubnet(base, prefix, 'ipv6');
        // Our parser rejects host bits, so hand it the masked network address.
        const words = parsedBase.family === 6 ? [...parsedBase.words] : [0, 0, 0, 0];
        const masked = words.map((word, i) => {
          const bits = Math.min(32, Math.max(0, prefix - i * 32));
          return bits === 0 ? 0 : (word & (-1 << (32 - bits))) >>> 0;
        }) as [number, number, number, number];
        fc.pre(!(masked[0] === 0 && masked[1] === 0 && masked[2] === 0xffff));
        const cidr = `${formatIp({ family: 6, words: masked })}/${prefix}`;
        expect(createCidrSet([cidr]).contains(address)).toBe(blockList.check(address, 'ipv6'));
      }),
    );
  });
});
