import { STATUS_PRECEDENCE } from './verdict-order.js';

const rankTable = Object.entries(STATUS_PRECEDENCE)
  .map(([status, rank]) => `[${JSON.stringify(status)}]=${rank}`)
  .join(', ');

/**
 * Ordered verdict write (the Lua twin of `orderVerdictWrite`).
 * KEYS: verdict key, workflows set. ARGV: json, eventAt, status, sessionId, ttlMs ('0' = none),
 * channel, invalidation message, workflows-set member. Returns 'written' | 'stale' | 'duplicate'.
 */
export const PUT_VERDICT_LUA = `
local rank = { ${rankTable} }
local function bytecmp(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then if x < y then return -1 else return 1 end end
  end
  if #a == #b then return 0 elseif #a < #b then return -1 else return 1 end
end
local cur = redis.call('GET', KEYS[1])
if cur then
  local ok, old = pcall(cjson.decode, cur)
  if ok and type(old) == 'table' and type(old.eventAt) == 'number'
      and type(old.status) == 'string' and type(old.sessionId) == 'string' then
    local at = tonumber(ARGV[2])
    if at < old.eventAt then return 'stale' end
    if at == old.eventAt then
      if old.status == ARGV[3] and old.sessionId == ARGV[4] then return 'duplicate' end
      local d = (rank[ARGV[3]] or 0) - (rank[old.status] or 0)
      if d < 0 then return 'stale' end
      if d == 0 and bytecmp(ARGV[4], old.sessionId) <= 0 then return 'stale' end
    end
  end
end
local ttl = tonumber(ARGV[5])
if ttl > 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
else
  redis.call('SET', KEYS[1], ARGV[1])
end
redis.call('SADD', KEYS[2], ARGV[8])
redis.call('PUBLISH', ARGV[6], ARGV[7])
return 'written'
`;

/**
 * Revocation. KEYS: workflows set, verdict key (only with a workflow). ARGV: verdict key prefix of the
 * subject, channel, message, workflows-set member ('' = all of the subject's verdicts).
 * The all-workflows branch builds keys from set members; they share the subject's hash tag, so they are
 * on the script's slot even on Cluster, and doing it in one script keeps a concurrent write from slipping
 * between listing and deleting.
 */
export const DELETE_VERDICTS_LUA = `
if ARGV[4] ~= '' then
  redis.call('DEL', KEYS[2])
  redis.call('SREM', KEYS[1], ARGV[4])
else
  local members = redis.call('SMEMBERS', KEYS[1])
  for _, m in ipairs(members) do redis.call('DEL', ARGV[1] .. m) end
  redis.call('DEL', KEYS[1])
end
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
`;

/**
 * All verdicts of a subject; drops set members whose verdict expired, atomically so a concurrent write of
 * that workflow is never unlisted. KEYS: workflows set. ARGV: verdict key prefix of the subject.
 * Returns a flat array: member, json, member, json…
 */
export const LIST_VERDICTS_LUA = `
local out = {}
local members = redis.call('SMEMBERS', KEYS[1])
for _, m in ipairs(members) do
  local v = redis.call('GET', ARGV[1] .. m)
  if v then
    out[#out + 1] = m
    out[#out + 1] = v
  else
    redis.call('SREM', KEYS[1], m)
  end
end
return out
`;

/** Step-up counter: INCR and start the window on the first count. KEYS: counter. ARGV: windowMs. */
export const COUNT_STEP_UP_LUA = `
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1], 'NX')
return n
`;

/** Compare-and-delete lock release. KEYS: lock. ARGV: token. Returns 1 when released. */
export const RELEASE_LOCK_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/** Removes an index member only if its score is unchanged (not re-added meanwhile). KEYS: index. ARGV: member, score. */
export const UNINDEX_IF_SCORE_LUA = `
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if s and tonumber(s) == tonumber(ARGV[2]) then return redis.call('ZREM', KEYS[1], ARGV[1]) end
return 0
`;
