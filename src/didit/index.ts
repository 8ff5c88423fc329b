/** Didit integration: REST client, webhook signature verification, payload types and verdict derivation. */
export { canonicalJson, parseSignedJson, CanonicalJsonError } from './canonical-json.js';
export type { CanonicalJsonErrorCode, SignedJson } from './canonical-json.js';
export { createDiditClient } from './create-didit-client.js';
export type { CreateSessionInput, CreatedSession, DiditClient, DiditClientOptions } from './create-didit-client.js';
export { DiditError } from './didit-error.js';
export type { DiditErrorCode } from './didit-error.js';
export { deriveVerdictFacts, verdictFromDecision, verdictFromWebhook } from './derive-verdict-facts.js';
export {
  compareCodePoints,
  formatPythonNumber,
  pythonFloatRepr,
  quotePythonString,
  serializePythonJson,
} from './python-json.js';
export type { PythonJsonOptions } from './python-json.js';
export { isSessionStatus, parseCreateSessionResponse, parseDecision, parseWebhookPayload } from './types.js';
export type * from './types.js';
export { verifyWebhookSignature } from './verify-webhook-signature.js';
export type {
  VerifyWebhookSignatureOptions,
  WebhookSignatureFailure,
  WebhookSignatureMethod,
  WebhookSignatureResult,
} from './verify-webhook-signature.js';
