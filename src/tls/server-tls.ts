import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createSecureContext, type PeerCertificate, type SecureContextOptions } from 'node:tls';
import type { Logger } from 'pino';
import type { ListenerTlsConfig } from '../config/types.js';
import { startPolling, type Polling } from '../core/start-polling.js';

/** The PEM files of one listener, as read at one moment. */
export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca?: Buffer;
}

/** Reads the listener's certificate, key and (optional) client CA files. */
export async function readTlsMaterial(config: ListenerTlsConfig): Promise<TlsMaterial> {
  const [cert, key, ca] = await Promise.all([
    readFile(config.certFile),
    readFile(config.keyFile),
    config.clientCaFile === undefined ? Promise.resolve(undefined) : readFile(config.clientCaFile),
  ]);
  return ca === undefined ? { cert, key } : { cert, key, ca };
}

/**
 * Checks that `material` is usable before it replaces anything: the certificate and key parse, the key
 * belongs to the certificate, the certificate is within its validity period and the CA bundle parses.
 * @throws Error naming what is wrong (never the key's content).
 */
export function validateTlsMaterial(material: TlsMaterial, now = Date.now()): void {
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(material.cert);
  } catch {
    throw new Error('the certificate file does not hold a PEM certificate');
  }
  let key;
  try {
    key = createPrivateKey(material.key);
  } catch {
    throw new Error('the key file does not hold a PEM private key');
  }
  if (!leaf.checkPrivateKey(key)) throw new Error('the private key does not match the certificate');
  if (Date.parse(leaf.validTo) <= now) throw new Error(`the certificate expired at ${leaf.validTo}`);
  if (Date.parse(leaf.validFrom) > now) throw new Error(`the certificate is not valid before ${leaf.validFrom}`);
  if (material.ca !== undefined) {
    try {
      new X509Certificate(material.ca);
    } catch {
      throw new Error('the client CA file does not hold a PEM certificate');
    }
  }
  // Whatever node:tls itself refuses (e.g. a key too weak for OpenSSL's security level).
  createSecureContext(secureContextOptions(material));
}

/** node:tls context options for `material`: TLS 1.2 at least. */
export function secureContextOptions(material: TlsMaterial): SecureContextOptions {
  return {
    cert: material.cert,
    key: material.key,
    ...(material.ca !== undefined ? { ca: material.ca } : {}),
    minVersion: 'TLSv1.2',
  };
}

/**
 * The peer check of `allowedSans`: true when the client certificate carries one of the listed subject
 * alternative names. An entry with a scheme (`spiffe://…`, `https://…`) is matched against the URI SANs,
 * any other against the DNS SANs (case-insensitively); matching is exact, no wildcards. An empty list
 * allows every certificate the CA verified.
 */
export function createSanMatcher(allowedSans: readonly string[]): (peer: PeerCertificate | undefined | null) => boolean {
  const uris = new Set(allowedSans.filter(isUriSan));
  const dns = new Set(allowedSans.filter((s) => !isUriSan(s)).map((s) => s.toLowerCase()));
  if (uris.size === 0 && dns.size === 0) return () => true;
  return (peer) => {
    const altNames = peer?.subjectaltname;
    if (typeof altNames !== 'string' || altNames === '') return false;
    for (const [type, value] of parseSubjectAltName(altNames)) {
      if (type === 'URI' && uris.has(value)) return true;
      if (type === 'DNS' && dns.has(value.toLowerCase())) return true;
    }
    return false;
  };
}

/** True for a SAN entry written as a URI (it has a scheme). */
export function isUriSan(entry: string): boolean {
  return /^[A-Za-z][A-Za-z0-9+.-]*:/.test(entry);
}

/**
 * Splits node's `subjectaltname` string (`DNS:a, URI:spiffe://x, IP Address:1.2.3.4`). Node quotes a value
 * holding a comma or quote as a JSON string, so a crafted SAN cannot smuggle a second entry.
 */
export function parseSubjectAltName(text: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  let i = 0;
  while (i < text.length) {
    const colon = text.indexOf(':', i);
    if (colon < 0) break;
    const type = text.slice(i, colon).trim();
    let j = colon + 1;
    let value: string;
    if (text[j] === '"') {
      // JSON-quoted value: find the closing quote that is not escaped.
      let k = j + 1;
      while (k < text.length && text[k] !== '"') k += text[k] === '\\' ? 2 : 1;
      try {
        value = JSON.parse(text.slice(j, k + 1)) as string;
      } catch {
        return out; // malformed: stop, matching nothing further
      }
      j = k + 1;
    } else {
      const comma = text.indexOf(', ', j);
      const end = comma < 0 ? text.length : comma;
      value = text.slice(j, end);
      j = end;
    }
    out.push([type, value]);
    const next = text.indexOf(', ', j);
    if (next < 0) break;
    i = next + 2;
  }
  return out;
}

/**
 * Watches a listener's certificate files for rotation (cert-manager writing a Kubernetes Secret volume,
 * which swaps a `..data` symlink): polls their content hash every `reloadIntervalMs`, like the config
 * watcher, because file events are unreliable across symlink swaps. A changed, valid set is handed to
 * `apply`; an invalid one (unparsable, key not matching, expired, half-written) keeps the running
 * certificate, is logged and counted, and is retried when the files change again.
 */
export function watchTlsFiles(
  deps: { logger: Logger; onResult?: (ok: boolean) => void },
  options: { listener: string; config: ListenerTlsConfig; initial: TlsMaterial; apply: (material: TlsMaterial) => void },
): Polling {
  let lastHash = hashMaterial(options.initial);
  const files = { certFile: options.config.certFile, keyFile: options.config.keyFile, clientCaFile: options.config.clientCaFile };

  async function check(): Promise<void> {
    let material: TlsMaterial;
    try {
      material = await readTlsMaterial(options.config);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
      deps.logger.warn({ listener: options.listener, ...files, error: code }, 'TLS files unreadable; keeping the current certificate');
      return;
    }
    const hash = hashMaterial(material);
    if (hash === lastHash) return;
    lastHash = hash;
    try {
      validateTlsMaterial(material);
      options.apply(material);
    } catch (err) {
      deps.logger.error(
        { listener: options.listener, ...files, reason: (err as Error).message },
        'TLS certificate reload rejected; keeping the current certificate',
      );
      deps.onResult?.(false);
      return;
    }
    deps.logger.info({ listener: options.listener, ...files, ...certFacts(material) }, 'TLS certificate reloaded');
    deps.onResult?.(true);
  }

  return startPolling(check, { intervalMs: options.config.reloadIntervalMs });
}

/** Public facts of the serving certificate for log lines: serial and expiry (no key material). */
export function certFacts(material: TlsMaterial): { serial: string; notAfter: string } {
  const leaf = new X509Certificate(material.cert);
  return { serial: leaf.serialNumber, notAfter: leaf.validTo };
}

function hashMaterial(material: TlsMaterial): string {
  const h = createHash('sha256');
  for (const part of [material.cert, material.key, material.ca ?? Buffer.alloc(0)]) {
    h.update(String(part.length)).update(':').update(part);
  }
  return h.digest('hex');
}

/** A listener's TLS as loaded at startup. */
export interface ListenerTls {
  readonly listener: string;
  readonly config: ListenerTlsConfig;
  readonly material: TlsMaterial;
  /** The `allowedSans` check, when the list is not empty. */
  readonly peerAllowed?: (peer: PeerCertificate | undefined) => boolean;
}

/**
 * Reads and validates a listener's certificate files at startup.
 * @throws Error naming the config key and what is wrong with the files (startup fails: no plaintext fallback).
 */
export async function loadListenerTls(listener: string, config: ListenerTlsConfig): Promise<ListenerTls> {
  const key = `server.${listener}.tls`;
  let material: TlsMaterial;
  try {
    material = await readTlsMaterial(config);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(`${key}: cannot read ${e.path ?? 'a TLS file'} (${e.code ?? e.message})`);
  }
  try {
    validateTlsMaterial(material);
  } catch (err) {
    throw new Error(`${key}: ${(err as Error).message}`);
  }
  return {
    listener,
    config,
    material,
    ...(config.allowedSans.length > 0 ? { peerAllowed: createSanMatcher(config.allowedSans) } : {}),
  };
}
