import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { pino } from 'pino';
import type { Decider } from '../src/core/decider.js';
import type { Decision } from '../src/core/decision.js';
import type { RequestContext } from '../src/core/request-context.js';
import { createExtAuthzServer } from '../src/extauthz/ext-authz-server.js';
import { parseFlags } from './parse-flags.js';

/** Options of {@link createStandInDecider}. */
export interface StandInOptions {
  readonly issuer: string;
  readonly audience: string;
  readonly jwks: JSONWebKeySet;
  /** Verified tokens kept (default 100 000); the oldest is dropped first. */
  readonly maxCachedTokens?: number;
  readonly now?: () => number;
}

/**
 * A deliberately small decider that does the two costly things idgate's hot path does — Bearer token
 * extraction and JWT verification with a verified-token cache — and nothing else. It lets the harness be
 * developed and checked end to end before idgate's CLI exists; it is NOT idgate and its figures are not
 * idgate's.
 *
 * Result: allow with `x-idgate-subject: bench:<sub>`; 401 `token_missing` / `token_invalid`; a step-up
 * for subjects starting with `unverified` (mimicking the `stepup` scenario's expected verdict).
 */
export function createStandInDecider(options: StandInOptions): Decider {
  const keys = createLocalJWKSet(options.jwks);
  const now = options.now ?? Date.now;
  const max = options.maxCachedTokens ?? 100_000;
  const cache = new Map<string, { sub: string; expMs: number }>();
  const decide = async (ctx: RequestContext): Promise<Decision> => {
    const header = ctx.headers['authorization'];
    if (header === undefined || !header.startsWith('Bearer ')) {
      return { kind: 'deny', status: 401, code: 'token_missing', message: 'a bearer token is required' };
    }
    const token = header.slice(7);
    let entry = cache.get(token);
    if (entry === undefined || entry.expMs <= now()) {
      try {
        const { payload } = await jwtVerify(token, keys, {
          issuer: options.issuer,
          audience: options.audience,
          algorithms: ['RS256', 'ES256'],
          currentDate: new Date(now()),
        });
        entry = { sub: String(payload.sub), expMs: (payload.exp ?? 0) * 1000 };
      } catch {
        return { kind: 'deny', status: 401, code: 'token_invalid', message: 'the token is not valid' };
      }
      if (cache.size >= max) {
        const oldest = cache.keys().next();
        if (oldest.done !== true) cache.delete(oldest.value);
      }
      cache.set(token, entry);
    }
    const subject = `bench:${entry.sub}`;
    if (entry.sub.startsWith('unverified')) {
      return {
        kind: 'step_up',
        subject,
        workflow: 'kyc',
        verificationUrl: 'https://verify.example.invalid/session/bench',
        sessionId: 'bench-session',
      };
    }
    return { kind: 'allow', subject, headers: { 'x-idgate-subject': subject }, metadata: { subject } };
  };
  return { decide };
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), {
    port: 'string',
    issuer: 'string',
    'jwks-uri': 'string',
    audience: 'string',
  });
  if (flags.issuer === undefined || flags['jwks-uri'] === undefined || flags.audience === undefined) {
    throw new Error('usage: stand-in-server --issuer URL --jwks-uri URL --audience AUD [--port N]');
  }
  const response = await fetch(flags['jwks-uri'], { signal: AbortSignal.timeout(5_000) });
  if (!response.ok) throw new Error(`JWKS fetch failed with HTTP ${response.status}`);
  const jwks = (await response.json()) as JSONWebKeySet;
  const logger = pino({ level: 'warn' });
  const server = createExtAuthzServer({
    decider: createStandInDecider({ issuer: flags.issuer, audience: flags.audience, jwks }),
    logger,
  });
  const port = await server.listen('127.0.0.1', Number(flags.port ?? '0'));
  process.stdout.write(`${JSON.stringify({ msg: 'listening', role: 'grpc', port })}\n`);
  process.stdout.write(`${JSON.stringify({ msg: 'ready' })}\n`);
  const stop = (): void => {
    void server.close().then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`stand-in-server: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
