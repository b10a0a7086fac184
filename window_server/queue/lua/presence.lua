-- ------------------------------------------------------------------------- presence

local function agent_key(aid)
  local k = key('agent', aid)
  if redis.call('EXISTS', k) == 0 then fail(E.unknown_agent, 'no specialist ' .. aid .. ' is signed in') end
  return k
end

-- Joining the pools is written when the call ends or before a pool is read, so a specialist
-- made available and offered the next session in the same call never touches them.
local function join_pools(aid, idle_since) PENDING[aid] = idle_since end

local function leave_pools(aid)
  if PENDING[aid] then PENDING[aid] = nil; return end
  local p = profile(aid)
  for _, av in ipairs(p.avkeys) do redis.call('ZREM', av, aid) end
  redis.call('ZREM', key('centre_available', p.centre), aid)
end

local function flush_pools()
  for aid, idle_since in pairs(PENDING) do
    local p = profile(aid)
    for _, av in ipairs(p.avkeys) do redis.call('ZADD', av, num(idle_since), aid) end
    redis.call('ZADD', key('centre_available', p.centre), num(idle_since), aid)
  end
  PENDING = {}
end

local function status_of(aid)
  local s = STATUS[aid]
  if s == nil then
    s = hget(key('agent', aid), 'status') or false
    STATUS[aid] = s
  end
  return s or nil
end

-- The one place presence changes: pools, wrap-up timer, log and effect follow from it.
local function set_presence(aid, status, now, why, sid)
  local k = key('agent', aid)
  local old = status_of(aid) or P.OFFLINE
  if old == P.AVAILABLE then leave_pools(aid) end
  if old == P.WRAP_UP then redis.call('ZREM', K.wrap_up, aid) end -- its timer, if any
  local still_idle = old == P.AVAILABLE or old == P.OFFERED -- idle since before this change
  if status == P.AVAILABLE and not still_idle then
    redis.call('HSET', k, 'status', status, 'since', num(now), 'idle_since', num(now))
  else
    redis.call('HSET', k, 'status', status, 'since', num(now))
  end
  if status == P.AVAILABLE then
    join_pools(aid, still_idle and tonumber(hget(k, 'idle_since') or now) or now)
  end
  STATUS[aid] = status
  if old ~= status then
    local centre = centre_of(aid)
    emit({aid = aid, act = 'presence', from = old, to = status, why = why or '', ts = now,
          sid = sid or '', centre = centre})
    effect({kind = 'presence', agent = aid, status = status, from = old, centre = centre})
  end
end
