-- Budget admission: take `take` from a counter only if every field is under its limit.
-- KEYS[1] = the counter hash
-- ARGV[1] = expire at (epoch seconds), ARGV[2] = number of limits, then (field, limit)
--   pairs, then (field, amount) pairs for the rest of ARGV
-- Returns '' when admitted, else the name of the first field at its limit.
local n = tonumber(ARGV[2])
for i = 0, n - 1 do
  local field = ARGV[3 + i * 2]
  local used = tonumber(redis.call('HGET', KEYS[1], field) or '0')
  if used >= tonumber(ARGV[4 + i * 2]) then
    return field
  end
end
for i = 3 + n * 2, #ARGV, 2 do
  redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('EXPIREAT', KEYS[1], ARGV[1])
return ''
