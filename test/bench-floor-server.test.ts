import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawCheck, sampleCheck } from '../bench/check-sample.js';
import { encodeCheckRequest, loadUpstreamCheckCodec, unframeGrpc } from '../bench/encode-check-request.js';
import { startFloorServer, type FloorServer } from '../bench/floor-server.js';
import { startH2FloorServer, type H2FloorServer } from '../bench/h2-floor-server.js';
import { startNoopServer, type NoopServer } from '../bench/noop-server.js';

/**
 * The transport floor (issue 15 §2) must answer a real grpc-js client with a CheckResponse the upstream
 * protos decode as the same OK the proto-loader ceiling sends — otherwise the bench's allow check would
 * reject it, or worse, the floor would be measuring a different reply than the ceiling.
 */
const codec = loadUpstreamCheckCodec();
const body = encodeCheckRequest(codec, { token: 'aaa.bbb.ccc' });
let floor: FloorServer;
let noop: NoopServer;
let h2floor: H2FloorServer;

beforeAll(async () => {
  floor = await startFloorServer({});
  noop = await startNoopServer({});
  h2floor = await startH2FloorServer({});
});
afterAll(async () => {
  await floor.close();
  await noop.close();
  await h2floor.close();
});


describe('bench transport floor', () => {
  it('answers a CheckRequest with an OK CheckResponse the upstream protos decode', async () => {
    const reply = await rawCheck(floor.port, unframeGrpc(body) as Buffer);
    const decoded = codec.deserializeResponse(reply);
    expect(decoded).toEqual({
      status: { code: 0 },
      ok_response: { headers: [{ header: { key: 'x-idgate-subject', value: 'bench' }, append: { value: false } }] },
      http_response: 'ok_response',
    });
    const sample = await sampleCheck(floor.port, body, codec);
    expect(sample).toEqual({ verdict: 'allow', rpcStatusCode: 0 });
  });

  it('sends the same reply bytes as the proto-loader ceiling, without decoding the request', async () => {
    const fromNoop = await rawCheck(noop.port, unframeGrpc(body) as Buffer);
    const fromFloor = await rawCheck(floor.port, unframeGrpc(body) as Buffer);
    expect(codec.deserializeResponse(fromFloor)).toEqual(codec.deserializeResponse(fromNoop));
    // Bytes that are no CheckRequest at all: the ceiling's proto-loader decode fails, the floor never looks.
    const garbage = Buffer.from([0xff, 0xff, 0xff, 0xff]);
    expect((await rawCheck(floor.port, garbage)).equals(fromFloor)).toBe(true);
    await expect(rawCheck(noop.port, garbage)).rejects.toMatchObject({ code: grpc.status.INTERNAL });
  });
});

describe('bench node:http2 transport floor', () => {
  it('answers a grpc-js client with the grpc-js floor\'s reply bytes and status OK', async () => {
    const fromFloor = await rawCheck(floor.port, unframeGrpc(body) as Buffer);
    const fromH2 = await rawCheck(h2floor.port, unframeGrpc(body) as Buffer);
    expect(fromH2.equals(fromFloor)).toBe(true);
    expect(await sampleCheck(h2floor.port, body, codec)).toEqual({ verdict: 'allow', rpcStatusCode: 0 });
  });

  it('answers another method with UNIMPLEMENTED, not the Check reply', async () => {
    const client = new grpc.Client(`127.0.0.1:${h2floor.port}`, grpc.credentials.createInsecure());
    try {
      const call = new Promise((resolve, reject) => {
        client.makeUnaryRequest('/envoy.service.auth.v3.Authorization/Other', (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), (err, value) => (err ? reject(err) : resolve(value)));
      });
      await expect(call).rejects.toMatchObject({ code: grpc.status.UNIMPLEMENTED });
    } finally {
      client.close();
    }
  });
});
