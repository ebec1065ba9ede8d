-- Forget a runtime client and its key digest.
-- KEYS[1] = records hash, KEYS[2] = index hash; ARGV[1] = name
local old = redis.call('HGET', KEYS[1], ARGV[1])
if not old then
  return 0
end
local digest = cjson.decode(old)['digest']
if digest then
  redis.call('HDEL', KEYS[2], digest)
end
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
