import { describe, expect, it } from 'vitest';
import type { RenderedVerdict } from '../core/render-decision.js';
import { toHttpAuthzReply } from './to-http-authz-reply.js';

/** Edges of the HTTP authz reply (found by mutation testing, `make mutation`). */
const redirect = (headers: Array<[string, string]>): RenderedVerdict => ({
  allow: false,
  status: 302,
  code: 'verification_required',
  headers,
  body: 'ignored for nginx',
  metadata: {},
});

describe('toHttpAuthzReply edges', () => {
  it('uses x-idgate- and realm "idgate" by default for the nginx step-up answer, with an empty body', () => {
    const reply = toHttpAuthzReply(redirect([['location', 'https://verify.example/s/1']]), 'nginx');
    expect(reply.status).toBe(401);
    expect(reply.body).toBe('');
    expect(reply.headers['x-idgate-location']).toBe('https://verify.example/s/1');
    expect(reply.headers['location']).toBeUndefined();
    expect(reply.headers['www-authenticate']).toBe(
      'Bearer realm="idgate", error="insufficient_user_authentication", error_description="identity verification required"',
    );
  });

  it('sets no location header at all when the redirect carried none', () => {
    const reply = toHttpAuthzReply(redirect([['cache-control', 'no-store']]), 'nginx');
    expect(Object.keys(reply.headers).sort()).toEqual(['cache-control', 'www-authenticate']);
  });

  it('sends no x-envoy-auth-headers-to-remove when there is nothing to remove', () => {
    const allow: RenderedVerdict = { allow: true, upstreamHeaders: [['x-idgate-subject', 'corp:a']], removeHeaders: [], metadata: {} };
    expect(toHttpAuthzReply(allow, 'envoy').headers).toEqual({ 'cache-control': 'no-store', 'x-idgate-subject': 'corp:a' });
  });
});
