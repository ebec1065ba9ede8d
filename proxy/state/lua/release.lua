-- release (schema v1): give back a concurrency lease and the probe slot it may hold.
-- Replicas are told (waiting requests wake up and try again) only when someone can be
-- waiting for this: the account was at its concurrency limit, or its probe slot is free.
-- KEYS: leases, probe.  ARGV: lease token, channel, message, concurrency limit (0 = none).
local before = redis.call('ZCARD', KEYS[1])
redis.call('ZREM', KEYS[1], ARGV[1])
local probe = redis.call('GET', KEYS[2]) == ARGV[1]
if probe then redis.call('DEL', KEYS[2]) end
local limit = tonumber(ARGV[4])
if probe or (limit > 0 and before >= limit) then
  redis.call('PUBLISH', ARGV[2], ARGV[3])
end
return 1
