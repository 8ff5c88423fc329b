import type { ServiceDefinition } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { loadAuthzProtos } from '../../bench/load-authz-protos.js';
import { authorizationService, HEALTH_SERVICE } from './grpc-service-definitions.js';

/** What proto-loader built from idgate's proto/ (bench/load-authz-protos.ts): the definitions grpc-js was given before. */
const loaded = loadAuthzProtos();

/** The parts of a definition grpc-js's Server.addService reads, besides the (de)serializers. */
function shape(definition: ServiceDefinition): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(definition).map(([name, m]) => [name, { path: m.path, requestStream: m.requestStream, responseStream: m.responseStream, originalName: m.originalName }]),
  );
}

describe('hand-built grpc-js service definitions', () => {
  it('Authorization has the methods, paths, streaming flags and originalNames proto-loader gave it', () => {
    const built = authorizationService((b: Buffer) => b, (v: Buffer) => v);
    expect(shape(built)).toEqual(shape(loaded.authorization));
    expect(shape(built)).toEqual({ Check: { path: '/envoy.service.auth.v3.Authorization/Check', requestStream: false, responseStream: false, originalName: 'check' } });
  });

  it('Authorization uses the given server-side codec and refuses client-side use', () => {
    const check = authorizationService((b: Buffer) => b.length, (v: number) => Buffer.from([v]))['Check']!;
    expect(check.requestDeserialize(Buffer.from('abc'))).toBe(3);
    expect(check.responseSerialize(7)).toEqual(Buffer.from([7]));
    expect(() => check.requestSerialize(1)).toThrow(/no client-side codec/);
    expect(() => check.responseDeserialize(Buffer.alloc(0))).toThrow(/no client-side codec/);
  });

  it('Health has Check (unary) and Watch (server streaming) as proto-loader gave them', () => {
    expect(shape(HEALTH_SERVICE)).toEqual(shape(loaded.health));
    expect(HEALTH_SERVICE['Watch']).toMatchObject({ path: '/grpc.health.v1.Health/Watch', requestStream: false, responseStream: true, originalName: 'watch' });
  });

  it('Health (de)serializes as proto-loader did', () => {
    const reference = loaded.health;
    for (const name of ['Check', 'Watch']) {
      const ours = HEALTH_SERVICE[name]!;
      const theirs = reference[name]!;
      const request = Buffer.concat([Buffer.from([0x0a, 2]), Buffer.from('xy')]);
      expect(ours.requestDeserialize(request)).toEqual({ ...(theirs.requestDeserialize(request) as object) });
      expect(ours.responseSerialize({ status: 2 })).toEqual(theirs.responseSerialize({ status: 2 }));
      expect(ours.requestSerialize({ service: 'a' })).toEqual(theirs.requestSerialize({ service: 'a' }));
      expect(ours.responseDeserialize(Buffer.from([8, 3]))).toEqual({ ...(theirs.responseDeserialize(Buffer.from([8, 3])) as object) });
    }
  });
});
