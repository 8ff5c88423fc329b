import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseAuthority } from './parse-authority.js';

/** The reading before the in-place label scan (split + a regex per label): the reference. */
function reference(authority: string): { host: string; port?: number } | { error: string } {
  const lower = authority.toLowerCase();
  let host: string;
  let portText: string | undefined;
  if (lower.startsWith('[')) {
    const close = lower.indexOf(']');
    if (close < 0) return { error: 'invalid host: unclosed IPv6 literal' };
    host = lower.slice(0, close + 1);
    const rest = lower.slice(close + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) return { error: 'invalid host: characters after the IPv6 literal' };
      portText = rest.slice(1);
    }
    if (!/^\[[0-9a-f:.]*:[0-9a-f:.]*\]$/.test(host)) return { error: 'invalid host: malformed IPv6 literal' };
  } else {
    const colon = lower.indexOf(':');
    if (colon >= 0) {
      if (lower.indexOf(':', colon + 1) >= 0) return { error: 'invalid host: an IPv6 address must be in brackets' };
      portText = lower.slice(colon + 1);
      host = lower.slice(0, colon);
    } else {
      host = lower;
    }
    if (host.endsWith('.')) host = host.slice(0, -1);
    if (host === '') return { error: 'missing host' };
    if (host.length > 253) return { error: 'invalid host: longer than 253 characters' };
    for (const label of host.split('.')) {
      if (!/^[a-z0-9_-]{1,63}$/.test(label)) return { error: 'invalid host: not a host name or IP address' };
    }
  }
  if (portText === undefined || portText === '') return { host };
  if (!/^[0-9]{1,5}$/.test(portText)) return { error: 'invalid host: bad port' };
  const port = Number(portText);
  if (port < 1 || port > 65535) return { error: 'invalid host: port out of range' };
  return { host, port };
}

describe('parseAuthority', () => {
  it('answers every authority as the split-and-regex reading did', () => {
    const char = fc.constantFrom(...'abcXYZ019.-_:[]@%\\ é'.split(''), 'K', 'İ', '\u0000', '.', '.');
    fc.assert(
      fc.property(fc.array(char, { maxLength: 24 }).map((cs) => cs.join('')), (authority) => {
        expect(parseAuthority(authority)).toEqual(reference(authority));
      }),
      { seed: 20261206, numRuns: 20_000 },
    );
    const long = (n: number): string => 'a'.repeat(n);
    for (const authority of [
      'shop.example.com', 'Shop.Example.COM:8443', 'a..b', '.a', 'a.', 'a..', '', ':80', 'a:', 'a:0', 'a:65536', '[::1]:8080',
      `${long(63)}.com`, `${long(64)}.com`, `${long(63)}.${long(63)}.${long(63)}.${long(61)}`, `${long(63)}.${long(63)}.${long(63)}.${long(62)}`,
      'x@admin.example.com', 'admin.example.com%2e', 'a b', 'Kelvin.example', 'exa_mple-1.com',
    ]) {
      expect(parseAuthority(authority)).toEqual(reference(authority));
    }
  });
});
