import { randomBytes } from 'node:crypto';
import { isReusable, type SandboxSession } from './sandbox-session.js';

const TOKEN_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';

interface Entry {
  session: SandboxSession;
  /** The session's webhooks, in order: each starts after the previous one's first attempt. */
  chain: Promise<unknown>;
}

/**
 * The sandbox's in-memory sessions (by id and by hosted-page token) and workflows. Holds state only; the
 * transitions are `sandbox-session.ts`'s.
 */
export class SessionRegistry {
  private readonly byId = new Map<string, Entry>();
  private readonly idByToken = new Map<string, string>();
  private readonly workflows = new Map<string, number>();
  private nextNumber = 1;

  /** `workflows` (UUID → published version) restricts creation to them; undefined accepts any UUID at version 1. */
  constructor(private readonly knownWorkflows?: Readonly<Record<string, { readonly version: number }>>) {
    for (const [id, wf] of Object.entries(knownWorkflows ?? {})) this.workflows.set(id.toLowerCase(), wf.version);
  }

  /** The current version of a workflow; undefined when unknown and only known workflows are accepted. */
  workflowVersion(workflowId: string): number | undefined {
    const version = this.workflows.get(workflowId.toLowerCase());
    if (version !== undefined || this.knownWorkflows !== undefined) return version;
    return 1;
  }

  /** Publishes a new version of a workflow. @returns the new version. */
  publishWorkflow(workflowId: string): number {
    const key = workflowId.toLowerCase();
    const version = (this.workflows.get(key) ?? 1) + 1;
    this.workflows.set(key, version);
    return version;
  }

  get(sessionId: string): SandboxSession | undefined {
    return this.byId.get(sessionId)?.session;
  }

  getByToken(token: string): SandboxSession | undefined {
    const id = this.idByToken.get(token);
    return id === undefined ? undefined : this.get(id);
  }

  /** Every session, oldest first. */
  all(): SandboxSession[] {
    return [...this.byId.values()].map((e) => e.session);
  }

  /** The unfinished session a create request with `vendorData` gets back, if any. */
  findReusable(vendorData: string, workflowId: string, workflowVersion: number): SandboxSession | undefined {
    return this.all().find((s) => isReusable(s, vendorData, workflowId, workflowVersion));
  }

  /** The next session number (1, 2, …). */
  takeNumber(): number {
    return this.nextNumber++;
  }

  /** A fresh hosted-page token: 12 characters without look-alikes, unique among the sessions. */
  newToken(): string {
    for (;;) {
      const bytes = randomBytes(12);
      let token = '';
      for (const b of bytes) token += TOKEN_ALPHABET[b % TOKEN_ALPHABET.length];
      if (!this.idByToken.has(token)) return token;
    }
  }

  /** Stores a new session, or the new state of a known one. */
  put(session: SandboxSession): void {
    const entry = this.byId.get(session.sessionId);
    if (entry !== undefined) {
      entry.session = session;
      return;
    }
    this.byId.set(session.sessionId, { session, chain: Promise.resolve() });
    this.idByToken.set(session.sessionToken, session.sessionId);
  }

  /** @returns whether the session existed. */
  delete(sessionId: string): boolean {
    const entry = this.byId.get(sessionId);
    if (entry === undefined) return false;
    this.byId.delete(sessionId);
    this.idByToken.delete(entry.session.sessionToken);
    return true;
  }

  /** Runs `task` after the session's previous queued task settled (any session id; a deleted one runs at once). */
  enqueue<T>(sessionId: string, task: () => Promise<T>): Promise<T> {
    const entry = this.byId.get(sessionId);
    if (entry === undefined) return task();
    const next = entry.chain.then(task);
    entry.chain = next.catch(() => undefined);
    return next;
  }
}
