-- The one write of a consumer's batch (after vadd.lua). ARGV[1] is the group, ARGV[2] the plan
-- (JSON); KEYS: the stream, the presence index and the state counts. Nothing is written unless
-- every record is still the one read.
local plan = cjson.decode(ARGV[2])
for _, c in ipairs(plan.cas) do
  local cur = redis.call('GET', c[1])
  if (cur or '') ~= c[2] then return 0 end
end
for _, s in ipairs(plan.set) do redis.call('SET', s[1], s[2], 'PX', s[3]) end
-- a count back at zero is removed: the hashes hold only what is there
for _, h in ipairs(plan.incr) do vadd(h[1], h[2], h[3]) end
for _, z in ipairs(plan.zadd) do redis.call('ZADD', z[1], z[2], z[3]) end
for _, h in ipairs(plan.hset) do redis.call('HSET', h[1], unpack(h[2])) end
for _, s in ipairs(plan.state) do
  if redis.call('HINCRBY', KEYS[3], s[1], s[2]) == 0 then redis.call('HDEL', KEYS[3], s[1]) end
end
local function split(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
for _, p in ipairs(plan.pres) do
  local cur = redis.call('HGET', KEYS[2], p[1])
  local newer = true
  if cur then
    local ok, old = pcall(cjson.decode, cur)
    if ok and old.id then
      local am, as = split(p[2])
      local bm, bs = split(old.id)
      newer = am > bm or (am == bm and as > bs)
    end
  end
  if newer then redis.call('HSET', KEYS[2], p[1], p[3]) end
end
for _, x in ipairs(plan.expire or {}) do redis.call('PEXPIRE', x[1], x[2]) end
if #plan.ack > 0 then redis.call('XACK', KEYS[1], ARGV[1], unpack(plan.ack)) end
return 1
