-- refresh (schema v1): push back the expiry of leases (and probe slots) still in use.
-- A lease that has already expired is not revived: its slot may be someone else's now.
-- KEYS: per lease: leases, probe.  ARGV: ttl (ms), then one token per lease.
-- Returns how many leases were still alive.
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local clock_ms = math.floor(tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
local alive = 0
for i = 2, #ARGV do
  local leases, probe, token = KEYS[(i - 2) * 2 + 1], KEYS[(i - 2) * 2 + 2], ARGV[i]
  local score = tonumber(redis.call('ZSCORE', leases, token))
  if score ~= nil and score > clock_ms then
    redis.call('ZADD', leases, 'XX', clock_ms + ttl, token)
    redis.call('PEXPIRE', leases, 2 * ttl)
    alive = alive + 1
  end
  if redis.call('GET', probe) == token then redis.call('PEXPIRE', probe, ttl) end
end
return alive
