import { checkRiskLimits, MAX_IPS_PER_TOKEN, MAX_KNOWN_DEVICES, MAX_TRACKED_TOKENS } from '../risk-store.js';
import type { RiskStore } from '../risk-store.js';
import { StoreError } from '../store-error.js';
import { escapeKeyPart } from '../store-keys.js';
import type { RedisConnection } from './redis-connection.js';
import { DELETE_RISK_LUA, GET_RISK_LUA, RECORD_RISK_LUA } from './risk-scripts.js';

function optionalNumber(value: unknown): number | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? n : undefined;
}

/** {@link RiskStore} on Redis: one script per operation over the subject's risk keys (one hash-tag slot). */
export function createRedisRisk(conn: RedisConnection): RiskStore {
  const { keys } = conn;
  const recordScript = conn.defineScript('idgateRecordRisk', 4, RECORD_RISK_LUA);
  const getScript = conn.defineScript('idgateGetRisk', 3, GET_RISK_LUA);
  const deleteScript = conn.defineScript('idgateDeleteRisk', 3, DELETE_RISK_LUA);
  return {
    async recordActivity(subject, o, limits) {
      checkRiskLimits(limits);
      const reply = await conn.run(() =>
        recordScript(
          keys.riskState(subject),
          keys.riskDevices(subject),
          keys.riskTokens(subject),
          keys.tokenIps(subject, o.tokenId),
          String(Math.floor(o.now)),
          o.ip,
          o.country ?? '',
          o.deviceId ?? '',
          escapeKeyPart(o.tokenId),
          Math.ceil(limits.stateTtlMs),
          Math.ceil(limits.velocityWindowMs),
          Math.ceil(limits.tokenIpWindowMs),
          MAX_KNOWN_DEVICES,
          MAX_IPS_PER_TOKEN,
          MAX_TRACKED_TOKENS,
          keys.tokenIps(subject, ''),
        ),
      );
      if (!Array.isArray(reply) || reply.length !== 7) throw new StoreError('corrupt', 'unexpected reply from the risk script');
      const [ip, country, countryAt, known, first, velocity, ips] = reply as unknown[];
      const lastCountryAt = optionalNumber(countryAt);
      if (typeof known !== 'number' || typeof first !== 'number' || typeof velocity !== 'number' || typeof ips !== 'number') {
        throw new StoreError('corrupt', 'unexpected reply from the risk script');
      }
      return {
        ...(typeof ip === 'string' && ip !== '' ? { lastIp: ip } : {}),
        ...(typeof country === 'string' && country !== '' ? { lastCountry: country } : {}),
        ...(lastCountryAt !== undefined ? { lastCountryAt } : {}),
        knownDevice: known === 1,
        firstSeen: first === 1,
        velocityCount: velocity,
        distinctIpsForToken: ips,
      };
    },

    async getRisk(subject) {
      const reply = await conn.run(() => getScript(keys.riskState(subject), keys.riskDevices(subject), keys.riskTokens(subject)));
      if (!Array.isArray(reply) || reply.length !== 6) throw new StoreError('corrupt', 'unexpected reply from the risk read script');
      const [seen, ip, country, countryAt, devices, tokens] = reply as unknown[];
      const lastSeenAt = optionalNumber(seen);
      if (lastSeenAt === undefined) return undefined;
      const lastCountryAt = optionalNumber(countryAt);
      return {
        lastSeenAt,
        ...(typeof ip === 'string' && ip !== '' ? { lastIp: ip } : {}),
        ...(typeof country === 'string' && country !== '' ? { lastCountry: country } : {}),
        ...(lastCountryAt !== undefined ? { lastCountryAt } : {}),
        knownDevices: typeof devices === 'number' ? devices : 0,
        trackedTokens: typeof tokens === 'number' ? tokens : 0,
      };
    },

    async deleteRisk(subject) {
      await conn.run(() =>
        deleteScript(keys.riskState(subject), keys.riskDevices(subject), keys.riskTokens(subject), keys.tokenIps(subject, '')),
      );
    },
  };
}
