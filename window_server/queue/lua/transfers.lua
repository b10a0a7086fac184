-- ------------------------------------------------------------------------- transfers

local function end_transfer(sid, act, why, now, cfg)
  local k = key('session', sid)
  local x = decode(hget(k, 'xfer'), nil)
  local target = hget(k, 'offer_agent') or ''
  local kind = hget(k, 'offer_kind') or ''
  redis.call('ZREM', K.transfer_deadlines, sid)
  if x.to_centre ~= '' then redis.call('ZREM', key('centre_transfers', x.to_centre), sid) end
  if kind == 'transfer' then clear_offer(sid, target) end
  local transfers = decode(hget(k, 'transfers'), {})
  x.result = act
  x.result_reason = why
  x.ended = now
  transfers[#transfers + 1] = x
  redis.call('HSET', k, 'transfers', cjson.encode(transfers), 'xfer', '')
  return x, target, kind
end

local function transfer_accepted(sid, aid, now, cfg)
  local k = key('session', sid)
  local x = end_transfer(sid, A.TRANSFER_ACCEPT, '', now, cfg)
  local served = decode(hget(k, 'served'), {})
  served[#served + 1] = aid
  redis.call('HSET', k, 'agent', aid, 'served', cjson.encode(served))
  redis.call('HSET', key('agent', aid), 'session', sid, 'offer', '')
  transition(sid, A.TRANSFER_ACCEPT, aid, x.reason, now, {agent = aid, from_agent = x.from,
    agent_centre = centre_of(aid)})
  set_presence(aid, P.IN_SERVICE, now, 'transfer accepted', sid)
  start_wrap_up(x.from, sid, now, cfg)
end

local function transfer_returned(sid, act, by, why, now, cfg)
  local x, target, kind = end_transfer(sid, act, why, now, cfg)
  transition(sid, act, by, why, now, {agent = x.from, to_agent = target})
  local fk = key('agent', x.from)
  redis.call('HSET', fk, 'reserve', '', 'session', sid)
  if hget(fk, 'status') ~= P.OFFLINE then set_presence(x.from, P.IN_SERVICE, now, 'transfer returned', sid) end
  return target, kind
end

-- Hand a session to a named specialist or to a centre's specialists, with a reason.
register('rw_transfer', function(a, now, cfg)
  local k, state = holder(a.sid, a.aid)
  if (a.reason or '') == '' then fail(E.reason_required, 'a transfer needs a reason') end
  check(a.sid, A.TRANSFER)
  local target = nil
  if (a.to_agent or '') ~= '' then
    if a.to_agent == a.aid then fail(E.invalid_target, 'you cannot transfer a session to yourself') end
    local tk = key('agent', a.to_agent)
    if hget(tk, 'status') ~= P.AVAILABLE then
      fail(E.target_unavailable, 'specialist ' .. a.to_agent .. ' is not available', state)
    end
    local s = fields(k, 'region', 'lang')
    if not agent_can_serve(a.to_agent, s.region, s.lang) then
      fail(E.target_not_authorised, 'specialist ' .. a.to_agent .. ' does not serve this region', state)
    end
    target = a.to_agent
  end
  local x = {from = a.aid, from_centre = centre_of(a.aid), to_agent = a.to_agent or '',
             to_centre = a.to_centre or '', reason = a.reason, mode = a.mode, at = now}
  redis.call('HSET', k, 'xfer', cjson.encode(x), 'xfer_centre', x.to_centre)
  redis.call('ZADD', K.transfer_deadlines, num(now + cfg.transfer_ms), a.sid)
  transition(a.sid, A.TRANSFER, a.aid, a.reason, now,
    {mode = a.mode, to_agent = x.to_agent, to_centre = x.to_centre})
  redis.call('HSET', key('agent', a.aid), 'reserve', a.sid)
  if a.mode == MODE.COLD then set_presence(a.aid, P.WRAP_UP, now, 'cold transfer', a.sid) end
  if target then
    offer(a.sid, target, now, cfg, 'transfer')
  else
    redis.call('ZADD', key('centre_transfers', x.to_centre), num(now), a.sid)
    flush_pools()
    for _, aid in ipairs(redis.call('ZRANGE', key('centre_available', x.to_centre), 0, -1)) do
      if match_agent(aid, now, cfg) == a.sid then break end
    end
  end
  return {sid = a.sid, state = hget(k, 'state'), offered_to = hget(k, 'offer_agent') or ''}
end)
