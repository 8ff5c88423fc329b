import type { Decider } from '../../src/core/decider.js';
import type { Decision } from '../../src/core/decision.js';
import { createEnvoyClient, type UpstreamCheckRequest } from './envoy-client.js';

/** The Check method's HTTP/2 path, as Envoy's ext_authz filter sends it. */
export const CHECK_PATH = '/envoy.service.auth.v3.Authorization/Check';

/** A decider that allows every Check at once, with no headers: for tests of the transport alone. */
export const allowAll: Decider = {
  decide(): Promise<Decision> {
    return Promise.resolve({ kind: 'allow', headers: {}, metadata: {} });
  },
};

const codec = createEnvoyClient('127.0.0.1:1');
codec.close();

/** A CheckRequest encoded with the upstream protos and gRPC-framed (uncompressed), as a client sends it. */
export function grpcFramedCheck(request: UpstreamCheckRequest): Buffer {
  const message = codec.encodeRequest(request);
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(message.length, 1);
  return Buffer.concat([prefix, message]);
}
