import { describe, expect, it } from 'vitest';
import { renderPage, type PageKind } from './render-page.js';

const KINDS: readonly PageKind[] = ['in_review', 'declined', 'pending', 'verified', 'error', 'start_invalid', 'start_expired', 'start_unavailable', 'start_loop'];

describe('renderPage', () => {
  it.each(KINDS)('%s is a complete page: lang, title, exactly one h1, text, no script', (kind) => {
    const html = renderPage(kind);
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).toContain('<html lang="en">');
    expect(html).toMatch(/<title>[^<]{5,}<\/title>/);
    expect(html.match(/<h1>/g)).toHaveLength(1);
    expect(html).toMatch(/<p>[^<]{40,}<\/p>/);
    expect(html).not.toMatch(/<script|javascript:/i);
  });

  it('says "declined" on the declined page', () => {
    expect(renderPage('declined')).toMatch(/<h1>[^<]*declined[^<]*<\/h1>/);
  });

  it('offers a link next to the timed refresh, and escapes both URLs', () => {
    const html = renderPage('pending', { refreshUrl: '/verification/callback?verificationSessionId=a"b&c=<d>' });
    expect(html).toContain('<meta http-equiv="refresh" content="3;url=/verification/callback?verificationSessionId=a&quot;b&amp;c=&lt;d&gt;">');
    expect(html).toContain('<a href="/verification/callback?verificationSessionId=a&quot;b&amp;c=&lt;d&gt;">Check again now</a>');
  });

  it('links back with continueUrl', () => {
    expect(renderPage('verified', { continueUrl: 'https://shop.example/a?b=1&c=2' })).toContain(
      '<a href="https://shop.example/a?b=1&amp;c=2">Continue</a>',
    );
  });

  // Issue 16 §4: a step-up started by an API client has no page to go back to; say what to do instead.
  it('tells an API or CLI user on the verified page to repeat the request in their client', () => {
    const html = renderPage('verified');
    expect(html).toMatch(/<h1>You are verified<\/h1>/);
    expect(html).toContain('go back to it and repeat the request: it is now allowed');
  });
});
