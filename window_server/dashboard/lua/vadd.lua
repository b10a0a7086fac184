-- Add a vector of counts ("n,n,…") to a hash field; a vector back at all zeros is removed.
local function vadd(k, f, delta)
  local a = {}
  local cur = redis.call('HGET', k, f)
  if cur then for x in string.gmatch(cur, '[^,]+') do a[#a + 1] = tonumber(x) end end
  local i = 0
  for x in string.gmatch(delta, '[^,]+') do i = i + 1; a[i] = (a[i] or 0) + tonumber(x) end
  local n = #a
  while n > 0 and a[n] == 0 do a[n] = nil; n = n - 1 end
  if n == 0 then redis.call('HDEL', k, f); return end
  local parts = {}
  for j = 1, n do parts[j] = string.format('%d', a[j]) end
  redis.call('HSET', k, f, table.concat(parts, ','))
end
