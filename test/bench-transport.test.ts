import { describe, expect, it } from 'vitest';
import { renderBenchConfig } from '../bench/idgate-config.js';
import { targetConfigYaml } from '../bench/targets.js';
import { cpuUsPerCheck, median } from '../bench/transport-cpu.js';
import { parseConfig } from '../src/config/parse-config.js';

const yaml = renderBenchConfig({ issuer: 'http://127.0.0.1:1', jwksUri: 'http://127.0.0.1:1/jwks', audience: 'shop-api', localCacheTtlMs: 60_000, routes: 1, celConditions: false });

describe('bench transport target (idgate-h2)', () => {
  it('runs idgate-h2 on the node:http2 transport and idgate on the default (http2 too), with a config idgate accepts', () => {
    const h2 = parseConfig(targetConfigYaml('idgate-h2', yaml), { sourceName: 'h2.yaml', env: {} });
    const plain = parseConfig(targetConfigYaml('idgate', yaml), { sourceName: 'plain.yaml', env: {} });
    expect(h2.server.grpc.transport).toBe('http2');
    // The default became http2 (bench/README.md "node:http2 transport, seventh round"): nothing else differs.
    expect(plain.server.grpc).toEqual(h2.server.grpc);
  });

  it('computes server CPU per Check from /proc tick samples over the whole process tree', () => {
    const before = { atMs: 0, cpuTicksByPid: new Map([[10, 100], [11, 5]]), rssKiB: 0, hwmKiB: 0 };
    const after = { atMs: 1, cpuTicksByPid: new Map([[10, 300], [11, 5], [12, 100]]), rssKiB: 0, hwmKiB: 0 };
    // 300 ticks at 100/s = 3 s over 30,000 Checks = 100 µs each (a pid born during the run counts from 0).
    expect(cpuUsPerCheck(before, after, 30_000, 100)).toBeCloseTo(100, 6);
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });
});
