import { REFUSAL_STATUSES, STATUS_PRECEDENCE } from '../verdict-order.js';

const rankTable = Object.entries(STATUS_PRECEDENCE)
  .map(([status, rank]) => `[${JSON.stringify(status)}]=${rank}`)
  .join(', ');

const refusalTable = [...REFUSAL_STATUSES].map((status) => `[${JSON.stringify(status)}]=true`).join(', ');

/**
 * The watermark of a subject+workflow from the revocations hash (KEYS[3] of the scripts below): the
 * latest `at` of the subject-wide field `*` and the workflow's field. A value that does not decode
 * counts as a watermark in the infinite future (fail closed). Returns nil when there is none.
 */
const WATERMARK_LUA = `
local function watermark(hash, field)
  local wm = nil
  for _, raw in ipairs(redis.call('HMGET', hash, '*', field)) do
    if raw then
      local ok, r = pcall(cjson.decode, raw)
      local at = math.huge
      if ok and type(r) == 'table' and type(r.at) == 'number' then at = r.at end
      if wm == nil or at > wm then wm = at end
    end
  end
  return wm
end
local function revoked(hash, field, created)
  local wm = watermark(hash, field)
  if wm == nil then return false end
  local c = tonumber(created)
  return c == nil or c <= wm
end
`;

/**
 * Ordered verdict write with the revocation check (the Lua twin of `isRevokedSession` +
 * `orderVerdictWrite` + `isStatusRegression`), all in one atomic step on the subject's slot.
 * KEYS: verdict key, workflows set, revocations hash. ARGV: json, eventAt, status, sessionId, ttlMs
 * ('0' = none), channel, invalidation message, workflows-set member, session creation time ('' =
 * unknown), now, regression watermark json, revocations field of the workflow.
 * Returns 'written' | 'stale' | 'duplicate' | 'revoked'.
 */
export const PUT_VERDICT_LUA = `
local rank = { ${rankTable} }
local refusal = { ${refusalTable} }
${WATERMARK_LUA}
local function bytecmp(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then if x < y then return -1 else return 1 end end
  end
  if #a == #b then return 0 elseif #a < #b then return -1 else return 1 end
end
if revoked(KEYS[3], ARGV[12], ARGV[9]) then return 'revoked' end
local prev = nil
local cur = redis.call('GET', KEYS[1])
if cur then
  local ok, old = pcall(cjson.decode, cur)
  if ok and type(old) == 'table' and type(old.eventAt) == 'number'
      and type(old.status) == 'string' and type(old.sessionId) == 'string' then
    prev = old.status
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
if prev == 'Approved' and refusal[ARGV[3]] then
  -- Didit took the approval away: from now on only a session created after this may re-establish it.
  local wm = nil
  local raw = redis.call('HGET', KEYS[3], ARGV[12])
  if raw then
    local ok, r = pcall(cjson.decode, raw)
    if ok and type(r) == 'table' and type(r.at) == 'number' then wm = r.at else wm = math.huge end
  end
  if wm == nil or wm < tonumber(ARGV[10]) then redis.call('HSET', KEYS[3], ARGV[12], ARGV[11]) end
end
redis.call('PUBLISH', ARGV[6], ARGV[7])
return 'written'
`;

/**
 * Revocation: records the watermark (keeping a later one already stored), deletes the verdict(s) and the
 * pending session(s), publishes an invalidation, all atomically so no write slips in between.
 * KEYS: workflows set, revocations hash. ARGV: verdict key prefix of the subject, pending key prefix,
 * channel, message, revocations field ('*' = whole subject), at, watermark json, workflows-set member of
 * the one workflow ('' = every workflow in the set), then extra workflows-set members whose pending
 * session to delete. Keys built from the prefixes share the subject's hash tag, so they are on the
 * script's slot even on Cluster. Returns a flat array of 'v', verdict json, 'p', pending json…
 */
export const REVOKE_VERDICTS_LUA = `
local out = {}
local members
if ARGV[8] ~= '' then
  members = { ARGV[8] }
else
  members = redis.call('SMEMBERS', KEYS[1])
end
local function take(kind, key)
  local value = redis.call('GET', key)
  if value then
    out[#out + 1] = kind
    out[#out + 1] = value
    redis.call('DEL', key)
  end
end
local seen = {}
local function pending(m)
  if seen[m] then return end
  seen[m] = true
  take('p', ARGV[2] .. m)
end
for _, m in ipairs(members) do
  take('v', ARGV[1] .. m)
  redis.call('SREM', KEYS[1], m)
  pending(m)
end
for i = 9, #ARGV do pending(ARGV[i]) end
local keep = false
local raw = redis.call('HGET', KEYS[2], ARGV[5])
if raw then
  local ok, r = pcall(cjson.decode, raw)
  keep = not (ok and type(r) == 'table' and type(r.at) == 'number') or r.at >= tonumber(ARGV[6])
end
if not keep then redis.call('HSET', KEYS[2], ARGV[5], ARGV[7]) end
redis.call('PUBLISH', ARGV[3], ARGV[4])
return out
`;

/**
 * Pending session write unless a revocation watermark is at or after its creation time.
 * KEYS: pending key, revocations hash. ARGV: json, ttlMs, createdAt, revocations field of the workflow.
 * Returns 'stored' | 'revoked'.
 */
export const PUT_PENDING_LUA = `
${WATERMARK_LUA}
if revoked(KEYS[2], ARGV[4], ARGV[3]) then return 'revoked' end
redis.call('SET', KEYS[1], ARGV[1], 'PX', tonumber(ARGV[2]))
return 'stored'
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
