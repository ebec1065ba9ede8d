-- Store a runtime client record by name and index it by its key digest; the old
-- digest of that name stops matching in the same step (rotation is atomic).
-- KEYS[1] = records hash (name -> json), KEYS[2] = index hash (digest -> name)
-- ARGV[1] = name, ARGV[2] = json, ARGV[3] = digest, ARGV[4] = '1': only if the name is free
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old then
  if ARGV[4] == '1' then
    return 0
  end
  local digest = cjson.decode(old)['digest']
  if digest then
    redis.call('HDEL', KEYS[2], digest)
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[3], ARGV[1])
return 1
