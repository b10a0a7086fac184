-- ----------------------------------------------------------------------- specialists

-- A specialist signs in (or their profile changes): pools from the catalogue, status away.
register('rw_agent_login', function(a, now, cfg)
  local k = key('agent', a.aid)
  local old_status = hget(k, 'status') or P.OFFLINE
  local avkeys = {}
  for _, e in ipairs(a.pool) do
    for _, lang in ipairs(a.langs) do
      avkeys[#avkeys + 1] = key('available', e.region, e.tier, lang)
      redis.call('SADD', key('staff', e.region, lang), a.aid)
    end
  end
  if old_status == P.AVAILABLE then leave_pools(a.aid) end
  redis.call('HSET', k, 'aid', a.aid, 'centre', a.centre, 'pool', cjson.encode(a.pool),
    'langs', cjson.encode(a.langs), 'avkeys', cjson.encode(avkeys), 'misses', 0)
  PROFILES[a.aid], CENTRES[a.aid] = nil, nil
  redis.call('ZADD', K.heartbeats, num(now), a.aid)
  if old_status == P.AVAILABLE then join_pools(a.aid, tonumber(hget(k, 'idle_since') or now)) end
  if old_status == P.OFFLINE then set_presence(a.aid, P.AWAY, now, 'signed in') end
  return {status = hget(k, 'status'), session = hget(k, 'session') or '', offer = hget(k, 'offer') or ''}
end)

register('rw_heartbeat', function(a, now, cfg)
  local k = agent_key(a.aid)
  if hget(k, 'status') == P.OFFLINE then fail(E.signed_out, 'specialist ' .. a.aid .. ' is signed out') end
  redis.call('ZADD', K.heartbeats, num(now), a.aid)
  return {}
end)

-- A specialist switches presence by hand: available, away or wrap_up.
register('rw_presence', function(a, now, cfg)
  local k = agent_key(a.aid)
  local status = hget(k, 'status')
  if BUSY[status] or (hget(k, 'reserve') or '') ~= '' or (hget(k, 'session') or '') ~= '' then
    fail(E.presence_busy, 'presence is ' .. status .. ': finish or decline the session first', status)
  end
  if status == P.OFFLINE then fail(E.signed_out, 'specialist ' .. a.aid .. ' is signed out') end
  redis.call('HSET', k, 'misses', 0)
  if status == P.WRAP_UP and a.status ~= P.WRAP_UP then
    end_wrap_up(a.aid, a.status, 'by hand', now, cfg)
  else
    set_presence(a.aid, a.status, now, 'by hand')
  end
  local sid = match_agent(a.aid, now, cfg)
  return {status = hget(k, 'status'), offer = sid or ''}
end)

-- A specialist is gone (signed out, or their heartbeat stopped): an offer they held goes back,
-- a session they served waits for them within the grace period.
local function agent_lost(aid, now, cfg, why)
  local k = key('agent', aid)
  local status = hget(k, 'status') or P.OFFLINE
  if status == P.OFFLINE then return end
  local offer_sid = hget(k, 'offer') or ''
  local sid = hget(k, 'session') or ''
  if status == P.OFFERED and offer_sid ~= '' then
    local kind = hget(key('session', offer_sid), 'offer_kind')
    clear_offer(offer_sid, aid)
    set_presence(aid, P.OFFLINE, now, why)
    if kind == 'transfer' then
      transfer_returned(offer_sid, A.TRANSFER_DECLINE, 'system', 'specialist went offline', now, cfg)
    else
      transition(offer_sid, A.OFFER_LOST, 'system', why, now, {agent = aid})
      enqueue(offer_sid, tonumber(hget(key('session', offer_sid), 'lane')), now, cfg)
    end
  elseif sid ~= '' then
    local sk = key('session', sid)
    local state = hget(sk, 'state')
    set_presence(aid, P.OFFLINE, now, why, sid)
    if T[state] and T[state][A.MEDIA_LOST] then
      media_lost(sid, 'agent', 'system', why, now, cfg)
    elseif state == S.RECONNECTING then
      redis.call('HSET', sk, 'lost_agent', '1')
    end
  else
    set_presence(aid, P.OFFLINE, now, why)
  end
  redis.call('ZREM', K.heartbeats, aid)
  local p = profile(aid)
  for _, e in ipairs(p.pool) do
    for _, lang in ipairs(p.langs) do redis.call('SREM', key('staff', e.region, lang), aid) end
  end
end

register('rw_logout', function(a, now, cfg)
  agent_key(a.aid)
  agent_lost(a.aid, now, cfg, 'signed out')
  return {}
end)
