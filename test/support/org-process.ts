import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createEnvoyClient, type EnvoyClient } from './envoy-client.js';
import { startIdgate, type IdgateProcess } from './idgate-process.js';

/** An `idgate authz` process serving a platform file and its team files from a temp dir, with a gRPC client. */
export interface OrgProcess {
  readonly dir: string;
  readonly idgate: IdgateProcess;
  readonly grpc: EnvoyClient;
  /** Writes (or rewrites) a file under the dir, e.g. `teams/shop.yaml`: what a reload then sees. */
  write(name: string, text: string): void;
  stop(): Promise<void>;
}

/** Writes `files` (`platform.yaml` and the team files it names, by relative path) and starts idgate on them. */
export async function startOrgProcess(files: Readonly<Record<string, string>>): Promise<OrgProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'idgate-org-'));
  const write = (name: string, text: string): void => {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  };
  for (const [name, text] of Object.entries(files)) write(name, text);
  const idgate = await startIdgate({ configYaml: '', configPath: join(dir, 'platform.yaml'), command: 'authz' });
  const grpc = createEnvoyClient(`127.0.0.1:${idgate.ports.grpc}`);
  return {
    dir,
    idgate,
    grpc,
    write,
    async stop() {
      grpc.close();
      await idgate.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
