import { describe, expect, it } from 'vitest';
import {
  buildCheckRequest,
  encodeCheckRequest,
  grpcFrame,
  loadUpstreamCheckCodec,
  unframeGrpc,
} from '../bench/encode-check-request.js';
import { classifyCheckResponse } from '../bench/check-sample.js';

const codec = loadUpstreamCheckCodec();

describe('bench request encoding', () => {
  it('frames a message with flag 0 and a big-endian length', () => {
    const frame = grpcFrame(Uint8Array.from([1, 2, 3]));
    expect([...frame]).toEqual([0, 0, 0, 0, 3, 1, 2, 3]);
    expect(unframeGrpc(frame)?.equals(Buffer.from([1, 2, 3]))).toBe(true);
  });

  it('refuses to unframe a truncated or compressed message', () => {
    expect(unframeGrpc(Buffer.from([0, 0, 0, 0, 4, 1, 2, 3]))).toBeUndefined();
    expect(unframeGrpc(Buffer.from([1, 0, 0, 0, 1, 9]))).toBeUndefined();
    expect(unframeGrpc(Buffer.from([0, 0]))).toBeUndefined();
  });

  it('encodes a CheckRequest that the upstream protos decode back field for field', () => {
    const body = encodeCheckRequest(codec, {
      token: 'aaa.bbb.ccc',
      contextExtensions: { policy: 'orders' },
    });
    expect(body.readUInt32BE(1)).toBe(body.length - 5);
    const decoded = codec.deserializeRequest(unframeGrpc(body)!) as {
      attributes: {
        source: { address: { socket_address: { address: string; port_value: number } }; principal: string };
        request: { http: { method: string; path: string; host: string; scheme: string; protocol: string; headers: Record<string, string> } };
        context_extensions: Record<string, string>;
      };
    };
    const a = decoded.attributes;
    expect(a.source.address.socket_address).toMatchObject({ address: '10.0.0.7', port_value: 51234 });
    expect(a.source.principal).toMatch(/^spiffe:\/\//);
    expect(a.request.http).toMatchObject({
      method: 'GET',
      path: '/api/orders?page=2',
      host: 'shop.example.com',
      scheme: 'https',
      protocol: 'HTTP/2',
    });
    expect(a.request.http.headers['authorization']).toBe('Bearer aaa.bbb.ccc');
    expect(a.request.http.headers[':path']).toBe('/api/orders?page=2');
    expect(Object.keys(a.request.http.headers).length).toBeGreaterThanOrEqual(12);
    expect(a.context_extensions).toEqual({ policy: 'orders' });
  });

  it('omits authorization and context_extensions when not asked for', () => {
    const request = buildCheckRequest({ path: '/x' }) as {
      attributes: { request: { http: { headers: Record<string, string> } }; context_extensions?: unknown };
    };
    expect(request.attributes.request.http.headers['authorization']).toBeUndefined();
    expect(request.attributes.context_extensions).toBeUndefined();
  });

  it('gives different tokens different bodies of the expected size', () => {
    const a = encodeCheckRequest(codec, { token: 'x'.repeat(100) });
    const b = encodeCheckRequest(codec, { token: 'y'.repeat(100) });
    expect(a.length).toBe(b.length);
    expect(a.equals(b)).toBe(false);
  });
});

describe('bench verdict classification', () => {
  it.each([
    { what: 'status 0 is an allow', response: { status: { code: 0 }, ok_response: {} }, want: 'allow' },
    { what: 'absent status is an allow', response: { ok_response: {} }, want: 'allow' },
    {
      what: 'a 401 with the RFC 9470 challenge is a step-up',
      response: {
        status: { code: 16 },
        denied_response: {
          status: { code: 401 },
          headers: [{ header: { key: 'WWW-Authenticate', value: 'Bearer error="insufficient_user_authentication"' } }],
        },
      },
      want: 'step_up',
    },
    { what: 'a 302 is a step-up', response: { status: { code: 7 }, denied_response: { status: { code: 302 } } }, want: 'step_up' },
    {
      what: 'a plain 401 is a deny',
      response: { status: { code: 16 }, denied_response: { status: { code: 401 }, body: '{"code":"token_invalid"}' } },
      want: 'deny',
    },
    { what: 'a 503 is a deny', response: { status: { code: 14 }, denied_response: { status: { code: 503 } } }, want: 'deny' },
  ])('$what', ({ response, want }) => {
    expect(classifyCheckResponse(response).verdict).toBe(want);
  });
});
