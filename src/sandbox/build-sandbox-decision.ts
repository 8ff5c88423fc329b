import type { SessionStatus } from '../core/verdict.js';

/**
 * What the sandbox's fake verification "finds". Everything is optional; the defaults describe an adult
 * (born 1990-05-17) with a valid passport, a passing selfie and no AML hits.
 */
export interface SandboxScenario {
  /** `YYYY-MM-DD` printed on the document (default `1990-05-17`). */
  readonly dateOfBirth?: string;
  /** The selfie's age estimate in years; default: the document age plus 0.4. */
  readonly ageEstimation?: number;
  /** The AML screening finds one possible match (screening goes to In Review with a hit). */
  readonly amlHit?: boolean;
  /** The document expired 30 days before capture (`DOCUMENT_EXPIRED`, ID step Declined). */
  readonly documentExpired?: boolean;
  /** No document step ran (`id_verifications: null`): age evidence comes only from the selfie. */
  readonly withoutDocument?: boolean;
}

/** The fixed fake person every sandbox session verifies; non-ASCII on purpose, to exercise signatures. */
export const SANDBOX_PERSON = {
  firstName: 'José',
  lastName: 'Müller',
  fullName: 'José Müller',
  placeOfBirth: 'München',
  address: 'Königstraße 1, 70173 Stuttgart',
  nationality: 'DEU',
  issuingStateName: 'Germany',
  defaultDateOfBirth: '1990-05-17',
} as const;

/** The part of a sandbox session the decision is built from. */
export interface DecisionSource {
  readonly sessionId: string;
  readonly sessionNumber: number;
  readonly url: string;
  readonly status: SessionStatus;
  readonly workflowId: string;
  readonly workflowVersion: number;
  readonly vendorData?: string;
  readonly metadata: unknown;
  readonly callback: string | null;
  readonly contactDetails: unknown;
  readonly expectedDetails: unknown;
  /** Epoch ms. */
  readonly createdAt: number;
  /** When the user "captured" their data (epoch ms); undefined while no step has run. */
  readonly capturedAt?: number;
  readonly scenario: SandboxScenario;
  /** Node ids whose data a Resubmitted update deleted. */
  readonly clearedNodes: readonly string[];
}

const NODE = {
  id: 'feature_ocr_1',
  liveness: 'feature_liveness_1',
  face: 'feature_face_match_1',
  aml: 'feature_aml_1',
} as const;

/** Node ids of every feature the sandbox workflow runs (used when a resubmission names none). */
export const SANDBOX_NODES: readonly string[] = Object.values(NODE);

type FeatureStatus = 'Approved' | 'Declined' | 'In Review' | 'Not Finished';

function isoDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

function addYears(ms: number, years: number): number {
  const d = new Date(ms);
  d.setUTCFullYear(d.getUTCFullYear() + years);
  return d.getTime();
}

/** Whole years between a `YYYY-MM-DD` date and `at` (UTC); NaN for an unreadable date. */
export function ageAt(dateOfBirth: string, at: number): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(dateOfBirth);
  if (m === null) return Number.NaN;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const now = new Date(at);
  let age = now.getUTCFullYear() - year;
  if (now.getUTCMonth() + 1 < month || (now.getUTCMonth() + 1 === month && now.getUTCDate() < day)) age--;
  return age;
}

function warning(feature: string, risk: string, logType: 'information' | 'warning' | 'error', text: string, nodeId: string) {
  return { feature, risk, additional_data: null, log_type: logType, short_description: text, long_description: text, node_id: nodeId };
}

/**
 * Builds the v3 decision document (`GET /v3/session/{id}/decision/`, webhook `decision`) for a sandbox
 * session: the top-level keys Didit documents, the four feature arrays the sandbox workflow runs (filled
 * from the scenario once data was captured, `null` before) and `null` for every feature it does not run.
 */
export function buildSandboxDecision(source: DecisionSource): Record<string, unknown> {
  const scenario = source.scenario;
  const captured = source.capturedAt;
  const cleared = new Set(source.clearedNodes);
  const status = source.status;
  const base: FeatureStatus =
    status === 'Declined' ? 'Declined' : status === 'In Review' ? 'In Review' : status === 'Abandoned' ? 'Not Finished' : 'Approved';
  const cause = scenario.documentExpired === true || scenario.amlHit === true;

  let idVerifications: Record<string, unknown>[] | null = null;
  let livenessChecks: Record<string, unknown>[] | null = null;
  let faceMatches: Record<string, unknown>[] | null = null;
  let amlScreenings: Record<string, unknown>[] | null = null;

  if (captured !== undefined) {
    const dob = scenario.dateOfBirth ?? SANDBOX_PERSON.defaultDateOfBirth;
    const age = ageAt(dob, captured);
    const documentNumber = `SBX${String(source.sessionNumber).padStart(6, '0')}`;
    const expiry = scenario.documentExpired === true ? captured - 30 * 86_400_000 : addYears(captured, 5);

    if (scenario.withoutDocument !== true && !cleared.has(NODE.id)) {
      const idWarnings = scenario.documentExpired === true
        ? [warning('ID_VERIFICATION', 'DOCUMENT_EXPIRED', 'error', 'The document is expired.', NODE.id)]
        : [];
      idVerifications = [{
        node_id: NODE.id,
        status: scenario.documentExpired === true ? 'Declined' : base === 'Not Finished' ? 'Not Finished' : 'Approved',
        document_type: 'Passport',
        document_subtype: null,
        document_number: documentNumber,
        personal_number: null,
        first_name: SANDBOX_PERSON.firstName,
        last_name: SANDBOX_PERSON.lastName,
        full_name: SANDBOX_PERSON.fullName,
        date_of_birth: dob,
        age: Number.isNaN(age) ? null : age,
        expiration_date: isoDate(expiry),
        date_of_issue: isoDate(addYears(expiry, -10)),
        issuing_state: SANDBOX_PERSON.nationality,
        issuing_state_name: SANDBOX_PERSON.issuingStateName,
        nationality: SANDBOX_PERSON.nationality,
        gender: 'M',
        address: SANDBOX_PERSON.address,
        formatted_address: SANDBOX_PERSON.address,
        place_of_birth: SANDBOX_PERSON.placeOfBirth,
        marital_status: 'UNKNOWN',
        portrait_image: null,
        front_image: null,
        back_image: null,
        extra_fields: {},
        warnings: idWarnings,
      }];
    }

    if (!cleared.has(NODE.liveness)) {
      const estimate = scenario.ageEstimation ?? (Number.isNaN(age) ? null : age + 0.4);
      livenessChecks = [{
        node_id: NODE.liveness,
        status: base === 'Not Finished' ? 'Not Finished' : 'Approved',
        method: 'PASSIVE',
        score: 96.5,
        age_estimation: estimate,
        face_quality: 88.25,
        face_luminance: 61.5,
        reference_image: null,
        video_url: null,
        matches: [],
        warnings: [],
      }];
    }

    if (!cleared.has(NODE.face)) {
      // Without a scenario cause, a Declined or In Review session blames the face match.
      const faceStatus: FeatureStatus = !cause && (base === 'Declined' || base === 'In Review') ? base : base === 'Not Finished' ? 'Not Finished' : 'Approved';
      faceMatches = [{
        node_id: NODE.face,
        status: faceStatus,
        score: faceStatus === 'Approved' ? 91.75 : 42.5,
        source_image: null,
        target_image: null,
        warnings: faceStatus === 'Approved' || faceStatus === 'Not Finished'
          ? []
          : [warning('FACEMATCH', 'LOW_FACE_MATCH_SIMILARITY', faceStatus === 'Declined' ? 'error' : 'warning', 'The faces do not match well enough.', NODE.face)],
      }];
    }

    if (!cleared.has(NODE.aml)) {
      const hit = scenario.amlHit === true;
      amlScreenings = [{
        node_id: NODE.aml,
        status: hit ? 'In Review' : base === 'Not Finished' ? 'Not Finished' : 'Approved',
        entity_type: 'person',
        total_hits: hit ? 1 : 0,
        score: hit ? 85.5 : 0,
        hits: hit
          ? [{
              id: `sbx-hit-${source.sessionNumber}`,
              caption: SANDBOX_PERSON.fullName,
              datasets: ['sanctions'],
              match_score: 95,
              risk_score: 85.5,
              pep_matches: [],
              sanction_matches: [{ list: 'Sandbox Sanctions List', listed_name: SANDBOX_PERSON.fullName }],
              warning_matches: [],
              adverse_media_matches: [],
              risk_view: null,
              first_seen: '2024-01-01T00:00:00Z',
              last_seen: isoDate(captured) + 'T00:00:00Z',
              properties: { name: [SANDBOX_PERSON.fullName], birthDate: [dob] },
            }]
          : [],
        screened_data: {
          full_name: SANDBOX_PERSON.fullName,
          date_of_birth: dob,
          nationality: 'DE',
          document_number: documentNumber,
        },
        is_ongoing_monitoring_enabled: false,
        ongoing_monitoring_last_check: null,
        warnings: hit ? [warning('AML', 'POSSIBLE_MATCH_FOUND', 'warning', 'A possible watch-list match was found.', NODE.aml)] : [],
      }];
    }
  }

  const features = [scenario.withoutDocument === true ? undefined : 'ID_VERIFICATION', 'LIVENESS', 'FACE_MATCH', 'AML'].filter(
    (f): f is string => f !== undefined,
  );

  return {
    session_id: source.sessionId,
    session_kind: 'user',
    session_number: source.sessionNumber,
    session_url: source.url,
    status,
    environment: 'sandbox',
    workflow_id: source.workflowId,
    workflow_version: source.workflowVersion,
    features,
    vendor_data: source.vendorData ?? null,
    metadata: source.metadata,
    expected_details: source.expectedDetails,
    contact_details: source.contactDetails,
    callback: source.callback,
    created_at: new Date(source.createdAt).toISOString(),
    id_verifications: idVerifications,
    nfc_verifications: null,
    liveness_checks: livenessChecks,
    face_matches: faceMatches,
    poa_verifications: null,
    document_ai_documents: null,
    phone_verifications: null,
    email_verifications: null,
    aml_screenings: amlScreenings,
    ip_analyses: null,
    database_validations: null,
    questionnaire_responses: null,
    reviews: [],
  };
}
