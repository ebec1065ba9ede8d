-- The record of the client whose key has this digest, in one round trip.
-- KEYS[1] = records hash, KEYS[2] = index hash; ARGV[1] = digest
local name = redis.call('HGET', KEYS[2], ARGV[1])
if not name then
  return false
end
return redis.call('HGET', KEYS[1], name)
