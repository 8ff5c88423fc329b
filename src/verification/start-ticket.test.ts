import { describe, expect, it } from 'vitest';
import { createStartTickets } from './start-ticket.js';

const KEY = 'start-ticket-key-0123456789';
const OLD = 'start-ticket-old-key-987654321';
const CLAIMS = { subject: 'corp:alice@example.com', workflow: 'kyc', returnTo: 'https://shop.example.com/pay?x=1' };

function tickets(secrets: string[], now = { t: 1_700_000_000_000 }) {
  return { now, t: createStartTickets({ clock: () => now.t }, { secrets, ttlMs: 600_000 }) };
}

describe('start tickets', () => {
  it('round-trips subject, workflow and return target, and shows none of them in the ticket', () => {
    const { t } = tickets([KEY]);
    const ticket = t.issue(CLAIMS);
    expect(ticket).toMatch(/^[A-Za-z0-9_-]+$/);
    for (const needle of ['alice', 'example', 'corp', 'kyc', 'shop']) expect(Buffer.from(ticket, 'base64url').toString('latin1')).not.toContain(needle);
    expect(t.verify(ticket)).toEqual({ ok: true, claims: CLAIMS, expiresAt: 1_700_000_600_000 });
  });

  it('is unguessable: two tickets for the same claims differ', () => {
    const { t } = tickets([KEY]);
    expect(t.issue(CLAIMS)).not.toBe(t.issue(CLAIMS));
  });

  it('refuses every single-byte change (tampered) as invalid', () => {
    const { t } = tickets([KEY]);
    const raw = Buffer.from(t.issue(CLAIMS), 'base64url');
    for (let i = 0; i < raw.length; i++) {
      const copy = Buffer.from(raw);
      copy[i] = (copy[i] as number) ^ 0x01;
      expect(t.verify(copy.toString('base64url'))).toEqual({ ok: false, reason: 'invalid' });
    }
  });

  it.each([
    ['empty', ''],
    ['not base64url', 'abc$def'],
    ['too short', 'AQID'],
    ['too long', 'A'.repeat(5000)],
  ])('refuses a malformed ticket (%s)', (_name, ticket) => {
    expect(tickets([KEY]).t.verify(ticket)).toEqual({ ok: false, reason: 'invalid' });
  });

  it('refuses a foreign ticket (signed with another key)', () => {
    const foreign = tickets(['another-deployment-key-000']).t.issue(CLAIMS);
    expect(tickets([KEY]).t.verify(foreign)).toEqual({ ok: false, reason: 'invalid' });
  });

  it('expires after the TTL', () => {
    const { t, now } = tickets([KEY]);
    const ticket = t.issue(CLAIMS);
    now.t += 599_999;
    expect(t.verify(ticket).ok).toBe(true);
    now.t += 1;
    expect(t.verify(ticket)).toEqual({ ok: false, reason: 'expired' });
  });

  it('accepts tickets of the previous key during a roll, and issues with the current one', () => {
    const before = tickets([OLD]).t.issue(CLAIMS);
    const rolling = tickets([KEY, OLD]).t;
    expect(rolling.verify(before).ok).toBe(true);
    const after = rolling.issue(CLAIMS);
    expect(tickets([KEY]).t.verify(after).ok).toBe(true);
    expect(tickets([OLD]).t.verify(after).ok).toBe(false);
  });

  it('drops a return target too long to carry', () => {
    const { t } = tickets([KEY]);
    const res = t.verify(t.issue({ ...CLAIMS, returnTo: `https://shop.example.com/${'a'.repeat(3000)}` }));
    expect(res.ok && res.claims.returnTo).toBe(undefined);
  });

  it('rejects short secrets at construction', () => {
    expect(() => createStartTickets({}, { secrets: ['short'] })).toThrow(TypeError);
    expect(() => createStartTickets({}, { secrets: [] })).toThrow(TypeError);
  });
});
