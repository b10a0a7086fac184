-- --------------------------------------------------------------------------- wrap-up

-- Wrap-up is over: log it (the end of the handling time) and make the specialist available.
local function end_wrap_up(aid, to, why, now, cfg, last)
  local k = key('agent', aid)
  if not last then -- a timed wrap-up: the session it followed was kept on the specialist
    last = hget(k, 'last_sid') or ''
    redis.call('HSET', k, 'last_sid', '')
  end
  emit({aid = aid, act = 'wrap_end', sid = last, ts = now, from = P.WRAP_UP, to = to})
  if last ~= '' then
    local answered = tonumber(hget(key('session', last), 'answered') or '')
    if answered then
      redis.call('LPUSH', K.recent_handling, num(now - answered))
      redis.call('LTRIM', K.recent_handling, 0, 49)
    end
  end
  set_presence(aid, to, now, why)
end

local function start_wrap_up(aid, sid, now, cfg)
  local k = key('agent', aid)
  set_presence(aid, P.WRAP_UP, now, 'session ended', sid)
  if cfg.wrap_ms > 0 then
    redis.call('HSET', k, 'session', '', 'reserve', '', 'last_sid', sid or '')
    redis.call('ZADD', K.wrap_up, num(now + cfg.wrap_ms), aid)
  else -- no wrap-up configured: available again at once, and offered the next session
    redis.call('HSET', k, 'session', '', 'reserve', '')
    end_wrap_up(aid, P.AVAILABLE, 'no wrap-up', now, cfg, sid or '')
    match_agent(aid, now, cfg)
  end
end
