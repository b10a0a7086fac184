-- ---------------------------------------------------------------------- conversation

-- The text beside the video (issue 18): a message of the specialist holding the session or of
-- its booth, kept in the session's chat list (its evidence: notes.json) and logged as a
-- ``chat`` annotation (ids only, never the words) in the same call. ``a.party`` is 'agent'
-- (``a.who`` the specialist) or 'booth' (``a.who`` the booth id); rw_annotate's holder check
-- cannot admit a booth, hence this function.
register('rw_chat', function(a, now, cfg)
  local k = key('session', a.sid)
  local s = fields(k, 'state', 'agent', 'booth')
  if not s.state then fail(E.unknown_session, 'no session ' .. a.sid) end
  local member = (a.party == 'agent' and s.agent == a.who) or (a.party == 'booth' and s.booth == a.who)
  if not member then fail(E.not_member, 'session ' .. a.sid .. ' is not yours to write in', s.state) end
  if not HELD[s.state] then
    fail(E.illegal_transition, 'session ' .. a.sid .. ' is ' .. s.state .. ': cannot chat', s.state)
  end
  local ck = key('chat', a.sid)
  local n = redis.call('LLEN', ck)
  if n >= tonumber(a.cap) then fail(E.chat_full, 'session ' .. a.sid .. ' has ' .. n .. ' messages already', s.state) end
  local by = a.party == 'booth' and ('booth:' .. a.who) or a.who
  local msg = {id = n + 1, from = a.party, by = by, text = a.text, at = now}
  if (a.quick or '') ~= '' then msg.quick = a.quick end
  redis.call('RPUSH', ck, cjson.encode(msg))
  annotate(a.sid, 'chat', by, '', now, {chat_id = num(n + 1), party = a.party, quick = a.quick or ''})
  msg.booth = s.booth
  msg.agent = s.agent
  return msg
end)

-- The citizen ends the call at the booth (结束通话): the session is completed with no outcome,
-- its rating window opens as after rw_complete. A transfer in flight ends with it (its offer is
-- withdrawn, the offered specialist is free again); the reconnect grace stops; the specialist
-- holding it goes to wrap-up as after rw_complete (or is just let go when offline).
register('rw_hang_up', function(a, now, cfg)
  local k = session(a.sid)
  local s = fields(k, 'state', 'booth', 'agent')
  if s.booth ~= a.booth then fail(E.not_your_session, 'session ' .. a.sid .. ' is not this booth\'s', s.state) end
  check(a.sid, A.HANG_UP, s.state)
  local aid = s.agent or ''
  local target, kind = '', ''
  if s.state == S.TRANSFERRING then
    local x
    x, target, kind = end_transfer(a.sid, A.HANG_UP, 'citizen hung up', now, cfg)
    aid = x.from
  end
  redis.call('ZREM', K.grace, a.sid)
  redis.call('HSET', k, 'lost_agent', '', 'lost_booth', '', 'outcome', '', 'ended', num(now))
  redis.call('ZADD', K.rating_window, num(now + cfg.rating_ms), a.sid) -- then it closes unrated
  local extra = {agent = aid}
  if aid ~= '' then extra.agent_centre = centre_of(aid) end
  if target ~= '' then extra.to_agent = target end
  local to = transition(a.sid, A.HANG_UP, 'booth:' .. a.booth, '', now, extra)
  if kind == 'transfer' and target ~= '' then
    set_presence(target, P.AVAILABLE, now, 'transfer cancelled')
    match_agent(target, now, cfg)
  end
  if aid ~= '' then
    if hget(key('agent', aid), 'status') ~= P.OFFLINE then
      start_wrap_up(aid, a.sid, now, cfg)
    else
      redis.call('HSET', key('agent', aid), 'session', '', 'reserve', '')
    end
  end
  return {sid = a.sid, state = to}
end)
