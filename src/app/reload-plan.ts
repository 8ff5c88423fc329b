import type { IdgateConfig } from '../config/types.js';

/**
 * How each top-level config section behaves on a hot reload. `reload`: the running process applies the new
 * value everywhere it is used (policy, verification gate, webhook server, reconciler, authenticator and its
 * JWKS and token caches, risk, client-address resolution, logging). `restart`: the section shapes listeners,
 * connections or clients built once at start; a changed value is refused (the running value stays, with a
 * warning and `idgate_config_reload_refused_total{section,reason="restart_required"}`).
 *
 * `risk` and `logging` apply except for the keys listed in {@link RESTART_KEYS}.
 *
 * Typed as a record over every key of {@link IdgateConfig}, so a new section does not compile until it is
 * classified here.
 */
export const SECTION_RELOAD: Readonly<Record<keyof IdgateConfig, 'reload' | 'restart'>> = {
  policy: 'reload',
  workflows: 'reload',
  issuers: 'reload',
  network: 'reload',
  context: 'reload',
  risk: 'reload',
  logging: 'reload',
  server: 'restart',
  store: 'restart',
  caches: 'restart',
  didit: 'restart',
  headers: 'restart',
  demoIssuer: 'restart',
  tracing: 'restart',
};

/**
 * What the running process can change in place (decided at start). Turning `risk.enabled` on or off always
 * needs a restart: the risk evaluator is wired into the engine only when risk was enabled at start.
 */
export interface ReloadCapabilities {
  /** A Didit client exists (workflows were configured at start); adding the first workflow needs a restart. */
  readonly workflowsWired: boolean;
}

export interface ReloadPlan {
  /** The config to apply: the new file, with every refused section kept at its running value. */
  readonly effective: IdgateConfig;
  /** Reloadable sections whose value changes. */
  readonly applied: readonly string[];
  /** Sections (or keys, e.g. `risk.enabled`) whose change was refused: a restart is required for them. */
  readonly refused: readonly string[];
}

/**
 * Keys of reloadable sections that are still fixed at start: `risk.enabled` (the risk evaluator is wired into
 * the engine only when risk was on at start) and `logging.level` (every component's logger takes its level
 * when it is created). The rest of such a section applies; a change of these keys is refused.
 */
const RESTART_KEYS: Partial<Record<keyof IdgateConfig, readonly string[]>> = {
  risk: ['enabled'],
  logging: ['level'],
};

const field = (section: unknown, key: string): unknown =>
  section !== null && typeof section === 'object' ? (section as Record<string, unknown>)[key] : undefined;

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/**
 * Splits a validated new config into what a running process applies and what it refuses. Pure.
 * A section is taken whole from `next` or kept whole from `running`, except for the {@link RESTART_KEYS},
 * which keep their running value while the rest of their section applies.
 */
export function planReload(running: IdgateConfig, next: IdgateConfig, caps: ReloadCapabilities): ReloadPlan {
  const effective: Record<string, unknown> = { ...next };
  const applied: string[] = [];
  const refused: string[] = [];
  const keys = new Set([...Object.keys(running), ...Object.keys(next)]) as Set<keyof IdgateConfig>;
  for (const section of Object.keys(SECTION_RELOAD) as (keyof IdgateConfig)[]) keys.add(section);
  for (const section of keys) {
    if (same(running[section], next[section])) continue;
    const refuse = () => {
      refused.push(section);
      if (running[section] === undefined) delete effective[section];
      else effective[section] = running[section];
    };
    if (SECTION_RELOAD[section] !== 'reload') {
      refuse();
      continue;
    }
    if (section === 'workflows' && !caps.workflowsWired) {
      refuse();
      continue;
    }
    const fixedKeys = RESTART_KEYS[section] ?? [];
    const changedFixed = fixedKeys.filter((k) => !same(field(running[section], k), field(next[section], k)));
    if (changedFixed.length > 0) {
      const kept: Record<string, unknown> = { ...(next[section] as object) };
      for (const k of changedFixed) {
        refused.push(`${section}.${k}`);
        kept[k] = field(running[section], k);
      }
      effective[section] = kept;
      if (!same(kept, running[section])) applied.push(section);
      continue;
    }
    applied.push(section);
  }
  return { effective: Object.freeze(effective) as unknown as IdgateConfig, applied, refused };
}
