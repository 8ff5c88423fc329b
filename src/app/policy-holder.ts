import type { IdgateConfig } from '../config/types.js';
import { compilePolicy, type CompiledPolicy } from '../policy/compile-policy.js';

/**
 * Holds the compiled policy the engine reads on every request. A reload compiles the new config fully
 * first and swaps one reference, so a request sees either the old or the new policy, never a mix.
 */
export interface PolicyHolder {
  readonly current: CompiledPolicy;
  /** Compiles and swaps; throws (keeping the old policy) if compiling fails. */
  replace(config: IdgateConfig): void;
}

export function createPolicyHolder(config: IdgateConfig): PolicyHolder {
  let current = compilePolicy(config);
  return {
    get current() {
      return current;
    },
    replace(next) {
      current = compilePolicy(next);
    },
  };
}
