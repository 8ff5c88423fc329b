import { boundedLru } from '../../core/bounded-lru.js';
import { checkRiskLimits, MAX_IPS_PER_TOKEN, MAX_KNOWN_DEVICES, MAX_TRACKED_TOKENS, slidingCount } from '../risk-store.js';
import type { RiskStore } from '../risk-store.js';
import type { MemoryState } from './memory-state.js';

/** One subject's risk state (the memory twin of the Redis risk keys). */
interface RiskEntry {
  seenAt: number;
  ip: string;
  country?: string;
  countryAt?: number;
  /** Known device hashes in insertion order (the oldest is forgotten first). */
  readonly devices: Set<string>;
  /** Velocity: current bucket index, its count and the previous bucket's count. */
  vi: number;
  vn: number;
  vp: number;
  expiresAt: number;
  /** Tracked tokens in first-use order. */
  readonly tokens: Map<string, { readonly ips: Set<string>; readonly expiresAt: number }>;
}

/**
 * {@link RiskStore} in memory: the twin of the Redis risk script (same caps, same two-bucket velocity), one
 * entry per subject in an LRU of `maxSubjects`, expiry on the state's clock.
 */
export function createMemoryRisk(state: MemoryState): RiskStore {
  const risk = boundedLru<string, RiskEntry>(state.maxSubjects);
  return {
    async recordActivity(subject, o, limits) {
      state.open();
      checkRiskLimits(limits);
      const now = o.now;
      const w = limits.velocityWindowMs;
      const idx = Math.floor(now / w);
      let entry = risk.get(subject);
      if (entry !== undefined && entry.expiresAt <= state.now()) entry = undefined;
      const before = entry && {
        ...(entry.ip !== '' ? { lastIp: entry.ip } : {}),
        ...(entry.country !== undefined ? { lastCountry: entry.country, lastCountryAt: entry.countryAt } : {}),
      };
      if (entry === undefined) {
        entry = { seenAt: now, ip: o.ip, devices: new Set(), vi: idx, vn: 0, vp: 0, expiresAt: 0, tokens: new Map() };
        risk.set(subject, entry);
      }

      let knownDevice = false;
      if (o.deviceId !== undefined && o.deviceId !== '') {
        knownDevice = entry.devices.has(o.deviceId);
        if (!knownDevice) {
          if (entry.devices.size >= MAX_KNOWN_DEVICES) {
            const oldest = entry.devices.values().next();
            if (oldest.done !== true) entry.devices.delete(oldest.value);
          }
          entry.devices.add(o.deviceId);
        }
      }

      if (entry.vi >= idx) {
        entry.vn += 1;
      } else {
        entry.vp = entry.vi === idx - 1 ? entry.vn : 0;
        entry.vn = 1;
        entry.vi = idx;
      }
      const velocityCount = slidingCount(now, w, entry.vi * w, entry.vn, entry.vp);

      entry.seenAt = now;
      entry.ip = o.ip;
      if (o.country !== undefined && o.country !== '') {
        entry.country = o.country;
        entry.countryAt = now;
      }
      entry.expiresAt = state.now() + limits.stateTtlMs;

      let tracked = entry.tokens.get(o.tokenId);
      if (tracked !== undefined && tracked.expiresAt <= state.now()) {
        entry.tokens.delete(o.tokenId);
        tracked = undefined;
      }
      if (tracked === undefined) {
        for (const [id, t] of entry.tokens) if (t.expiresAt <= state.now()) entry.tokens.delete(id);
        while (entry.tokens.size >= MAX_TRACKED_TOKENS) {
          const oldest = entry.tokens.keys().next();
          if (oldest.done === true) break;
          entry.tokens.delete(oldest.value);
        }
        tracked = { ips: new Set(), expiresAt: state.now() + limits.tokenIpWindowMs };
        entry.tokens.set(o.tokenId, tracked);
      }
      let distinctIpsForToken: number;
      if (tracked.ips.has(o.ip)) distinctIpsForToken = tracked.ips.size;
      else if (tracked.ips.size >= MAX_IPS_PER_TOKEN) distinctIpsForToken = tracked.ips.size + 1;
      else {
        tracked.ips.add(o.ip);
        distinctIpsForToken = tracked.ips.size;
      }

      return { ...before, knownDevice, firstSeen: before === undefined, velocityCount, distinctIpsForToken };
    },

    async getRisk(subject) {
      state.open();
      const entry = risk.get(subject);
      if (entry === undefined || entry.expiresAt <= state.now()) return undefined;
      let trackedTokens = 0;
      for (const t of entry.tokens.values()) if (t.expiresAt > state.now()) trackedTokens += 1;
      return {
        lastSeenAt: entry.seenAt,
        ...(entry.ip !== '' ? { lastIp: entry.ip } : {}),
        ...(entry.country !== undefined ? { lastCountry: entry.country, lastCountryAt: entry.countryAt } : {}),
        knownDevices: entry.devices.size,
        trackedTokens,
      };
    },

    async deleteRisk(subject) {
      state.open();
      risk.delete(subject);
    },
  };
}
