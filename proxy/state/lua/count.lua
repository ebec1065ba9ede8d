-- count (schema v1): live leases per account, as admission counts them (read only).
-- KEYS: one leases key per account.  Returns one count per key, in order.
local t = redis.call('TIME')
local clock_ms = math.floor(tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000)
local counts = {}
for i = 1, #KEYS do
  counts[i] = redis.call('ZCOUNT', KEYS[i], '(' .. clock_ms, '+inf')
end
return counts
