-- One shard's save. KEYS: segcount, stats, hist, due, flow (this wall minute's transitions),
--   then the customers (all of one shard: one hash tag, one slot).
-- ARGV: bytes before the customer id in a customer key, then per customer: header, blob,
--   moves, events, due. events = "topic=n,topic=n" applied events per input topic (counted
--   in stats under events:topic), or empty.
--   moves = "kind\tname\told\tnew\n" lines; kind s = segment (count in segcount under
--   name:segment), h = histogram bucket (count in hist under name:bucket); old may be empty.
--   due = event time (µs) at which the customer must be re-scored, or empty: unchanged;
--   the due zset's member is the customer id (the key without its head).
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
for k = 6, #KEYS do
  local expect, blob, moves, n, due = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  i = i + 5
  if redis.call('GETRANGE', KEYS[k], 0, 7) ~= expect then
    conflicts[#conflicts + 1] = k - 5
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
    if due ~= '' then redis.call('ZADD', KEYS[4], due, string.sub(KEYS[k], head + 1)) end
    for topic, c in string.gmatch(n, '([^=,]+)=(%d+)') do events[topic] = (events[topic] or 0) + tonumber(c) end
  end
end
if flows > 0 then redis.call('EXPIRE', KEYS[5], FLOW_TTL) end
if created > 0 then redis.call('HINCRBY', KEYS[2], 'customers', created) end
for topic, c in pairs(events) do redis.call('HINCRBY', KEYS[2], 'events:' .. topic, c) end
return conflicts
