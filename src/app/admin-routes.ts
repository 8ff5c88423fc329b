import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import type { AdminMethod, AdminRoute, AdminRouteResult } from '../observability/admin-server.js';
import type { AuditLog } from '../store/event-log.js';
import type { RiskStore } from '../store/risk-store.js';
import type { RevokeResult, VerdictStore } from '../store/verdict-store.js';

/** The store operations of the admin API: revoke and list verdicts, read and forget risk state, audit. */
export interface AdminStore
  extends Pick<VerdictStore, 'revokeVerdicts' | 'listVerdicts' | 'getRevocations'>,
    Pick<RiskStore, 'getRisk' | 'deleteRisk'>,
    AuditLog {}

const SUBJECT = /^[^\u0000-\u001f\u007f]{1,300}$/;
const WORKFLOW = /^[a-z0-9_-]{1,64}$/;

/** Dependencies of {@link createAdminRoutes}. */
export interface AdminRoutesDeps {
  readonly store: AdminStore;
  readonly logger: Logger;
  /** The configured policy workflow names: a subject-wide revocation also drops their pending sessions. */
  readonly workflows?: () => readonly string[];
  /** Revocation time source (default `Date.now`): the clock idgate stamps new sessions with. */
  readonly clock?: () => number;
}

/**
 * The token-protected admin API (on the admin port, `Authorization: Bearer <server.admin.token>`):
 * - `GET    /admin/subjects/:subject/verdicts` — the subject's stored verdicts and revocation watermarks;
 * - `DELETE /admin/subjects/:subject/verdicts` — revoke all of them;
 * - `DELETE /admin/subjects/:subject/verdicts/:workflow` — revoke one;
 * - `GET    /admin/subjects/:subject/risk` — the subject's continuous-verification state (last address,
 *   country and sighting times, counts of known devices and tracked tokens; never device ids);
 * - `DELETE /admin/subjects/:subject/risk` — forget it (the next request is a first sighting);
 * - `DELETE /admin/subjects/:subject` — revoke everything: all verdicts and the risk state.
 *
 * A revocation is a watermark, not a delete: it records the revocation time for the workflow (or the
 * whole subject) in the shared store, deletes the verdicts and pending sessions, and publishes an
 * invalidation so every replica stops honouring them at once. From then on no verdict from a session
 * created before that time is written again by any path (webhook, replay, retry, callback, sweep); only a
 * new session can re-establish it. The answer names what was revoked (workflows and session ids); when
 * nothing was stored it is a 404 `not_found` — the watermark is recorded anyway, so a session still open
 * at Didit cannot come back either. Every admin action appends an audit entry (action, subject, result,
 * caller address) to the audit stream and logs it. `:subject` is URL-encoded (`demo%3Aalice`). A store
 * fault answers 500 (the admin server's handler error path) and nothing is reported as revoked.
 */
export function createAdminRoutes(deps: AdminRoutesDeps): AdminRoute[] {
  const clock = deps.clock ?? Date.now;
  const subjectOf = (params: Readonly<Record<string, string>>): string | undefined => {
    const subject = params.subject;
    return subject !== undefined && SUBJECT.test(subject) ? subject : undefined;
  };
  const bad = { status: 400, json: { code: 'bad_request', detail: 'subject must be 1-300 printable characters' } };
  /** A route about one subject: `:subject` is checked (else 400) before `handle` runs with it. */
  const onSubject = (
    method: AdminMethod,
    path: string,
    handle: (req: IncomingMessage, subject: string, params: Readonly<Record<string, string>>) => Promise<AdminRouteResult>,
  ): AdminRoute => ({
    method,
    path,
    handler(req, _body, params) {
      const subject = subjectOf(params);
      return subject ? handle(req, subject, params) : bad;
    },
  });
  const noRisk = (subject: string): AdminRouteResult => ({
    status: 404,
    json: { code: 'not_found', subject, detail: 'no risk state is stored for this subject' },
  });

  /** Audit stream first (shared by every replica), the log always; an audit fault never hides the action's result. */
  async function audit(req: IncomingMessage, action: string, subject: string, status: number, extra: Record<string, string> = {}): Promise<void> {
    const entry: Record<string, string> = {
      source: 'admin',
      action,
      subject,
      status: String(status),
      caller: req.socket.remoteAddress ?? 'unknown',
      at: String(clock()),
      ...extra,
    };
    deps.logger.info({ audit: entry }, 'admin action');
    try {
      await deps.store.appendAudit(entry);
    } catch (err) {
      deps.logger.error({ err, audit: entry }, 'admin action not written to the audit stream');
    }
  }

  const describe = (r: RevokeResult): { workflows: string[]; sessions: string[]; pendingSessions: string[] } => ({
    workflows: [...new Set([...r.verdicts.map((v) => v.workflow), ...r.pending.map((p) => p.workflow)])].sort(),
    sessions: r.verdicts.map((v) => v.sessionId),
    pendingSessions: r.pending.map((p) => p.sessionId),
  });
  const nothing = (subject: string, what: string, at: number): AdminRouteResult => ({
    status: 404,
    json: {
      code: 'not_found',
      subject,
      detail: `no ${what} was stored for this subject; the revocation watermark is recorded anyway`,
      revokedAt: at,
    },
  });

  /** Revokes and audits; `alsoFound` is other state the same action removes (the risk state). */
  async function revoke(req: IncomingMessage, action: string, subject: string, workflow: string | undefined, alsoFound = false) {
    const at = clock();
    const result = await deps.store.revokeVerdicts(subject, workflow, { at, reason: 'admin' }, workflow === undefined ? (deps.workflows?.() ?? []) : []);
    const what = describe(result);
    const found = result.verdicts.length + result.pending.length > 0;
    await audit(req, action, subject, found || alsoFound ? 200 : 404, {
      ...(workflow !== undefined ? { workflow } : {}),
      ...(alsoFound ? { risk: 'reset' } : {}),
      revoked_at: String(at),
      workflows: what.workflows.join(','),
      sessions: [...what.sessions, ...what.pendingSessions].join(','),
    });
    return { at, what, found };
  }

  return [
    onSubject('GET', '/admin/subjects/:subject/verdicts', async (req, subject) => {
      const [verdicts, revocations] = await Promise.all([deps.store.listVerdicts(subject), deps.store.getRevocations(subject)]);
      await audit(req, 'list_verdicts', subject, 200);
      return { status: 200, json: { subject, verdicts, revocations } };
    }),
    onSubject('DELETE', '/admin/subjects/:subject/verdicts', async (req, subject) => {
      const { at, what, found } = await revoke(req, 'revoke_verdicts', subject, undefined);
      if (!found) return nothing(subject, 'verdict or pending session', at);
      return { status: 200, json: { subject, revoked: 'all', revokedAt: at, ...what } };
    }),
    onSubject('DELETE', '/admin/subjects/:subject/verdicts/:workflow', async (req, subject, params) => {
      const workflow = params.workflow;
      if (workflow === undefined || !WORKFLOW.test(workflow)) return bad;
      const { at, what, found } = await revoke(req, 'revoke_verdict', subject, workflow);
      if (!found) return nothing(subject, `${workflow} verdict or pending session`, at);
      return { status: 200, json: { subject, revoked: workflow, revokedAt: at, ...what } };
    }),
    onSubject('GET', '/admin/subjects/:subject/risk', async (req, subject) => {
      const risk = await deps.store.getRisk(subject);
      await audit(req, 'read_risk', subject, risk === undefined ? 404 : 200);
      return risk === undefined
        ? noRisk(subject)
        : { status: 200, json: { subject, risk } };
    }),
    onSubject('DELETE', '/admin/subjects/:subject/risk', async (req, subject) => {
      // Read then delete (not atomic): the answer only reports whether there was state to forget.
      const existed = (await deps.store.getRisk(subject)) !== undefined;
      await deps.store.deleteRisk(subject);
      await audit(req, 'reset_risk', subject, existed ? 200 : 404);
      return existed
        ? { status: 200, json: { subject, revoked: 'risk' } }
        : noRisk(subject);
    }),
    onSubject('DELETE', '/admin/subjects/:subject', async (req, subject) => {
      const hadRisk = (await deps.store.getRisk(subject)) !== undefined;
      // Verdicts first: they are what grants access; the risk reset only matters after them.
      const { at, what, found } = await revoke(req, 'revoke_subject', subject, undefined, hadRisk);
      await deps.store.deleteRisk(subject);
      if (!found && !hadRisk) return nothing(subject, 'verdict, pending session or risk state', at);
      const revoked = [...(found ? ['verdicts'] : []), ...(hadRisk ? ['risk'] : [])];
      return { status: 200, json: { subject, revoked, revokedAt: at, ...what } };
    }),
  ];
}
