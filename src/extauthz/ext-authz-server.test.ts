import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { Decider } from '../core/decider.js';
import type { RequestContext } from '../core/request-context.js';
import { createEnvoyClient } from '../../test/support/envoy-client.js';
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

describe('ext_authz grpc-js server: the decoded message', () => {
  it('lets go of the request once read, and a decision that takes its time still sees all of it', async () => {
    const seen: RequestContext[] = [];
    const decider: Decider = {
      decide: async (ctx) => {
        seen.push(ctx);
        // Decided later, as on a cold token: by then the message has let go of its attributes.
        await new Promise((resolve) => setTimeout(resolve, 20));
        return { kind: 'allow', headers: { 'x-echo': `${ctx.method} ${ctx.host}${ctx.path} ${ctx.headers['x-client'] ?? '-'}` }, metadata: {} };
      },
    };
    const server = createExtAuthzServer({ decider, logger: pino({ level: 'silent' }) });
    const port = await server.listen('127.0.0.1', 0);
    const client = createEnvoyClient(`127.0.0.1:${port}`);
    try {
      const response = await client.check({
        attributes: {
          request: { http: { method: 'POST', host: 'shop.example', path: '/api/orders', headers: { 'x-client': 'c1', ':path': '/api/orders' } } },
          metadata_context: { filter_metadata: { ns: { fields: { k: { stringValue: 'v' } } } } },
        },
      } as never);
      const echo = response.ok_response?.headers?.find((h) => h.header?.key === 'x-echo')?.header?.value;
      expect(echo).toBe('POST shop.example/api/orders c1');
      expect(seen).toHaveLength(1);
      expect(seen[0]!.metadata).toEqual({ ns: { k: 'v' } });
    } finally {
      client.close();
      await server.close();
    }
  });
});
