import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { judgeVerdicts, startVerdictSampler } from '../bench/check-sample.js';
import { encodeCheckRequest, loadUpstreamCheckCodec } from '../bench/encode-check-request.js';
import { runGrpcLoad } from '../bench/grpc-load.js';
import { NOOP_ALLOW } from '../bench/noop-server.js';
import { loadAuthzProtos } from '../bench/load-authz-protos.js';

/**
 * The bench checks verdicts under load (issue 17, item 6). Before, it checked the first verdict and then
 * counted any gRPC-OK answer as throughput, so a target that started denying mid-run still scored. Here a
 * real gRPC Check server allows, then denies after a switch, while the bench's own load generator runs.
 */
const DENY = {
  status: { code: 7 },
  denied_response: { status: { code: 403 }, body: '{"code":"claims_mismatch"}', headers: [] },
};
const codec = loadUpstreamCheckCodec();
const body = encodeCheckRequest(codec, { token: 'aaa.bbb.ccc' });
let server: grpc.Server;
let port: number;
let answered = 0;
let denyAfter = Infinity;

beforeAll(async () => {
  const protos = loadAuthzProtos();
  server = new grpc.Server();
  server.addService(protos.authorization, {
    Check: (_call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      answered += 1;
      callback(null, answered > denyAfter ? DENY : NOOP_ALLOW);
    },
  });
  port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
});
afterAll(() => {
  server.forceShutdown();
});

/** Runs the generator while sampling verdicts, as bench/run.ts does for every phase. */
async function phase(calls: number) {
  const sampler = startVerdictSampler(port, [body], codec, 'allow', { intervalMs: 5 });
  const load = await runGrpcLoad({ port, bodies: [body], connections: 2, concurrency: 8, total: calls, ratePerSecond: 2_000 });
  const tally = await sampler.stop();
  return { load, tally };
}

describe('bench verdict sampling', () => {
  it('passes a phase whose sampled verdicts are all the expected allow', async () => {
    answered = 0;
    denyAfter = Infinity;
    const { load, tally } = await phase(400);
    expect(load.grpcStatusCounts).toEqual({ '0': 400 });
    expect(tally.counts.allow).toBeGreaterThan(0);
    expect(tally.counts.deny + tally.counts.step_up).toBe(0);
    expect(judgeVerdicts(tally, 'allow')).toBeUndefined();
  });

  it('fails a phase when the target starts denying mid-run, though every answer was gRPC OK', async () => {
    answered = 0;
    denyAfter = 100;
    const { load, tally } = await phase(600);
    // What the old harness looked at: all 600 answers are grpc-status 0, so they all counted as throughput.
    expect(load.grpcStatusCounts).toEqual({ '0': 600 });
    expect(tally.counts.deny).toBeGreaterThan(0);
    const verdict = judgeVerdicts(tally, 'allow');
    expect(verdict).toMatch(/^expected only allow verdicts, sampled allow \d+, deny [1-9]\d*, step-up 0, failed 0; first: deny \(HTTP 403\)/);
  });

  it('judges the mix: wrong kinds, no expected kind, failed samples alone', () => {
    const t = (allow: number, deny: number, step_up: number, error: number) => ({ counts: { allow, deny, step_up, error } });
    expect(judgeVerdicts(t(0, 0, 5, 0), 'step_up')).toBeUndefined();
    expect(judgeVerdicts(t(1, 0, 5, 0), 'step_up')).toMatch(/expected only step_up/);
    expect(judgeVerdicts(t(0, 0, 0, 3), 'allow')).toBe('no allow verdict sampled (allow 0, deny 0, step-up 0, failed 3)');
    expect(judgeVerdicts(t(4, 0, 0, 2), 'allow')).toBeUndefined();
  });
});
