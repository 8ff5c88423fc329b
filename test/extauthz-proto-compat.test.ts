import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { UPSTREAM_PROTO_DIRS } from './support/envoy-client.js';

// Our protos must be a strict, wire-compatible subset of the upstream Envoy API: every message, field,
// enum value and service method we declare exists upstream with the same number, type and cardinality.

const OWN_DIR = fileURLToPath(new URL('../proto', import.meta.url));
const OWN_FILES = ['envoy/service/auth/v3/external_auth.proto'];

function loadRoot(files: readonly string[], includeDirs: readonly string[]): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    for (const dir of includeDirs) {
      const candidate = join(dir, target);
      if (existsSync(candidate)) return candidate;
    }
    return target;
  };
  root.loadSync([...files], { keepCase: true });
  root.resolveAll();
  return root;
}

function collect(namespace: protobuf.NamespaceBase, types: protobuf.Type[], enums: protobuf.Enum[], services: protobuf.Service[]): void {
  for (const nested of namespace.nestedArray) {
    if (nested instanceof protobuf.Type) types.push(nested);
    else if (nested instanceof protobuf.Enum) enums.push(nested);
    else if (nested instanceof protobuf.Service) services.push(nested);
    if (nested instanceof protobuf.Namespace || nested instanceof protobuf.Type) collect(nested, types, enums, services);
  }
}

function typeOf(field: protobuf.Field): string {
  field.resolve();
  return field.resolvedType ? field.resolvedType.fullName : field.type;
}

function describeField(field: protobuf.Field): Record<string, unknown> {
  return {
    id: field.id,
    type: typeOf(field),
    repeated: field.repeated,
    map: field.map,
    keyType: field instanceof protobuf.MapField ? field.keyType : undefined,
    oneof: field.partOf?.name,
  };
}

const own = loadRoot(OWN_FILES, [OWN_DIR]);
const upstream = loadRoot(OWN_FILES, UPSTREAM_PROTO_DIRS);

const types: protobuf.Type[] = [];
const enums: protobuf.Enum[] = [];
const services: protobuf.Service[] = [];
collect(own, types, enums, services);
// google.protobuf.* come from protobufjs's bundled definitions on both sides.
const ownTypes = types.filter((t) => !t.fullName.startsWith('.google.protobuf.'));
const ownEnums = enums.filter((e) => !e.fullName.startsWith('.google.protobuf.'));

describe('own protos vs upstream Envoy protos', () => {
  it('declares the messages idgate needs', () => {
    const names = ownTypes.map((t) => t.fullName);
    expect(names).toEqual(
      expect.arrayContaining([
        '.envoy.service.auth.v3.CheckRequest',
        '.envoy.service.auth.v3.CheckResponse',
        '.envoy.service.auth.v3.AttributeContext',
        '.envoy.service.auth.v3.AttributeContext.Peer',
        '.envoy.service.auth.v3.AttributeContext.HttpRequest',
        '.envoy.config.core.v3.HeaderValueOption',
        '.envoy.config.core.v3.Metadata',
        '.envoy.config.core.v3.SocketAddress',
        '.envoy.type.v3.HttpStatus',
        '.google.rpc.Status',
      ]),
    );
  });

  it.each(ownTypes.map((t) => [t.fullName, t] as const))('%s matches upstream field by field', (name, type) => {
    const theirs = upstream.lookupType(name);
    expect(type.fieldsArray.length).toBeGreaterThan(0);
    for (const field of type.fieldsArray) {
      const other = theirs.fields[field.name];
      expect(other, `${name}.${field.name} exists upstream`).toBeDefined();
      if (other === undefined) continue;
      expect(describeField(field), `${name}.${field.name}`).toEqual(describeField(other));
    }
  });

  it.each(ownEnums.map((e) => [e.fullName, e] as const))('enum %s values match upstream', (name, en) => {
    const theirs = upstream.lookupEnum(name);
    for (const [key, value] of Object.entries(en.values)) {
      expect(theirs.values[key], `${name}.${key}`).toBe(value);
    }
  });

  it('HttpStatus.StatusCode is the complete upstream enum', () => {
    expect(own.lookupEnum('envoy.type.v3.StatusCode').values).toEqual(upstream.lookupEnum('envoy.type.v3.StatusCode').values);
  });

  it('the Authorization service and Check method match upstream', () => {
    expect(services.map((s) => s.fullName)).toContain('.envoy.service.auth.v3.Authorization');
    const mine = own.lookupService('envoy.service.auth.v3.Authorization');
    const theirs = upstream.lookupService('envoy.service.auth.v3.Authorization');
    const check = mine.methods['Check'];
    const upstreamCheck = theirs.methods['Check'];
    expect(check).toBeDefined();
    expect(upstreamCheck).toBeDefined();
    check?.resolve();
    upstreamCheck?.resolve();
    expect(check?.resolvedRequestType?.fullName).toBe(upstreamCheck?.resolvedRequestType?.fullName);
    expect(check?.resolvedResponseType?.fullName).toBe(upstreamCheck?.resolvedResponseType?.fullName);
    expect(check?.requestStream).toBeFalsy();
    expect(check?.responseStream).toBeFalsy();
  });

  it('round-trips a full upstream CheckRequest through our decoder without losing read fields', () => {
    const theirsType = upstream.lookupType('envoy.service.auth.v3.CheckRequest');
    const oursType = own.lookupType('envoy.service.auth.v3.CheckRequest');
    const message = {
      attributes: {
        source: { address: { socket_address: { address: '10.1.2.3', port_value: 5000 } }, principal: 'spiffe://x', service: 'svc' },
        request: {
          time: { seconds: 1700000000, nanos: 5 },
          http: {
            id: '1', method: 'GET', headers: { ':path': '/a' }, path: '/a', host: 'h', scheme: 'https',
            query: '', size: 12, protocol: 'HTTP/2', body: 'b', raw_body: Buffer.from('rb'),
            header_map: { headers: [{ key: 'k', raw_value: Buffer.from('v') }] },
          },
        },
        context_extensions: { a: 'b' },
        metadata_context: { filter_metadata: { ns: { fields: { k: { stringValue: 'v' } } } } },
        route_metadata_context: { filter_metadata: { rt: { fields: { n: { numberValue: 1 } } } } },
        tls_session: { sni: 'h' },
      },
    };
    const bytes = theirsType.encode(theirsType.fromObject(message)).finish();
    const decoded = oursType.toObject(oursType.decode(bytes), { longs: String, bytes: String }) as {
      attributes: Record<string, unknown>;
    };
    expect(decoded.attributes).toMatchObject({
      source: { address: { socket_address: { address: '10.1.2.3', port_value: 5000 } }, principal: 'spiffe://x' },
      request: {
        time: { seconds: '1700000000', nanos: 5 },
        http: {
          id: '1', method: 'GET', headers: { ':path': '/a' }, path: '/a', host: 'h', scheme: 'https', protocol: 'HTTP/2',
          body: 'b', raw_body: Buffer.from('rb').toString('base64'),
          header_map: { headers: [{ key: 'k', raw_value: Buffer.from('v').toString('base64') }] },
        },
      },
      context_extensions: { a: 'b' },
      metadata_context: { filter_metadata: { ns: { fields: { k: { stringValue: 'v' } } } } },
      route_metadata_context: { filter_metadata: { rt: { fields: { n: { numberValue: 1 } } } } },
      tls_session: { sni: 'h' },
    });
  });
});
