#!lua flags=no-writes
-- The customers due in some due slots of one shard, in one call (the sweep's second read).
-- KEYS: due slot zsets of one shard (one hash tag). ARGV: now (µs), the most to take per slot.
-- Returns id, due time, id, due time, ... of every slot's members due by now, earliest
-- first within each slot.
local out = {}
for _, key in ipairs(KEYS) do
  local got = redis.call('ZRANGEBYSCORE', key, '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, ARGV[2])
  for i = 1, #got do out[#out + 1] = got[i] end
end
return out
