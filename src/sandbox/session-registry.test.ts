import { describe, expect, it } from 'vitest';
import { startSession, type SandboxSession } from './sandbox-session.js';
import { SessionRegistry } from './session-registry.js';

const WF = '9f1e0000-0000-4000-8000-0000000000AA';

function session(registry: SessionRegistry, id: string, vendorData?: string): SandboxSession {
  const token = registry.newToken();
  return startSession(
    {
      sessionId: id,
      sessionNumber: registry.takeNumber(),
      sessionToken: token,
      url: `http://sandbox.test/session/${token}`,
      workflowId: WF,
      workflowVersion: 1,
      ...(vendorData === undefined ? {} : { vendorData }),
      callback: null,
      callbackMethod: 'initiator',
      metadata: null,
      contactDetails: null,
      expectedDetails: null,
    },
    0,
  );
}

describe('SessionRegistry', () => {
  it('accepts any workflow at version 1 when none are configured; publishing bumps the version', () => {
    const registry = new SessionRegistry();
    expect(registry.workflowVersion(WF)).toBe(1);
    expect(registry.publishWorkflow(WF.toLowerCase())).toBe(2);
    expect(registry.workflowVersion(WF)).toBe(2);
  });

  it('knows only the configured workflows (ids case-insensitive)', () => {
    const registry = new SessionRegistry({ [WF]: { version: 4 } });
    expect(registry.workflowVersion(WF.toLowerCase())).toBe(4);
    expect(registry.workflowVersion('9f1e0000-0000-4000-8000-0000000000bb')).toBeUndefined();
  });

  it('finds sessions by id and token, replaces a state in place, and forgets both keys on delete', () => {
    const registry = new SessionRegistry();
    const a = session(registry, 'a', 'user-1');
    const b = session(registry, 'b');
    registry.put(a);
    registry.put(b);
    expect(a.sessionToken).toMatch(/^[A-HJ-NP-Za-km-z2-9]{12}$/);
    expect([a.sessionNumber, b.sessionNumber]).toEqual([1, 2]);
    registry.put({ ...a, status: 'In Progress' });
    expect(registry.all().map((s) => [s.sessionId, s.status])).toEqual([['a', 'In Progress'], ['b', 'Not Started']]);
    expect(registry.getByToken(a.sessionToken)?.status).toBe('In Progress');
    expect(registry.findReusable('user-1', WF, 1)?.sessionId).toBe('a');
    expect(registry.delete('a')).toBe(true);
    expect(registry.delete('a')).toBe(false);
    expect(registry.get('a')).toBeUndefined();
    expect(registry.getByToken(a.sessionToken)).toBeUndefined();
  });

  it('runs one session’s tasks in order, each after the previous settled (even a failed one)', async () => {
    const registry = new SessionRegistry();
    registry.put(session(registry, 'a'));
    const order: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const first = registry.enqueue('a', async () => {
      await gate;
      order.push('first');
      throw new Error('failed delivery');
    });
    const second = registry.enqueue('a', async () => {
      order.push('second');
      return 2;
    });
    release();
    await expect(first).rejects.toThrow('failed delivery');
    await expect(second).resolves.toBe(2);
    expect(order).toEqual(['first', 'second']);
  });
});
