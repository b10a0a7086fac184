-- ------------------------------------------------------------------ media and grace

-- A party's media is gone: a warm or cold transfer in flight returns first, then the session
-- waits for the party to come back within the grace period.
local function media_lost(sid, party, by, why, now, cfg)
  local k = key('session', sid)
  if hget(k, 'state') == S.TRANSFERRING then
    local target, kind = transfer_returned(sid, A.TRANSFER_DECLINE, 'system', party .. ' media lost', now, cfg)
    if kind == 'transfer' and target ~= '' then
      set_presence(target, P.AVAILABLE, now, 'transfer cancelled')
      match_agent(target, now, cfg)
    end
  end
  redis.call('HSET', k, 'lost_' .. party, '1')
  transition(sid, A.MEDIA_LOST, by, why, now, {party = party, agent = hget(k, 'agent')})
  redis.call('ZADD', K.grace, num(now + cfg.grace_ms), sid)
end

-- Media of one party was lost or is back (the booth's socket; a specialist's console).
register('rw_media', function(a, now, cfg)
  local k = session(a.sid)
  local state = hget(k, 'state')
  local flag = 'lost_' .. a.party
  if a.what == 'lost' then
    if state == S.RECONNECTING then
      redis.call('HSET', k, flag, '1')
    elseif T[state] and T[state][A.MEDIA_LOST] then
      media_lost(a.sid, a.party, a.by or 'system', a.party .. ' lost', now, cfg)
    end
    return {state = hget(k, 'state')}
  end
  if state ~= S.RECONNECTING then return {state = state} end
  redis.call('HSET', k, flag, '')
  if a.party == 'agent' then
    local aid = hget(k, 'agent')
    set_presence(aid, P.IN_SERVICE, now, 'reconnected', a.sid)
    redis.call('ZADD', K.heartbeats, num(now), aid)
  end
  if (hget(k, 'lost_agent') or '') == '' and (hget(k, 'lost_booth') or '') == '' then
    redis.call('ZREM', K.grace, a.sid)
    transition(a.sid, A.MEDIA_BACK, a.by or 'system', a.party .. ' back', now, {party = a.party})
  end
  return {state = hget(k, 'state')}
end)

-- The reconnect grace is over: a booth still gone ends the session, a specialist still gone
-- sends it back to the head of the queue.
local function grace_over(sid, now, cfg)
  local k = key('session', sid)
  if hget(k, 'state') ~= S.RECONNECTING then return end
  local booth_lost = (hget(k, 'lost_booth') or '') ~= ''
  local aid = hget(k, 'agent') or ''
  redis.call('HSET', k, 'lost_agent', '', 'lost_booth', '')
  if booth_lost then
    redis.call('HSET', k, 'ended', num(now))
    transition(sid, A.INTERRUPT, 'system', 'booth did not come back', now, {agent = aid})
    redis.call('DEL', key('booth_session', hget(k, 'booth')))
    if aid ~= '' and hget(key('agent', aid), 'status') ~= P.OFFLINE then
      start_wrap_up(aid, sid, now, cfg)
    elseif aid ~= '' then
      redis.call('HSET', key('agent', aid), 'session', '')
    end
  else
    redis.call('HSET', k, 'agent', '')
    if aid ~= '' then redis.call('HSET', key('agent', aid), 'session', '') end
    transition(sid, A.REQUEUE, 'system', 'specialist did not come back', now, {agent = aid})
    enqueue(sid, LANE.RETURNED, now, cfg)
  end
end
