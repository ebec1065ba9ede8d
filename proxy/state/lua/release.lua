-- release (schema v1): give back concurrency leases and the probe slots they may hold.
-- Replicas are told (waiting requests wake up and try again) only when someone can be
-- waiting for this: the account was at its concurrency limit, or its probe slot is free.
-- KEYS: per lease: leases, probe.  ARGV: channel, then per lease: token, concurrency
-- limit (0 = none), message.
for i = 1, #KEYS / 2 do
  local leases, probe = KEYS[i * 2 - 1], KEYS[i * 2]
  local token, limit, message = ARGV[i * 3 - 1], tonumber(ARGV[i * 3]), ARGV[i * 3 + 1]
  local before = redis.call('ZCARD', leases)
  redis.call('ZREM', leases, token)
  local probing = redis.call('GET', probe) == token
  if probing then redis.call('DEL', probe) end
  if probing or (limit > 0 and before >= limit) then
    redis.call('PUBLISH', ARGV[1], message)
  end
end
return #KEYS / 2
