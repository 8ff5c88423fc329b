import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/parse-config.js';

/** The policy file the Kubernetes base ships must load with the secrets the manifests provide. */
const ROOT = resolve(import.meta.dirname, '..');

describe('k8s/base/idgate.yaml', () => {
  const text = readFileSync(resolve(ROOT, 'k8s/base/idgate.yaml'), 'utf8');
  const env = {
    IDGATE_DIDIT_API_KEY: 'k'.repeat(40),
    IDGATE_DIDIT_WEBHOOK_SECRET: 's'.repeat(43),
    IDGATE_ADMIN_TOKEN: 'admin-token-0123456789',
    IDGATE_REDIS_PASSWORD: 'p',
  };

  it('is a valid config when the Secret provides the four variables the Deployments map', () => {
    const config = parseConfig(text, { sourceName: 'k8s/base/idgate.yaml', env });
    expect(config.store.type).toBe('redis');
    expect(config.didit.mode).toBe('live');
    // The ports the Services and probes use.
    expect(config.server.grpc.port).toBe(9191);
    expect(config.server.public.port).toBe(8080);
    expect(config.server.admin.port).toBe(9090);
  });

  it('names every missing secret when the Secret is absent', () => {
    expect(() => parseConfig(text, { sourceName: 'k8s/base/idgate.yaml', env: {} })).toThrow(/IDGATE_DIDIT_API_KEY/);
  });

  it('the Deployments map exactly the variables the config references', () => {
    const uncommented = text.split('\n').map((l) => l.replace(/#.*$/, '')).join('\n');
    const referenced = [...uncommented.matchAll(/\{ env: ([A-Z0-9_]+) \}/g)].map((m) => m[1]).sort();
    for (const file of ['k8s/base/deployment-authz.yaml', 'k8s/base/deployment-webhook.yaml']) {
      const manifest = readFileSync(resolve(ROOT, file), 'utf8');
      for (const name of referenced) expect(manifest, `${file} maps ${name}`).toContain(`name: ${name}`);
    }
    expect(referenced).toEqual(Object.keys(env).sort());
  });
});
