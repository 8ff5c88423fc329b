import type { Logger } from 'pino';
import type { AdminRoute } from '../observability/admin-server.js';
import type { RiskStore } from '../store/risk-store.js';
import type { VerdictStore } from '../store/verdict-store.js';

const SUBJECT = /^[^\u0000-\u001f\u007f]{1,300}$/;
const WORKFLOW = /^[a-z0-9_-]{1,64}$/;

/**
 * The token-protected admin API (on the admin port, `Authorization: Bearer <server.admin.token>`):
 * - `GET    /admin/subjects/:subject/verdicts` — the subject's stored verdicts;
 * - `DELETE /admin/subjects/:subject/verdicts` — revoke all of them;
 * - `DELETE /admin/subjects/:subject/verdicts/:workflow` — revoke one;
 * - `GET    /admin/subjects/:subject/risk` — the subject's continuous-verification state (last address,
 *   country and sighting times, counts of known devices and tracked tokens; never device ids);
 * - `DELETE /admin/subjects/:subject/risk` — forget it (the next request is a first sighting);
 * - `DELETE /admin/subjects/:subject` — revoke everything: all verdicts and the risk state.
 * Revocation deletes from the shared store and publishes an invalidation, so every replica stops
 * honouring the verdict at once; risk state is never cached per replica, so its deletion is seen by all
 * replicas by construction. `:subject` is URL-encoded (`demo%3Aalice`). A store fault answers 500 (the
 * admin server's handler error path) and nothing is reported as revoked.
 */
export function createAdminRoutes(deps: { store: VerdictStore & RiskStore; logger: Logger }): AdminRoute[] {
  const subjectOf = (params: Readonly<Record<string, string>>): string | undefined => {
    const subject = params.subject;
    return subject !== undefined && SUBJECT.test(subject) ? subject : undefined;
  };
  const bad = { status: 400, json: { code: 'bad_request', detail: 'subject must be 1-300 printable characters' } };
  return [
    {
      method: 'GET',
      path: '/admin/subjects/:subject/verdicts',
      async handler(_req, _body, params) {
        const subject = subjectOf(params);
        if (!subject) return bad;
        const verdicts = await deps.store.listVerdicts(subject);
        return { status: 200, json: { subject, verdicts } };
      },
    },
    {
      method: 'DELETE',
      path: '/admin/subjects/:subject/verdicts',
      async handler(_req, _body, params) {
        const subject = subjectOf(params);
        if (!subject) return bad;
        await deps.store.deleteVerdicts(subject);
        deps.logger.info({ subject }, 'admin revoked all verdicts');
        return { status: 200, json: { subject, revoked: 'all' } };
      },
    },
    {
      method: 'DELETE',
      path: '/admin/subjects/:subject/verdicts/:workflow',
      async handler(_req, _body, params) {
        const subject = subjectOf(params);
        const workflow = params.workflow;
        if (!subject || workflow === undefined || !WORKFLOW.test(workflow)) return bad;
        await deps.store.deleteVerdicts(subject, workflow);
        deps.logger.info({ subject, workflow }, 'admin revoked a verdict');
        return { status: 200, json: { subject, revoked: workflow } };
      },
    },
    {
      method: 'GET',
      path: '/admin/subjects/:subject/risk',
      async handler(_req, _body, params) {
        const subject = subjectOf(params);
        if (!subject) return bad;
        const risk = await deps.store.getRisk(subject);
        return risk === undefined
          ? { status: 404, json: { code: 'not_found', subject, detail: 'no risk state is stored for this subject' } }
          : { status: 200, json: { subject, risk } };
      },
    },
    {
      method: 'DELETE',
      path: '/admin/subjects/:subject/risk',
      async handler(_req, _body, params) {
        const subject = subjectOf(params);
        if (!subject) return bad;
        await deps.store.deleteRisk(subject);
        deps.logger.info({ subject }, 'admin reset the risk state');
        return { status: 200, json: { subject, revoked: 'risk' } };
      },
    },
    {
      method: 'DELETE',
      path: '/admin/subjects/:subject',
      async handler(_req, _body, params) {
        const subject = subjectOf(params);
        if (!subject) return bad;
        // Verdicts first: they are what grants access; the risk reset only matters after them.
        await deps.store.deleteVerdicts(subject);
        await deps.store.deleteRisk(subject);
        deps.logger.info({ subject }, 'admin revoked all verdicts and the risk state');
        return { status: 200, json: { subject, revoked: ['verdicts', 'risk'] } };
      },
    },
  ];
}
