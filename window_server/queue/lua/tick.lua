-- ------------------------------------------------------------------------------ tick

-- Every heartbeat in ``z`` older than ``now`` becomes ``now`` (a forgiving tick, below).
local function renew_heartbeats(z, now)
  while true do
    local old = redis.call('ZRANGE', z, '-inf', '(' .. num(now), 'BYSCORE', 'LIMIT', 0, 500)
    if #old == 0 then return end
    local args = {}
    local score = num(now)
    for i, m in ipairs(old) do args[2 * i - 1], args[2 * i] = score, m end
    redis.call('ZADD', z, unpack(args))
  end
end

-- Everything that happens because time passed. Bounded per call; call it again while busy.
register('rw_tick', function(a, now, cfg)
  local limit = a.limit or 100
  local done = 0
  if a.forgive then
    -- The first tick of a node after a Redis outage: heartbeats nobody could write while Redis
    -- was down are not lost presence. The node has re-asserted its own parties; every other
    -- node gets one full TTL to do the same. Who really left is found a TTL later, below.
    renew_heartbeats(K.heartbeats, now)
    renew_heartbeats(K.booth_heartbeats, now)
  end
  -- the dead first, so nothing below is offered to a specialist who is gone
  for _, aid in ipairs(redis.call('ZRANGE', K.heartbeats, '-inf', num(now - cfg.heartbeat_ttl_ms), 'BYSCORE', 'LIMIT', 0, limit)) do
    agent_lost(aid, now, cfg, 'heartbeat stopped')
    done = done + 1
  end
  for _, sid in ipairs(redis.call('ZRANGE', K.offers, '-inf', num(now), 'BYSCORE', 'LIMIT', 0, limit)) do
    local aid = hget(key('session', sid), 'offer_agent') or ''
    if aid ~= '' then offer_refused(sid, aid, A.OFFER_TIMEOUT, 'no answer', now, cfg) else redis.call('ZREM', K.offers, sid) end
    done = done + 1
  end
  for _, booth in ipairs(redis.call('ZRANGE', K.booth_heartbeats, '-inf', num(now - cfg.heartbeat_ttl_ms), 'BYSCORE', 'LIMIT', 0, limit)) do
    redis.call('ZREM', K.booth_heartbeats, booth)
    local sid = redis.call('GET', key('booth_session', booth))
    if sid then
      local state = hget(key('session', sid), 'state')
      if T[state] and T[state][A.MEDIA_LOST] then
        media_lost(sid, 'booth', 'system', 'booth silent', now, cfg)
      end
    end
    done = done + 1
  end
  local due = redis.call('ZRANGE', K.rematch, '-inf', num(now), 'BYSCORE', 'LIMIT', 0, limit)
  local order = {}
  for _, sid in ipairs(due) do
    redis.call('ZREM', K.rematch, sid)
    local k = key('session', sid)
    if hget(k, 'state') == S.WAITING then
      widen(sid, now, cfg)
      order[#order + 1] = {sid = sid, score = tonumber(redis.call('ZSCORE', hget(k, 'qkey'), sid))}
    end
    done = done + 1
  end
  table.sort(order, function(x, y) return better(x.score, x.sid, y.score, y.sid) end)
  for _, o in ipairs(order) do
    if not match_session(o.sid, now, cfg) then schedule_rematch(o.sid, now, cfg) end
  end
  for _, sid in ipairs(redis.call('ZRANGE', K.grace, '-inf', num(now), 'BYSCORE', 'LIMIT', 0, limit)) do
    redis.call('ZREM', K.grace, sid)
    grace_over(sid, now, cfg)
    done = done + 1
  end
  for _, aid in ipairs(redis.call('ZRANGE', K.wrap_up, '-inf', num(now), 'BYSCORE', 'LIMIT', 0, limit)) do
    local k = key('agent', aid)
    redis.call('ZREM', K.wrap_up, aid)
    if hget(k, 'status') == P.WRAP_UP and (hget(k, 'reserve') or '') == '' then
      end_wrap_up(aid, P.AVAILABLE, 'wrap-up time over', now, cfg)
      match_agent(aid, now, cfg)
    end
    done = done + 1
  end
  for _, sid in ipairs(redis.call('ZRANGE', K.transfer_deadlines, '-inf', num(now), 'BYSCORE', 'LIMIT', 0, limit)) do
    local k = key('session', sid)
    redis.call('ZREM', K.transfer_deadlines, sid)
    if hget(k, 'state') == S.TRANSFERRING then
      local target, kind = transfer_returned(sid, A.TRANSFER_TIMEOUT, 'system', 'nobody took the transfer in time', now,
        cfg)
      if kind == 'transfer' and target ~= '' then
        set_presence(target, P.AVAILABLE, now, 'transfer expired')
        match_agent(target, now, cfg)
      end
    end
    done = done + 1
  end
  for _, sid in ipairs(redis.call('ZRANGE', K.rating_window, '-inf', num(now), 'BYSCORE', 'LIMIT', 0, limit)) do
    redis.call('ZREM', K.rating_window, sid)
    close_rating(sid, now)
    done = done + 1
  end
  done = done + hall_tick(now, cfg, limit) -- seated tickets called back, calls not claimed in time (hall.lua)
  local nxt = {}
  for _, z in ipairs({K.offers, K.rematch, K.grace, K.wrap_up, K.transfer_deadlines, K.rating_window, K.hall_calls}) do
    local r = redis.call('ZRANGE', z, 0, 0, 'WITHSCORES')
    if #r > 0 then nxt[#nxt + 1] = tonumber(r[2]) end
  end
  local r = redis.call('ZRANGE', K.heartbeats, 0, 0, 'WITHSCORES')
  if #r > 0 then nxt[#nxt + 1] = tonumber(r[2]) + cfg.heartbeat_ttl_ms end
  local soonest = nil
  for _, t in ipairs(nxt) do if soonest == nil or t < soonest then soonest = t end end
  return {done = done, next = soonest or ''}
end)
