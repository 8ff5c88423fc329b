import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { Decider } from '../core/decider.js';
import { createExtAuthzServer } from './ext-authz-server.js';

/** The ids of the servers grpc-js's channelz registry tracks in this process. */
function channelzServerIds(): Promise<number[]> {
  const handlers = grpc.getChannelzHandlers();
  return new Promise((resolve, reject) => {
    handlers.GetServers({ request: { start_server_id: '0', max_results: '100' } } as never, (err, reply) => {
      if (err) reject(err instanceof Error ? err : new Error(String(err.details)));
      else resolve((reply?.server ?? []).map((s) => Number(s.ref?.server_id)));
    });
  });
}

describe('ext_authz grpc-js server options', () => {
  it('creates its server with channelz off: idgate serves no channelz, and grpc-js would track every call', async () => {
    const decider: Decider = { decide: () => Promise.resolve({ kind: 'allow', headers: {}, metadata: {} }) };
    const before = await channelzServerIds();
    // The control: a grpc-js server with default options is registered, so the registry is observable here.
    const plain = new grpc.Server();
    const withPlain = await channelzServerIds();
    expect(withPlain.length).toBe(before.length + 1);

    const server = createExtAuthzServer({ decider, logger: pino({ level: 'silent' }) });
    await server.listen('127.0.0.1', 0);
    try {
      expect(await channelzServerIds()).toEqual(withPlain);
    } finally {
      await server.close();
      plain.forceShutdown();
    }
  });
});
