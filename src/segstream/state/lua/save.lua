-- One shard's save. KEYS: segcount, stats, hist, the due zset of releases before 2026-12-03
--   (legacy), flow (this wall minute's transitions), duemin (due slot -> its earliest due
--   time), then per customer its key and its due slot's zset (all of one shard: one hash
--   tag, one slot).
-- ARGV: bytes before the customer id in a customer key, then per customer: header, blob,
--   moves, events, due, due slot. events = "topic=n,topic=n" applied events per input topic
--   (counted in stats under events:topic), or empty.
--   moves = "kind\tname\told\tnew\n" lines; kind s = segment (count in segcount under
--   name:segment), h = histogram bucket (count in hist under name:bucket); old may be empty.
--   due = event time (µs) at which the customer must be re-scored, or empty: unchanged;
--   the due slot zset's member is the customer id (the key without its head). A slot
--   written to has its earliest due time recomputed into duemin; a customer still in the
--   legacy zset leaves it when it gets a due time in its slot.
-- Returns the 1-based positions (among the customers) that conflicted.
local head = tonumber(ARGV[1])
local i = 2
local conflicts = {}
local events = {}
local created = 0
local function move(key, field, by)
  if redis.call('HINCRBY', key, field, by) == 0 then redis.call('HDEL', key, field) end
end
local flows = 0
local legacy = redis.call('EXISTS', KEYS[4]) == 1
local slots = {}
for k = 7, #KEYS, 2 do
  local expect, blob, moves, n, due, slot = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5]
  i = i + 6
  if redis.call('GETRANGE', KEYS[k], 0, 7) ~= expect then
    conflicts[#conflicts + 1] = (k - 5) / 2
  else
    redis.call('SET', KEYS[k], blob)
    if expect == '' then created = created + 1 end
    for kind, name, old, new in string.gmatch(moves, '(%a)\t([^\t\n]*)\t([^\t\n]*)\t([^\t\n]*)\n') do
      local h = KEYS[1]
      if kind == 'h' then h = KEYS[3] end
      if old ~= '' then move(h, name .. ':' .. old, -1) end
      if new ~= '' then move(h, name .. ':' .. new, 1) end
      if kind == 's' then
        redis.call('HINCRBY', KEYS[5], name .. '\t' .. old .. '\t' .. new, 1)
        flows = flows + 1
      end
    end
    if due ~= '' then
      local id = string.sub(KEYS[k], head + 1)
      redis.call('ZADD', KEYS[k + 1], due, id)
      slots[KEYS[k + 1]] = slot
      if legacy then redis.call('ZREM', KEYS[4], id) end
    end
    for topic, c in string.gmatch(n, '([^=,]+)=(%d+)') do events[topic] = (events[topic] or 0) + tonumber(c) end
  end
end
for key, slot in pairs(slots) do
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  redis.call('ZADD', KEYS[6], first[2], slot)
end
if flows > 0 then redis.call('EXPIRE', KEYS[5], FLOW_TTL) end
if created > 0 then redis.call('HINCRBY', KEYS[2], 'customers', created) end
for topic, c in pairs(events) do redis.call('HINCRBY', KEYS[2], 'events:' .. topic, c) end
return conflicts
