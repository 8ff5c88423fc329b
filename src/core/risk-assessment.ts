/** Names of the continuous-verification signals. */
export type RiskSignalName = 'new_device' | 'country_change' | 'impossible_travel' | 'velocity' | 'too_many_ips';

/** One signal that fired for this request, with the weight it adds to the score. */
export interface RiskSignal {
  readonly name: RiskSignalName;
  readonly weight: number;
  /** Safe for logs: no IPs or device ids, just what changed. */
  readonly detail: string;
}

/** The risk stage's result for one request: the fired signals and their summed score. */
export interface RiskAssessment {
  readonly score: number;
  readonly signals: readonly RiskSignal[];
}
