/**
 * The bounded audit stream: who changed which verdict, and operators' actions. Rejects only with a
 * `StoreError` on an infrastructure fault.
 */
export interface AuditLog {
  /** Appends one event to the bounded audit stream (oldest entries are trimmed). Values must not hold PII. */
  appendAudit(event: Readonly<Record<string, string>>): Promise<void>;
}

/** Webhook de-duplication shared by every replica. Rejects only with a `StoreError` on an infrastructure fault. */
export interface WebhookDedupe {
  /** `true` the first time `eventKey` is seen within `ttlMs`, `false` afterwards. */
  markEventSeen(eventKey: string, ttlMs: number): Promise<boolean>;
}
