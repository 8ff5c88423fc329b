import { describe, expect, it } from 'vitest';
import type { DeniedHttpStatus } from '../core/render-decision.js';
import { grpcCodeFor, toCheckResponse, toStruct } from './to-check-response.js';

describe('toCheckResponse', () => {
  it('maps an allow onto ok_response with explicit append:false', () => {
    const response = toCheckResponse({
      allow: true,
      upstreamHeaders: [['x-idgate-subject', 'corp:alice']],
      removeHeaders: ['x-idgate-verified'],
      metadata: { decision: 'allow', n: 1, shadow: true },
    });
    expect(response).toEqual({
      status: { code: 0 },
      ok_response: {
        headers: [{ header: { key: 'x-idgate-subject', value: 'corp:alice' }, append: { value: false } }],
        headers_to_remove: ['x-idgate-verified'],
      },
      dynamic_metadata: {
        fields: { decision: { stringValue: 'allow' }, n: { numberValue: 1 }, shadow: { boolValue: true } },
      },
    });
    expect(response.denied_response).toBeUndefined();
  });

  it('maps a deny onto denied_response with a non-zero status and no append field', () => {
    const response = toCheckResponse({
      allow: false,
      status: 401,
      code: 'token_missing',
      headers: [['www-authenticate', 'Bearer realm="idgate"']],
      body: '{}',
      metadata: { decision: 'deny', code: 'token_missing' },
    });
    expect(response.status).toEqual({ code: 16, message: 'token_missing' });
    expect(response.denied_response).toEqual({
      status: { code: 401 },
      headers: [{ header: { key: 'www-authenticate', value: 'Bearer realm="idgate"' } }],
      body: '{}',
    });
    expect(response.ok_response).toBeUndefined();
    expect(response.dynamic_metadata.fields['code']).toEqual({ stringValue: 'token_missing' });
  });

  it.each<[DeniedHttpStatus, number]>([
    [400, 3],
    [401, 16],
    [302, 16],
    [403, 7],
    [429, 8],
    [503, 14],
  ])('HTTP %s → google.rpc.Code %s', (status, code) => {
    expect(grpcCodeFor(status)).toBe(code);
  });

  it('keeps a __proto__ metadata key as a field', () => {
    const struct = toStruct({ ['__proto__']: 'x' });
    expect(Object.keys(struct.fields)).toEqual(['__proto__']);
  });
});
