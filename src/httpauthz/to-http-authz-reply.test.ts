import { describe, expect, it } from 'vitest';
import type { RenderedVerdict } from '../core/render-decision.js';
import { toHttpAuthzReply } from './to-http-authz-reply.js';

const ALLOW: RenderedVerdict = {
  allow: true,
  upstreamHeaders: [['x-idgate-subject', 'corp:alice']],
  removeHeaders: ['x-idgate-issuer', 'x-idgate-forged'],
  metadata: {},
};
const REDIRECT: RenderedVerdict = {
  allow: false,
  status: 302,
  code: 'verification_required',
  headers: [
    ['location', 'https://verify.example/session/abc'],
    ['cache-control', 'no-store'],
    ['x-idgate-reason', 'verification_required'],
  ],
  body: '',
  metadata: {},
};
const FORBIDDEN: RenderedVerdict = {
  allow: false,
  status: 403,
  code: 'claims_mismatch',
  headers: [
    ['content-type', 'application/problem+json'],
    ['x-idgate-reason', 'claims_mismatch'],
  ],
  body: '{"code":"claims_mismatch"}',
  metadata: {},
};

describe('toHttpAuthzReply', () => {
  it('allows with 200 (never 204), identity headers and, for Envoy, the headers to remove', () => {
    const envoy = toHttpAuthzReply(ALLOW, 'envoy');
    expect(envoy).toEqual({
      status: 200,
      headers: { 'cache-control': 'no-store', 'x-idgate-subject': 'corp:alice', 'x-envoy-auth-headers-to-remove': 'x-idgate-issuer,x-idgate-forged' },
      body: '',
    });
    expect(toHttpAuthzReply(ALLOW, 'nginx').headers['x-envoy-auth-headers-to-remove']).toBeUndefined();
  });

  it('relays a denial as it is', () => {
    expect(toHttpAuthzReply(FORBIDDEN, 'nginx')).toEqual({ status: 403, headers: { 'content-type': 'application/problem+json', 'x-idgate-reason': 'claims_mismatch' }, body: '{"code":"claims_mismatch"}' });
  });

  it('passes a step-up 302 to Envoy and Traefik', () => {
    for (const flavor of ['envoy', 'forward_auth'] as const) {
      const reply = toHttpAuthzReply(REDIRECT, flavor);
      expect(reply.status).toBe(302);
      expect(reply.headers['location']).toBe('https://verify.example/session/abc');
    }
  });

  it('turns a step-up 302 into 401 + <prefix>location for nginx', () => {
    const reply = toHttpAuthzReply(REDIRECT, 'nginx', 'x-gate-', 'r"ealm');
    expect(reply.status).toBe(401);
    expect(reply.headers['location']).toBeUndefined();
    expect(reply.headers['x-gate-location']).toBe('https://verify.example/session/abc');
    expect(reply.headers['www-authenticate']).toBe(
      'Bearer realm="realm", error="insufficient_user_authentication", error_description="identity verification required"',
    );
    expect(reply.headers['cache-control']).toBe('no-store');
  });

  it('keeps repeated deny headers as a list', () => {
    const v: RenderedVerdict = { ...FORBIDDEN, headers: [['link', 'a'], ['link', 'b'], ['link', 'c']] } as RenderedVerdict;
    expect(toHttpAuthzReply(v, 'envoy').headers['link']).toEqual(['a', 'b', 'c']);
  });
});
