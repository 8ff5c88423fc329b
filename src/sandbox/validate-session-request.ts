import { UPDATABLE_TO, type SandboxSession, type UpdatableStatus } from './sandbox-session.js';

/** Django REST framework's 400 body: field → messages. */
export type FieldErrors = Record<string, string[]>;

const LANGUAGES = new Set(
  'en ar bg bn ca cnr cs da de el es et fa fi fr he hi hr hu hy id it ja ka ko lt lv mk ms nl no pl pt-BR pt ro ru sk sl so sr sv th tr uk uz vi zh-CN zh-TW zh bs kk ky mn sq'.split(' '),
);
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** A valid `POST /v3/session/` body, in the session's terms. */
export interface CreateRequest {
  readonly workflowId: string;
  readonly vendorData?: string;
  readonly callback: string | null;
  readonly callbackMethod: SandboxSession['callbackMethod'];
  readonly metadata: unknown;
  readonly language?: string;
  readonly contactDetails: unknown;
  readonly expectedDetails: unknown;
}

/** A valid `PATCH /v3/session/{id}/update-status/` body. */
export interface UpdateRequest {
  readonly target: UpdatableStatus;
  readonly nodes?: readonly string[];
  readonly comment?: string;
}

/** Checks a create body as Didit does: every field's errors at once; unknown fields ignored. */
export function validateCreateRequest(body: Record<string, unknown>): { ok: true; request: CreateRequest } | { ok: false; errors: FieldErrors } {
  const errors: FieldErrors = {};
  const workflowId = body.workflow_id;
  if (workflowId === undefined || workflowId === null) errors.workflow_id = ['This field is required.'];
  else if (typeof workflowId !== 'string' || !UUID.test(workflowId)) errors.workflow_id = ['Must be a valid UUID.'];
  const vendorData = body.vendor_data;
  if (vendorData !== undefined && vendorData !== null && typeof vendorData !== 'string') errors.vendor_data = ['Not a valid string.'];
  const callback = body.callback;
  if (callback !== undefined && callback !== null && (typeof callback !== 'string' || !isHttpUrl(callback))) errors.callback = ['Enter a valid URL.'];
  const callbackMethod = body.callback_method;
  if (callbackMethod !== undefined && callbackMethod !== 'initiator' && callbackMethod !== 'completer' && callbackMethod !== 'both') {
    errors.callback_method = [`"${String(callbackMethod)}" is not a valid choice.`];
  }
  const metadata = body.metadata;
  if (metadata !== undefined && metadata !== null && typeof metadata !== 'string' && (typeof metadata !== 'object' || Array.isArray(metadata))) {
    errors.metadata = ['Value must be valid JSON.'];
  }
  const language = body.language;
  if (language !== undefined && language !== null && (typeof language !== 'string' || !LANGUAGES.has(language))) {
    errors.language = [`"${String(language)}" is not a valid choice.`];
  }
  for (const key of ['contact_details', 'expected_details'] as const) {
    const v = body[key];
    if (v !== undefined && v !== null && (typeof v !== 'object' || Array.isArray(v))) {
      errors[key] = [`Expected a dictionary of items but got type "${Array.isArray(v) ? 'list' : typeof v}".`];
    }
  }
  if (Object.keys(errors).length > 0) return { ok: false, errors };
  return {
    ok: true,
    request: {
      workflowId: workflowId as string,
      ...(typeof vendorData === 'string' ? { vendorData } : {}),
      callback: typeof callback === 'string' ? callback : null,
      callbackMethod: (callbackMethod as SandboxSession['callbackMethod'] | undefined) ?? 'initiator',
      metadata: metadata === undefined ? null : metadata,
      ...(typeof language === 'string' ? { language } : {}),
      contactDetails: body.contact_details ?? null,
      expectedDetails: body.expected_details ?? null,
    },
  };
}

/** Checks an update-status body as Didit does (the session's own status is checked by the transition). */
export function validateUpdateRequest(body: Record<string, unknown>): { ok: true; request: UpdateRequest } | { ok: false; errors: FieldErrors } {
  const errors: FieldErrors = {};
  const newStatus = body.new_status;
  if (newStatus === undefined || newStatus === null) errors.new_status = ['This field is required.'];
  else if (typeof newStatus !== 'string' || !(UPDATABLE_TO as readonly string[]).includes(newStatus)) {
    errors.new_status = [`"${String(newStatus)}" is not a valid choice.`];
  }
  const comment = body.comment;
  if (comment !== undefined && comment !== null && typeof comment !== 'string') errors.comment = ['Not a valid string.'];
  const sendEmail = body.send_email;
  if (sendEmail !== undefined && typeof sendEmail !== 'boolean') errors.send_email = ['Must be a valid boolean.'];
  if (sendEmail === true && (typeof body.email_address !== 'string' || !body.email_address.includes('@'))) {
    errors.email_address = ['This field is required when send_email is true.'];
  }
  const nodes = body.nodes_to_resubmit;
  if (nodes !== undefined && nodes !== null) {
    if (!Array.isArray(nodes) || !nodes.every((n) => typeof n === 'string')) errors.nodes_to_resubmit = ['Expected a list of items.'];
    else if (newStatus !== 'Resubmitted') errors.nodes_to_resubmit = ['Only allowed when new_status is Resubmitted.'];
  }
  if (Object.keys(errors).length > 0) return { ok: false, errors };
  return {
    ok: true,
    request: {
      target: newStatus as UpdatableStatus,
      ...(Array.isArray(nodes) ? { nodes: nodes as string[] } : {}),
      ...(typeof comment === 'string' ? { comment } : {}),
    },
  };
}

function isHttpUrl(value: string): boolean {
  try {
    const u = new URL(value);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
  } catch {
    return false;
  }
}
