import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawCheck } from '../bench/check-sample.js';
import { BOUND_STAGES, parseBoundStages, startBoundServer, type BoundServer } from '../bench/bound-server.js';
import { encodeCheckRequest, loadUpstreamCheckCodec, unframeGrpc } from '../bench/encode-check-request.js';
import { renderBenchConfig } from '../bench/idgate-config.js';

/**
 * The lower bound (issue 15 §2) is only a bound if it sends what idgate sends for the `hot` scenario's
 * Check: the same identity headers and metadata, as many bytes (a fixed stand-in for the decision id), and
 * with the `id` stage a fresh id per Check. The `policy` stage must find the bench route in the bench
 * config, or it would measure a deny.
 */
const codec = loadUpstreamCheckCodec();
const ISSUER = 'https://issuer.bench.test';
const b64 = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url');
// Never verified by the bound (its token is cached by definition), so any signature will do.
const token = `${b64({ alg: 'RS256', kid: 'k' })}.${b64({ iss: ISSUER, sub: 'user-0', aud: 'api', exp: 4_102_444_800, scope: 'orders:read', roles: ['customer'] })}.c2ln`;
const message = (t?: string): Buffer => unframeGrpc(encodeCheckRequest(codec, t === undefined ? {} : { token: t })) as Buffer;
const dir = mkdtempSync(join(tmpdir(), 'idgate-bound-test-'));
let bare: BoundServer;
let staged: BoundServer;

beforeAll(async () => {
  const configFile = join(dir, 'idgate.yaml');
  writeFileSync(configFile, renderBenchConfig({ issuer: ISSUER, jwksUri: `${ISSUER}/jwks`, audience: 'api', redisUrl: 'redis://127.0.0.1:1', localCacheTtlMs: 60_000, routes: 1, celConditions: true }));
  bare = await startBoundServer({});
  staged = await startBoundServer({ stages: BOUND_STAGES, configFile });
});
afterAll(async () => {
  await bare.close();
  await staged.close();
  rmSync(dir, { recursive: true, force: true });
});


const metadataOf = (reply: Buffer): Record<string, { stringValue?: string }> =>
  (codec.deserializeResponse(reply) as { dynamic_metadata: { fields: Record<string, { stringValue?: string }> } }).dynamic_metadata.fields;

describe('bench lower bound', () => {
  it("answers idgate's allow for the token: identity headers, metadata, and a decision id's worth of bytes", async () => {
    const reply = await rawCheck(bare.port, message(token));
    const decoded = codec.deserializeResponse(reply) as { status: unknown; ok_response: unknown };
    expect(decoded.status).toEqual({ code: 0 });
    expect(decoded.ok_response).toEqual({
      headers: [
        { header: { key: 'x-idgate-subject', value: 'bench:user-0' }, append: { value: false } },
        { header: { key: 'x-idgate-issuer', value: 'bench' }, append: { value: false } },
        { header: { key: 'x-idgate-verified', value: 'kyc' }, append: { value: false } },
      ],
    });
    const fields = metadataOf(reply);
    expect(Object.keys(fields)).toEqual(['decision', 'decision_id', 'route_id', 'subject', 'route', 'issuer', 'verified']);
    expect(fields['decision_id']?.stringValue).toBe('00000000-0000-4000-8000-000000000000');
    // Cached: the second Check gets the very same bytes.
    expect((await rawCheck(bare.port, message(token))).equals(reply)).toBe(true);
  });

  it('with every stage, answers the same allow with a fresh decision id per Check', async () => {
    const first = await rawCheck(staged.port, message(token));
    const second = await rawCheck(staged.port, message(token));
    const fromBare = await rawCheck(bare.port, message(token));
    expect(first.length).toBe(fromBare.length);
    const [a, b] = [metadataOf(first)['decision_id']?.stringValue, metadataOf(second)['decision_id']?.stringValue];
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(a).not.toBe(b);
    expect({ ...metadataOf(first), decision_id: undefined }).toEqual({ ...metadataOf(fromBare), decision_id: undefined });
  });

  it('refuses a Check it cannot answer as the bench allow (bench-only: an RPC error, never a silent allow)', async () => {
    await expect(rawCheck(bare.port, message())).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    await expect(rawCheck(staged.port, message('not-a-jwt'))).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
  });

  it('parses --stages and names an unknown stage', () => {
    expect(parseBoundStages('ctx,id')).toEqual(['ctx', 'id']);
    expect(parseBoundStages('')).toEqual([]);
    expect(() => parseBoundStages('ctx,gc')).toThrow(/unknown bound stage gc/);
  });
});
