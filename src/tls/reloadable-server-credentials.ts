import * as grpc from '@grpc/grpc-js';
import { secureContextOptions, type TlsMaterial } from './server-tls.js';

// Its own module, apart from server-tls.ts: only the grpc-js transport needs it, and importing grpc-js is
// what an authz role on `transport: http2` no longer does (bench/README.md "node:http2 transport, seventh round").
/**
 * grpc-js server credentials whose certificate can be replaced while serving: grpc-js calls
 * `setSecureContext` on its HTTP/2 server for every update, so new connections get the new certificate and
 * open connections (and their in-flight Checks) keep theirs. With a client CA the client certificate is
 * required and verified at the handshake.
 */
export class ReloadableServerCredentials extends grpc.ServerCredentials {
  constructor(material: TlsMaterial) {
    const mtls = material.ca !== undefined;
    // A client that stalls the handshake is dropped after 5 s (node's default is 120 s).
    super({ requestCert: mtls, rejectUnauthorized: mtls, handshakeTimeout: 5_000 }, secureContextOptions(material));
  }

  /** Replaces the certificate/key/CA for new connections. Validate first: grpc-js drops new connections on a bad context. */
  update(material: TlsMaterial): void {
    this.updateSecureContextOptions(secureContextOptions(material));
  }

  _equals(other: grpc.ServerCredentials): boolean {
    return other === this;
  }
}
