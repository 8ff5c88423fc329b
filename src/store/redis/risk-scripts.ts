/**
 * Records one request in a subject's risk state and answers the state before it, in one round trip.
 * Every key shares the subject's hash tag, so the script stays on one Cluster slot (the evicted token
 * keys it builds from `ARGV[12]` carry the same tag).
 *
 * KEYS: state hash, devices set, tokens zset, this token's address set.
 * ARGV: now, ip, country ('' = none), deviceId ('' = none), token member, stateTtlMs, velocityWindowMs,
 * tokenIpWindowMs, maxDevices, maxIpsPerToken, maxTokens, token-key prefix.
 * Returns { lastIp, lastCountry, lastCountryAt, knownDevice 0|1, firstSeen 0|1, velocityCount, distinctIps }
 * with '' for absent strings.
 */
export const RECORD_RISK_LUA = `
local now = tonumber(ARGV[1])
local stateTtl = ARGV[6]
local h = redis.call('HMGET', KEYS[1], 'seen', 'ip', 'country', 'countryAt', 'vi', 'vn', 'vp')
local firstSeen = 0
if not h[1] then firstSeen = 1 end

local known = 0
if ARGV[4] ~= '' then
  if redis.call('SISMEMBER', KEYS[2], ARGV[4]) == 1 then
    known = 1
  else
    if redis.call('SCARD', KEYS[2]) >= tonumber(ARGV[9]) then redis.call('SPOP', KEYS[2]) end
    redis.call('SADD', KEYS[2], ARGV[4])
  end
end
redis.call('PEXPIRE', KEYS[2], stateTtl)

local w = tonumber(ARGV[7])
local idx = math.floor(now / w)
local vi = tonumber(h[5])
local vn = tonumber(h[6]) or 0
local vp = tonumber(h[7]) or 0
if vi == nil then
  vi = idx; vn = 1; vp = 0
elseif vi >= idx then
  vn = vn + 1
elseif vi == idx - 1 then
  vp = vn; vn = 1; vi = idx
else
  vp = 0; vn = 1; vi = idx
end
local overlap = (w - (now - vi * w)) / w
if overlap < 0 then overlap = 0 elseif overlap > 1 then overlap = 1 end
local velocity = vn + math.floor(vp * overlap)

redis.call('HSET', KEYS[1], 'seen', ARGV[1], 'ip', ARGV[2], 'vi', string.format('%d', vi), 'vn', vn, 'vp', vp)
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'country', ARGV[3], 'countryAt', ARGV[1]) end
redis.call('PEXPIRE', KEYS[1], stateTtl)

local ips
local n = redis.call('SCARD', KEYS[4])
if redis.call('SISMEMBER', KEYS[4], ARGV[2]) == 1 then
  ips = n
elseif n >= tonumber(ARGV[10]) then
  ips = n + 1
else
  redis.call('SADD', KEYS[4], ARGV[2])
  ips = n + 1
  if n == 0 then
    local window = tonumber(ARGV[8])
    redis.call('PEXPIRE', KEYS[4], window)
    redis.call('ZADD', KEYS[3], now, ARGV[5])
    redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - window)
    while redis.call('ZCARD', KEYS[3]) > tonumber(ARGV[11]) do
      local old = redis.call('ZPOPMIN', KEYS[3])
      if old[1] then redis.call('DEL', ARGV[12] .. old[1]) end
    end
    redis.call('PEXPIRE', KEYS[3], window)
  end
end

return { h[2] or '', h[3] or '', h[4] or '', known, firstSeen, velocity, ips }
`;

/**
 * A subject's risk state for the admin API. KEYS: state hash, devices set, tokens zset.
 * Returns { seen, ip, country, countryAt, deviceCount, tokenCount } ('' for absent strings).
 */
export const GET_RISK_LUA = `
local h = redis.call('HMGET', KEYS[1], 'seen', 'ip', 'country', 'countryAt')
return { h[1] or '', h[2] or '', h[3] or '', h[4] or '', redis.call('SCARD', KEYS[2]), redis.call('ZCARD', KEYS[3]) }
`;

/**
 * Forgets a subject's risk state, including every tracked token's address set.
 * KEYS: state hash, devices set, tokens zset. ARGV: token-key prefix.
 */
export const DELETE_RISK_LUA = `
for _, m in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do redis.call('DEL', ARGV[1] .. m) end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
return 1
`;
