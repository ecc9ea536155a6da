#!lua flags=no-writes
-- Customer documents' reads in one command (a single Redis, primary or replica; a cluster
-- pipelines the same reads instead: the keys hash to different slots).
-- KEYS: the customers' keys (ARGV[1] of them), the clock hash, the heartbeat, then the
-- model snapshots. Returns the customers' blobs, the global clock, the heartbeat and the
-- snapshots' blobs, in KEYS order (false: missing).
local n = tonumber(ARGV[1])
local out = {}
for i = 1, n do
  out[i] = redis.call('GET', KEYS[i])
end
out[n + 1] = redis.call('HGET', KEYS[n + 1], 'global')
for i = n + 2, #KEYS do
  out[i] = redis.call('GET', KEYS[i])
end
return out
