import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * Parses `config` in a fresh Node process (the built dist/, as `idgate` runs) and reports how many
 * `@bufbuild/*` modules it then holds: the CEL library is loaded only for a configuration with an expression.
 */
function celModulesAfterParsing(config: string): number {
  // Resolution hooks see every module the process loads, through import() and require() alike.
  const script = `
    const { registerHooks } = await import('node:module');
    const seen = new Set();
    registerHooks({
      resolve(specifier, context, next) {
        const resolved = next(specifier, context);
        if (resolved.url.includes('@bufbuild')) seen.add(resolved.url);
        return resolved;
      },
    });
    const { parseConfig } = await import('./dist/src/config/parse-config.js');
    const { compilePolicy } = await import('./dist/src/policy/compile-policy.js');
    compilePolicy(parseConfig(process.env.CONFIG, { sourceName: 't.yaml', env: {} }));
    console.log(seen.size);
  `;
  const res = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 20_000,
    env: { ...process.env, CONFIG: config },
  });
  expect(res.stderr).toBe('');
  return Number(res.stdout.trim());
}

const HEAD = `issuers:
  - { name: corp, issuer: https://corp.example, audiences: [api], jwksUri: https://corp.example/jwks }
didit: { mode: sandbox }
policy:
  routes:
    - id: a
      match: { prefix: /a }
`;

describe('the CEL library is loaded on demand', () => {
  it('a configuration without CEL expressions never loads @bufbuild/cel', () => {
    expect(celModulesAfterParsing(`${HEAD}      conditions:\n        - { name: lan, when: { sourceIp: { in: [10.0.0.0/8] } }, then: deny }\n`)).toBe(0);
  });

  it('a configuration with one loads it when the expression is compiled', () => {
    expect(celModulesAfterParsing(`${HEAD}      conditions:\n        - { name: del, when: { cel: 'request.method == "DELETE"' }, then: deny }\n`)).toBeGreaterThan(0);
  });
});
