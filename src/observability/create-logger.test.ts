import type { Logger } from 'pino';
import { describe, expect, it } from 'vitest';
import { REDACTED_KEYS, REDACTED_PATHS, REDACTION_CENSOR, createLogger } from './create-logger.js';

function memoryLogger(level: 'info' | 'debug' = 'info'): { logger: Logger; lines: () => Record<string, unknown>[]; raw: () => string } {
  const chunks: string[] = [];
  const logger = createLogger({ level, destination: { write: (chunk: string) => void chunks.push(chunk) } });
  return {
    logger,
    raw: () => chunks.join(''),
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((line) => line.length > 0)
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

const JWT = 'eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJ1c2VyLTEyMyIsImV4cCI6MTl9.c2lnbmF0dXJlLXZhbHVl';

// Every value is unique so a leak anywhere in the output is detectable by substring search.
const secretFor = (key: string, where: string): string => `SECRET-${where}-${key}-${key.length}`;

describe('createLogger redaction', () => {
  it('exports explicit pino paths for every sensitive key, without leading wildcards', () => {
    expect(REDACTED_PATHS).toContain('authorization');
    expect(REDACTED_PATHS).toContain('["set-cookie"]');
    expect(REDACTED_PATHS.every((path) => !path.startsWith('*'))).toBe(true);
    expect(REDACTED_PATHS).toHaveLength(REDACTED_KEYS.length);
  });

  it.each(REDACTED_KEYS.map((key) => [key]))('never writes the value of %s, at any depth we use', (key) => {
    const { logger, raw, lines } = memoryLogger();
    logger.info(
      {
        [key]: secretFor(key, 'top'),
        headers: { [key]: secretFor(key, 'headers') },
        req: { headers: { [key]: secretFor(key, 'req') } },
        didit: { decision: { id_verification: { [key]: secretFor(key, 'deep3') } } },
        a: { b: { c: { d: { e: { [key]: secretFor(key, 'deep5') } } } } },
        list: [{ [key]: secretFor(key, 'array') }],
      },
      'sensitive',
    );
    expect(raw()).not.toContain('SECRET-');
    const [line] = lines();
    expect(line?.[key]).toBe(REDACTION_CENSOR);
    expect((line?.['req'] as { headers: Record<string, unknown> }).headers[key]).toBe(REDACTION_CENSOR);
  });

  it('matches header names case-insensitively and every x-signature variant', () => {
    const { logger, raw } = memoryLogger();
    logger.info({ headers: { Authorization: 'SECRET-a', 'X-Signature-V3': 'SECRET-b', 'x-signature-simple': 'SECRET-c', Cookie: 'SECRET-d' } });
    expect(raw()).not.toContain('SECRET-');
    expect(raw()).toContain('"Authorization":"[redacted]"');
  });

  it('keeps non-sensitive fields and does not mutate the caller object', () => {
    const { logger, lines } = memoryLogger();
    const object = { requestId: 'r-1', headers: { authorization: 'SECRET-x', accept: 'application/json' } };
    logger.info(object, 'kept');
    expect(lines()[0]).toMatchObject({ requestId: 'r-1', headers: { accept: 'application/json' }, msg: 'kept' });
    expect(object.headers.authorization).toBe('SECRET-x');
  });

  it('redacts child-logger bindings, nested ones too', () => {
    const { logger, raw, lines } = memoryLogger();
    logger.child({ token: 'SECRET-bind', user: { email: 'SECRET-mail@example.com' }, component: 'x' }).child({ session: { apiKey: 'SECRET-k' } }).info('child');
    expect(raw()).not.toContain('SECRET-');
    expect(lines()[0]).toMatchObject({ component: 'x', token: REDACTION_CENSOR });
  });

  it('strips JWTs from error messages, stacks and causes', () => {
    const { logger, raw, lines } = memoryLogger();
    const cause = new Error(`upstream rejected ${JWT}`);
    const error = new Error(`token ${JWT} is invalid`, { cause });
    logger.error({ err: error }, 'verification failed');
    logger.error(new Error(`bare ${JWT}`));
    logger.warn({ error: new Error(`under error key ${JWT}`) });
    expect(raw()).not.toContain('eyJ');
    const [first] = lines();
    expect((first?.['err'] as { message: string }).message).toContain('token [redacted-jwt] is invalid');
    expect((first?.['err'] as { type: string }).type).toBe('Error');
  });

  it('strips JWTs from messages (printf arguments included) and from string fields', () => {
    const { logger, raw } = memoryLogger();
    logger.info(`got ${JWT}`);
    logger.info('arg %s', JWT);
    logger.info({ detail: `bearer ${JWT}`, nested: { list: [`x ${JWT}`] } }, 'fields');
    expect(raw()).not.toContain('eyJ');
    expect(raw()).toContain('[redacted-jwt]');
  });

  it('redacts enumerable properties of logged errors', () => {
    const { logger, raw } = memoryLogger();
    const error = Object.assign(new Error('request failed'), { headers: { 'x-api-key': 'SECRET-didit-key' }, status: 401 });
    logger.error({ err: error }, 'didit');
    expect(raw()).not.toContain('SECRET-');
    expect(raw()).toContain('"status":401');
  });

  it('censors objects nested deeper than the walk limit instead of leaking them', () => {
    const { logger, raw } = memoryLogger();
    let deep: Record<string, unknown> = { password: 'SECRET-deep' };
    for (let i = 0; i < 12; i++) deep = { level: deep };
    logger.info({ deep });
    expect(raw()).not.toContain('SECRET-');
  });

  it('honours the level and base options', () => {
    const chunks: string[] = [];
    const logger = createLogger({ level: 'warn', base: { service: 'idgate' }, destination: { write: (c: string) => void chunks.push(c) } });
    logger.info('dropped');
    logger.warn('kept');
    expect(chunks).toHaveLength(1);
    expect(JSON.parse(chunks[0] as string)).toMatchObject({ service: 'idgate', msg: 'kept', level: 40 });
  });
});
