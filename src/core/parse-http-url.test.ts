import { describe, expect, it } from 'vitest';
import { parseHttpUrl } from './parse-http-url.js';

describe('parseHttpUrl', () => {
  it('accepts absolute http(s) URLs and re-serialises them percent-encoded', () => {
    expect(parseHttpUrl('https://verify.example/s?x=1')?.href).toBe('https://verify.example/s?x=1');
    expect(parseHttpUrl('http://Verify.Example:8080/a b')?.href).toBe('http://verify.example:8080/a%20b');
  });

  it.each(['ftp://verify.example/s', 'javascript:alert(1)', 'data:text/html,hi', '/relative', '//evil.com', 'nope', ''])(
    'refuses the scheme or form of %j',
    (text) => {
      expect(parseHttpUrl(text)).toBeUndefined();
    },
  );

  it.each(['https://user@verify.example/s', 'https://:pw@verify.example/s', 'https://u:p@verify.example/s'])(
    'refuses credentials in %s',
    (text) => {
      expect(parseHttpUrl(text)).toBeUndefined();
    },
  );
});
