/**
 * In-process cost of the identity stage for a cold token (issue 15 §2, cold ES256/RS256), against the cost of
 * the signature check alone, so what identity adds around OpenSSL's verify can be followed per change.
 *
 * `node --expose-gc --min-semi-space-size=128 --max-semi-space-size=128 dist/bench/cold-token-micro.js
 *   [--alg ES256|RS256] [--tokens 4000] [--rounds 5] [--cache-entries N] [--pipeline]`
 *
 * A real JWKS server (BenchIssuer on 127.0.0.1) and idgate's own authenticator; every token is distinct and
 * seen once (no token-cache hit), as in the `cold-*` load scenarios. Each round alternates:
 * - `verify`: `node:crypto.verify` of every token's signature with a KeyObject of the issuer's public JWK
 *   (ES*: `ieee-p1363`), the token split and decoded in the cheapest way: OpenSSL's share, the floor;
 * - `authenticate`: `authenticate(ctx, now)` on a RequestContext built ahead by the gRPC front end's own
 *   decoder, so only identity's work is timed.
 * With `--pipeline` the second step is a whole cold Check instead, as the gRPC front end runs it: decode the
 * CheckRequest bytes → RequestContext → engine decision (identity, policy, cached verdict in the memory store)
 * → rendered verdict → CheckResponse bytes; the difference to `verify` is then all of idgate's own work on a
 * cold Check beyond OpenSSL's, with no transport (to compare with the server's CPU per cold Check).
 * It prints process CPU per token (user + system: the thread pool counts, and a busy machine does not
 * inflate it the way wall time grows), the difference between the two (what identity adds per cold token),
 * and bytes allocated per authenticated token (heap growth over 1,000 tokens after a full GC, with a young
 * generation large enough that no GC runs in between; retained cache entries included, as in a server).
 * To compare builds, copy this file's compiled form into the other build's `bench/` and run both
 * alternately: it only uses the authenticator's public API.
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import pino from 'pino';
import { parseConfig } from '../src/config/parse-config.js';
import { renderDecision } from '../src/core/render-decision.js';
import type { RequestContext } from '../src/core/request-context.js';
import { decodeCheckRequest, encodeVerdictResponse } from '../src/extauthz/check-codec.js';
import type { CheckRequestMessage } from '../src/extauthz/check-wire-types.js';
import { toRequestContext } from '../src/extauthz/to-request-context.js';
import { createAuthenticator, type JwtAuthenticator } from '../src/identity/authenticator.js';
import { BenchIssuer, type BenchAlgorithm } from './bench-issuer.js';
import { buildCheckRequest, loadUpstreamCheckCodec, type CheckCodec } from './encode-check-request.js';
import { BENCH_ISSUER_NAME, BENCH_WORKFLOW, renderBenchConfig } from './idgate-config.js';
import { createInProcessEngine } from './in-process-engine.js';
import { parseFlags } from './parse-flags.js';

const flags = parseFlags(process.argv.slice(2), { alg: 'string', tokens: 'string', rounds: 'string', 'cache-entries': 'string', pipeline: 'boolean' });
const pipeline = flags.pipeline === true;
const alg = (flags.alg ?? 'ES256') as BenchAlgorithm;
const perRound = Number(flags.tokens ?? 4_000);
const rounds = Number(flags.rounds ?? 5);
/** The verified-token cache's size (the server's default, 10,000, unless given): what a cold stream churns. */
const cacheEntries = flags['cache-entries'] !== undefined ? Number(flags['cache-entries']) : undefined;
const ALLOCATION_SAMPLE = 1_000;

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

function cpuMicros(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start);
  return d.user + d.system;
}

/** The signature check alone, as cheaply as node:crypto does it: µs of CPU per token. */
function verifyOnly(tokens: readonly string[], key: KeyObject): number {
  const keyInput = alg.startsWith('ES') ? { key, dsaEncoding: 'ieee-p1363' as const } : key;
  const start = process.cpuUsage();
  for (const token of tokens) {
    const dot = token.lastIndexOf('.');
    const ok = verify('sha256', Buffer.from(token.slice(0, dot), 'latin1'), keyInput, Buffer.from(token.slice(dot + 1), 'base64url'));
    if (!ok) throw new Error('bench token did not verify');
  }
  return cpuMicros(start) / tokens.length;
}

/** µs of CPU per cold authenticate, and how many answered without a promise (the synchronous path). */
async function authenticateAll(authenticator: JwtAuthenticator, contexts: readonly RequestContext[]): Promise<{ us: number; sync: number }> {
  let sync = 0;
  const start = process.cpuUsage();
  for (const ctx of contexts) {
    let result = authenticator.authenticate(ctx, Date.now());
    if (result instanceof Promise) result = await result;
    else sync += 1;
    if (result.kind !== 'verified') throw new Error(`bench token not verified: ${JSON.stringify(result)}`);
  }
  return { us: cpuMicros(start) / contexts.length, sync };
}

/** One whole cold Check per body, as the gRPC front end runs it (`--pipeline`): µs of CPU per Check. */
type CheckOnce = (body: Uint8Array) => Promise<number>;

async function checkAll(check: CheckOnce, bodies: readonly Uint8Array[]): Promise<{ us: number; sync: number }> {
  const start = process.cpuUsage();
  let bytes = 0;
  for (const body of bodies) bytes += await check(body);
  if (bytes === 0) throw new Error('no CheckResponse bytes');
  return { us: cpuMicros(start) / bodies.length, sync: bodies.length };
}

function contextsFor(codec: CheckCodec, tokens: readonly string[]): RequestContext[] {
  return tokens.map((token) => {
    const mapped = toRequestContext(decodeCheckRequest(codec.serializeRequest(buildCheckRequest({ token }))) as CheckRequestMessage, Date.now());
    if (!mapped.ok) throw new Error(mapped.error);
    return mapped.value;
  });
}

async function main(): Promise<void> {
  const issuer = new BenchIssuer();
  await issuer.listen();
  const yaml = renderBenchConfig({ issuer: issuer.issuer, jwksUri: issuer.jwksUri, audience: issuer.audience, localCacheTtlMs: 60_000, routes: 1, celConditions: false });
  const config = parseConfig(yaml, { sourceName: 'bench.yaml', env: {} });
  const authenticator = createAuthenticator({ logger: pino({ level: 'silent' }) }, {
    issuers: config.issuers,
    ...(cacheEntries !== undefined ? { tokenCacheMaxEntries: cacheEntries } : {}),
  });
  await authenticator.start();
  const codec = loadUpstreamCheckCodec();
  const jwks = (await (await fetch(issuer.jwksUri)).json()) as { keys: { kid?: string }[] };
  const jwk = jwks.keys.find((k) => k.kid === `bench-${alg.toLowerCase()}`);
  if (jwk === undefined) throw new Error(`no ${alg} key in the bench JWKS`);
  const key = createPublicKey({ key: jwk, format: 'jwk' });

  const mint = (count: number) => issuer.mintPool(alg, count, { subjects: 1 });
  // `--pipeline`: the engine as the server builds it, over the memory store holding the bench subject's
  // approved verdict (so every Check is an allow, as in the cold scenarios).
  const { engine, render } = await createInProcessEngine(config, authenticator, pino({ level: 'silent' }), {
    subject: `${BENCH_ISSUER_NAME}:user-0`,
    workflow: BENCH_WORKFLOW,
  });
  const checkOnce: CheckOnce = async (body) => {
    const mapped = toRequestContext(decodeCheckRequest(body) as CheckRequestMessage, Date.now());
    if (!mapped.ok) throw new Error(mapped.error);
    let decision = engine.decide(mapped.value, Date.now() + 100);
    if (decision instanceof Promise) decision = await decision;
    if (decision.kind !== 'allow') throw new Error(`bench Check not allowed: ${decision.kind}`);
    return encodeVerdictResponse(renderDecision(decision, mapped.value, render)).length;
  };
  const bodiesFor = (tokens: readonly string[]) => tokens.map((token) => codec.serializeRequest(buildCheckRequest({ token, path: '/api/orders?page=2' })));
  const measure = pipeline
    ? async (tokens: readonly string[]) => checkAll(checkOnce, bodiesFor(tokens))
    : async (tokens: readonly string[]) => authenticateAll(authenticator, contextsFor(codec, tokens));

  // Warm-up: the first tokens import the key for the synchronous path and let V8 optimise.
  await measure(await mint(1_000));
  verifyOnly(await mint(500), key);

  const gc = (globalThis as { gc?: () => void }).gc;
  const step = pipeline ? 'whole Check' : 'authenticate';
  const verifyUs: number[] = [];
  const authUs: number[] = [];
  const allocated: number[] = [];
  let sync = 0;
  for (let round = 0; round < rounds; round++) {
    const verifyTokens = await mint(perRound);
    const tokens = await mint(perRound + ALLOCATION_SAMPLE);
    // Inputs are prepared ahead (contexts, or CheckRequest bytes with --pipeline) so only the step is timed.
    const prepared = pipeline ? { bodies: bodiesFor(tokens) } : { contexts: contextsFor(codec, tokens) };
    const run = (from: number, to: number) =>
      prepared.bodies !== undefined ? checkAll(checkOnce, prepared.bodies.slice(from, to)) : authenticateAll(authenticator, prepared.contexts.slice(from, to));
    gc?.();
    verifyUs.push(verifyOnly(verifyTokens, key));
    gc?.();
    const measured = await run(0, perRound);
    authUs.push(measured.us);
    sync += measured.sync;
    if (gc !== undefined) {
      gc();
      const before = process.memoryUsage().heapUsed;
      await run(perRound, perRound + ALLOCATION_SAMPLE);
      allocated.push((process.memoryUsage().heapUsed - before) / ALLOCATION_SAMPLE);
    }
    process.stderr.write(
      `round ${round + 1}: verify ${verifyUs.at(-1)?.toFixed(1)} µs, ${step} ${authUs.at(-1)?.toFixed(1)} µs` +
        `${allocated.length > 0 ? `, ${allocated.at(-1)?.toFixed(0)} bytes` : ''}\n`,
    );
  }
  const v = median(verifyUs);
  const a = median(authUs);
  process.stdout.write(
    `${alg}, ${rounds} rounds × ${perRound} cold tokens (medians): verify alone ${v.toFixed(1)} µs, ${step} ${a.toFixed(1)} µs, ` +
      `${pipeline ? 'the Check' : 'identity'} beyond the verify ${(a - v).toFixed(1)} µs per token` +
      `${pipeline ? '' : `; ${sync} of ${rounds * perRound} answered synchronously`}` +
      `${allocated.length > 0 ? `; ${median(allocated).toFixed(0)} bytes allocated per token` : ' (run with --expose-gc for bytes per token)'}\n`,
  );
  await authenticator.close();
  await issuer.close();
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exitCode = 1;
});
