import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A throwaway CA made with the `openssl` CLI (node:crypto cannot sign X.509). */
export interface TestCa {
  readonly name: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly certPem: Buffer;
}

/** A certificate and key signed by a {@link TestCa}. */
export interface TestLeaf {
  readonly certPem: Buffer;
  readonly keyPem: Buffer;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

/** Creates a self-signed CA (P-256, one day) in `dir`. */
export function createTestCa(dir: string, name: string): TestCa {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  openssl(['req', '-x509', ...EC, '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  return { name, certFile, keyFile, certPem: readFileSync(certFile) };
}

/**
 * Issues a leaf for server and client auth with the given SANs (`DNS:…`, `URI:…`, `IP:…`), one day valid,
 * signed by `ca`.
 */
export function issueTestLeaf(dir: string, ca: TestCa, name: string, sans: readonly string[]): TestLeaf {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const crt = join(dir, `${name}.crt`);
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=${sans.join(',')}\n`);
  openssl(['req', '-new', ...EC, '-keyout', key, '-out', csr, '-subj', `/CN=${name}`], dir);
  openssl(['x509', '-req', '-in', csr, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-set_serial', `0x${Date.now().toString(16)}${Math.floor(Math.random() * 0xffff).toString(16)}`,
    '-days', '1', '-out', crt, '-extfile', ext], dir);
  return { certPem: readFileSync(crt), keyPem: readFileSync(key) };
}

/**
 * A directory laid out like a Kubernetes Secret volume: `tls.crt`, `tls.key`, `ca.crt` are symlinks into
 * `..data`, itself a symlink to a timestamped directory; {@link SecretVolume.swap} publishes a new version
 * the way the kubelet does (write a new directory, atomically rename a new `..data` link over the old one).
 */
export interface SecretVolume {
  readonly dir: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile: string;
  swap(files: { 'tls.crt': Buffer | string; 'tls.key': Buffer | string; 'ca.crt': Buffer | string }): void;
}

export function createSecretVolume(dir: string, files: { 'tls.crt': Buffer | string; 'tls.key': Buffer | string; 'ca.crt': Buffer | string }): SecretVolume {
  mkdirSync(dir, { recursive: true });
  let version = 0;
  const swap = (next: typeof files): void => {
    version += 1;
    const versionDir = `..v${version}`;
    mkdirSync(join(dir, versionDir));
    for (const [name, content] of Object.entries(next)) writeFileSync(join(dir, versionDir, name), content);
    symlinkSync(versionDir, join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  };
  swap(files);
  for (const name of ['tls.crt', 'tls.key', 'ca.crt']) symlinkSync(join('..data', name), join(dir, name));
  return { dir, certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key'), caFile: join(dir, 'ca.crt'), swap };
}
