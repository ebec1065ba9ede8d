-- update (schema v1): compare-and-set of one account's status on its version, so a
-- read-modify-write done in Python is atomic across replicas; publishes the change.
-- KEYS: status, account set.  ARGV: expected version, state, until ("" = none), doc
-- (JSON), account id, channel, message, least new version (versions never go back, even
-- when a replica re-writes state that a restarted Redis lost).
-- Returns the new version, or -1 on conflict.
local ver = tonumber(redis.call('HGET', KEYS[1], 'ver') or '0')
if ver ~= tonumber(ARGV[1]) then return -1 end
ver = math.max(ver + 1, tonumber(ARGV[8]))
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'until', ARGV[3], 'doc', ARGV[4], 'ver', ver)
redis.call('SADD', KEYS[2], ARGV[5])
redis.call('PUBLISH', ARGV[6], ARGV[7])
return ver
