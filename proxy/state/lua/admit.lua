-- admit (schema v1): one admission, atomically, on Redis's own clock.
-- Checks the client bucket, walks the candidates in strategy order and takes, for the
-- first usable one, its bucket token, a concurrency lease and (after a rest) the probe
-- slot, together with the client's token -- or takes nothing at all.
--
-- KEYS: client bucket, cursor, then per candidate: status, probe, leases, bucket; then,
--       for a sticky conversation, its key (holding the status key of its account).
-- ARGV: now (gateway epoch s), client take (0/1), client rate, client burst (rate ""
--       for no limit), strategy (round_robin | least_busy | fixed), lease ttl (ms),
--       lease token, candidate count, cycle (comma-separated 1-based indices), failover
--       (1: a retry after another account, which does not move the cursor), then per
--       candidate: excluded (0/1), rate ("" for no limit), burst, max concurrency
--       (0 = unlimited), weight; then the sticky ttl in ms ("" or absent: not sticky).
-- Returns JSON: {lease, probe, count, client} or {refusals, client} or {client, wait}.
if redis.replicate_commands then redis.replicate_commands() end

local t = redis.call('TIME')
local clock = tonumber(t[1]) + tonumber(t[2]) / 1000000
local clock_ms = math.floor(clock * 1000)
local now = tonumber(ARGV[1])
local ttl_ms = tonumber(ARGV[6])
local token = ARGV[7]
local n = tonumber(ARGV[8])

local function bucket_tokens(key, rate_s, burst)
  local h = redis.call('HMGET', key, 'tokens', 'stamp', 'rate', 'burst')
  local tokens, stamp = tonumber(h[1]), tonumber(h[2])
  if tokens == nil or stamp == nil or h[3] ~= rate_s or tonumber(h[4]) ~= burst then
    return burst -- a new bucket, or its limit changed: full
  end
  if clock > stamp then
    tokens = math.min(burst, tokens + (clock - stamp) * tonumber(rate_s))
  end
  return tokens
end

local function bucket_store(key, rate_s, burst, tokens)
  redis.call('HSET', key, 'tokens', string.format('%.9f', tokens),
    'stamp', string.format('%.6f', clock), 'rate', rate_s, 'burst', burst)
  -- A missing bucket reads as full, so it may vanish once it would be full again.
  local fill = (burst - tokens) / tonumber(rate_s)
  redis.call('PEXPIRE', key, math.ceil(math.max(2 * fill, 60) * 1000))
end

-- The client's bucket.
local client_rate, client_burst = ARGV[3], tonumber(ARGV[4])
local client_left = nil -- tokens before the take, when this admission takes one
local result = {}
local function client_window(tokens)
  return {client_burst, math.floor(tokens), (client_burst - tokens) / tonumber(client_rate)}
end
if client_rate ~= '' then
  local tokens = bucket_tokens(KEYS[1], client_rate, client_burst)
  result.client = client_window(tokens)
  if ARGV[2] == '1' then
    if tokens < 1 then
      result.wait = (1 - tokens) / tonumber(client_rate)
      return cjson.encode(result)
    end
    client_left = tokens
  end
end

-- Candidates and their live lease counts (expired leases pruned first).
local cand = {}
for i = 1, n do
  local a = 11 + (i - 1) * 5
  local k = 2 + (i - 1) * 4
  cand[i] = {
    excluded = ARGV[a] == '1', rate = ARGV[a + 1], burst = tonumber(ARGV[a + 2]),
    max = tonumber(ARGV[a + 3]), weight = tonumber(ARGV[a + 4]),
    status = KEYS[k + 1], probe = KEYS[k + 2], leases = KEYS[k + 3], bucket = KEYS[k + 4],
  }
end
local function count(i)
  if cand[i].count == nil then
    redis.call('ZREMRANGEBYSCORE', cand[i].leases, '-inf', clock_ms)
    cand[i].count = redis.call('ZCARD', cand[i].leases)
  end
  return cand[i].count
end

-- Order: the weighted cycle rotated by the cursor, each candidate once.
local cycle = {}
for idx in string.gmatch(ARGV[9], '%d+') do cycle[#cycle + 1] = tonumber(idx) end
local strategy = ARGV[5]
local cursor = tonumber(redis.call('GET', KEYS[2]) or '0')
local start = 0
if strategy ~= 'fixed' and #cycle > 0 then start = cursor % #cycle end
local order, seen = {}, {}
for j = 0, #cycle - 1 do
  local i = cycle[(start + j) % #cycle + 1]
  if not seen[i] then seen[i] = true; order[#order + 1] = i end
end
if strategy == 'least_busy' and #order > 1 then
  -- Stable insertion sort by load per weight: ties keep the rotation.
  for p = 2, #order do
    local i = order[p]
    local load = count(i) / cand[i].weight
    local q = p - 1
    while q >= 1 and count(order[q]) / cand[order[q]].weight > load do
      order[q + 1] = order[q]; q = q - 1
    end
    order[q + 1] = i
  end
end

-- A sticky conversation tries its account first (while usable, the loop below decides).
local sticky_ttl = tonumber(ARGV[11 + n * 5] or '')
local sticky_key = KEYS[3 + n * 4]
if sticky_ttl ~= nil then
  local held = redis.call('GET', sticky_key)
  if held then
    for p = 2, #order do
      if cand[order[p]].status == held then
        table.insert(order, 1, table.remove(order, p))
        break
      end
    end
  end
end

local refusals = {}
local function refuse(i, blocker, ready_at)
  refusals[#refusals + 1] = {id = i, blocker = blocker, ready_at = ready_at}
end

for _, i in ipairs(order) do
  local c = cand[i]
  if not c.excluded then
    local st = redis.call('HMGET', c.status, 'state', 'until')
    local state = st[1] or 'active'
    local until_ = tonumber(st[2])
    local timed = state == 'cooling' or state == 'exhausted'
    local usable = state == 'active' or (timed and until_ ~= nil and until_ <= now)
    local tokens = nil
    if state == 'disabled' or state == 'invalid' then
      refuse(i, state)
    elseif not usable then
      refuse(i, state == 'exhausted' and 'exhausted' or 'cooling', until_)
    elseif timed and redis.call('EXISTS', c.probe) == 1 then
      refuse(i, 'probing')
    elseif c.max > 0 and count(i) >= c.max then
      refuse(i, 'busy')
    else
      if c.rate ~= '' then tokens = bucket_tokens(c.bucket, c.rate, c.burst) end
      if tokens ~= nil and tokens < 1 then
        refuse(i, 'rate_limited', now + (1 - tokens) / tonumber(c.rate))
      else
        -- Take everything: probe slot, account token, lease, client token, cursor.
        if timed then redis.call('SET', c.probe, token, 'PX', ttl_ms) end
        if tokens ~= nil then bucket_store(c.bucket, c.rate, c.burst, tokens - 1) end
        redis.call('ZADD', c.leases, clock_ms + ttl_ms, token)
        redis.call('PEXPIRE', c.leases, 2 * ttl_ms)
        if client_left ~= nil then
          bucket_store(KEYS[1], client_rate, client_burst, client_left - 1)
          result.client = client_window(client_left - 1)
        end
        if ARGV[10] == '0' then redis.call('INCR', KEYS[2]) end -- failover keeps the cursor
        if sticky_ttl ~= nil then redis.call('SET', sticky_key, c.status, 'PX', sticky_ttl) end
        result.lease = i
        result.probe = timed
        result.count = redis.call('ZCARD', c.leases)
        return cjson.encode(result)
      end
    end
  end
end
result.refusals = refusals
return cjson.encode(result)
