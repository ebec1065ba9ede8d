-- release (schema v1): give back a concurrency lease and the probe slot it may hold,
-- then tell every replica (waiting requests wake up and try again).
-- KEYS: leases, probe.  ARGV: lease token, channel, message.
redis.call('ZREM', KEYS[1], ARGV[1])
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
