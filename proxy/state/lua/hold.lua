-- hold (schema v1): a concurrency lease on one account whatever its state, for an
-- account test: only its max_concurrency is respected (no bucket, no probe slot).
-- KEYS: leases.  ARGV: max concurrency (0 = unlimited), lease ttl (ms), token.
-- Returns the account's live lease count with this one, or -1 when it is full.
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local clock_ms = math.floor(tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000)
local max, ttl_ms = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', clock_ms)
if max > 0 and redis.call('ZCARD', KEYS[1]) >= max then return -1 end
redis.call('ZADD', KEYS[1], clock_ms + ttl_ms, ARGV[3])
redis.call('PEXPIRE', KEYS[1], 2 * ttl_ms)
return redis.call('ZCARD', KEYS[1])
