-- ------------------------------------------------------------------ session lifecycle

-- A booth asks for service: create the session, give it a ticket, queue it, offer it.
register('rw_enqueue', function(a, now, cfg)
  local booth_key = key('booth_session', a.booth)
  local open = redis.call('GET', booth_key)
  local open_state = open and hget(key('session', open), 'state')
  if open_state and not ENDED[open_state] then -- still waiting or served: one open session per booth
    fail(E.booth_busy, 'booth ' .. a.booth .. ' already has session ' .. open, open_state)
  end
  local seq = redis.call('INCR', key('session_seq', a.day))
  local sid = 'RW' .. a.day .. string.format('%06d', seq)
  local tseq = redis.call('INCR', key('ticket_seq', a.intake_centre, a.day))
  if tseq == 1 then redis.call('EXPIRE', key('ticket_seq', a.intake_centre, a.day), 172800) end -- the day's first
  local ticket = (a.priority ~= '' and 'P' or 'A') .. string.format('%03d', tseq)
  local k = key('session', sid)
  redis.call('HSET', k, 'sid', sid, 'state', '', 'ticket', ticket, 'intake_centre', a.intake_centre,
    'booth', a.booth, 'matter', a.matter, 'region', a.region, 'lang', a.lang,
    'priority', a.priority, 'source', a.source, 'consent', a.consent and '1' or '0',
    'created', num(now), 'enq', num(now), 'wide', '0', 'agent', '', 'served', '[]',
    'transfers', '[]', 'xfer', '', 'version', 0)
  redis.call('SET', booth_key, sid)
  if (a.status_code or '') ~= '' then -- the public status page's code (issue 18): with the session, one call
    redis.call('HSET', k, 'status_code', a.status_code)
    redis.call('SET', key('status_code', a.status_code), sid)
  end
  redis.call('SADD', K.active, sid)
  transition(sid, A.ENQUEUE, 'booth:' .. a.booth, '', now,
    {intake = a.intake_centre, matter = a.matter, region = a.region, priority = a.priority,
     source = a.source, lang = a.lang, booth = a.booth, ticket = ticket},
    {state = '', version = '0', booth = a.booth, intake_centre = a.intake_centre, region = a.region, lang = a.lang,
     agent = '', ticket = ticket, matter = a.matter})
  local lane = a.priority ~= '' and LANE.PRIORITY or LANE.NORMAL
  local agent = enqueue(sid, lane, now, cfg, {region = a.region, lang = a.lang, enq = num(now), wide = '0'})
  return {sid = sid, ticket = ticket, state = hget(k, 'state'), agent = agent or ''}
end)

-- A specialist accepts the offer they hold (a queue offer or a transfer).
-- Accept or decline without an open offer for you: offer_expired only when your own offer of it
-- ran out or you declined it (within the decline memory); else the session is someone else's.
local function not_offered(sid, aid, state, offer_kind, now)
  if state ~= S.OFFERED and offer_kind ~= 'transfer' and declined_by(sid, aid, now) then
    fail(E.offer_expired, 'your offer of session ' .. sid .. ' is no longer open', state)
  end
  fail(E.not_your_offer, 'no offer of session ' .. sid .. ' is yours', state)
end

-- The specialist ``aid`` takes the queue offer of ``sid`` they hold (``s``: its served and enq).
-- ``extra``: more of the accept event's fields (rw_take's ``taken``).
local function queue_accepted(sid, aid, s, now, extra)
  local k = key('session', sid)
  local served = decode(s.served, {})
  served[#served + 1] = aid
  clear_offer(sid, aid)
  redis.call('HSET', k, 'agent', aid, 'served', cjson.encode(served), 'answered', num(now), 'missed', '')
  redis.call('HSET', key('agent', aid), 'session', sid, 'misses', 0)
  redis.call('DEL', key('declined', sid))
  redis.call('ZREM', K.rematch, sid)
  local ev = {agent = aid, agent_centre = centre_of(aid), wait_ms = now - tonumber(s.enq)}
  if extra then for f, v in pairs(extra) do ev[f] = v end end
  local state = transition(sid, A.ACCEPT, aid, '', now, ev)
  set_presence(aid, P.IN_SERVICE, now, 'accepted', sid)
  return state
end

register('rw_accept', function(a, now, cfg)
  local k = key('session', a.sid)
  local s = fields(k, 'state', 'offer_agent', 'offer_kind', 'offer_deadline', 'served', 'enq')
  if not s.state then fail(E.unknown_session, 'no session ' .. a.sid) end
  if s.offer_agent ~= a.aid then not_offered(a.sid, a.aid, s.state, s.offer_kind, now) end
  if now > tonumber(s.offer_deadline) then
    fail(E.offer_expired, 'the offer of session ' .. a.sid .. ' expired', s.state)
  end
  if s.offer_kind == 'transfer' then
    check(a.sid, A.TRANSFER_ACCEPT, s.state)
    transfer_accepted(a.sid, a.aid, now, cfg)
    return {sid = a.sid, state = hget(k, 'state')}
  end
  check(a.sid, A.ACCEPT, s.state)
  return {sid = a.sid, state = queue_accepted(a.sid, a.aid, s, now)}
end)

-- Who missed a queue offer of the session (it ran out), as opposed to declining it: the
-- session's ``missed``, {aid: true} as JSON. The router's decline memory treats both alike; a
-- take from the queue (take.lua) is refused only after a decline. (issue 19, helper C)
local function note_miss(sid, aid, missed)
  local k = key('session', sid)
  local m = decode(hget(k, 'missed'), {})
  if (m[aid] or false) == missed then return end
  m[aid] = missed or nil
  redis.call('HSET', k, 'missed', next(m) and cjson.encode(m) or '')
end

-- An offer was declined (``act`` A.DECLINE) or ran out (A.OFFER_TIMEOUT): the session goes back
-- (a transfer to its first specialist), the specialist is remembered as having refused it.
local function offer_refused(sid, aid, act, why, now, cfg)
  local k = key('session', sid)
  local kind = hget(k, 'offer_kind')
  clear_offer(sid, aid)
  remember_decline(sid, aid, now, cfg)
  local ak = key('agent', aid)
  local next_status = P.AVAILABLE
  note_miss(sid, aid, act == A.OFFER_TIMEOUT and kind ~= 'transfer')
  if act == A.OFFER_TIMEOUT then
    local misses = redis.call('HINCRBY', ak, 'misses', 1)
    if misses >= MISSES_BEFORE_AWAY then next_status = P.AWAY end
  else
    redis.call('HSET', ak, 'misses', 0)
  end
  set_presence(aid, next_status, now, act, sid)
  if kind == 'transfer' then
    transfer_returned(sid, act == A.OFFER_TIMEOUT and A.TRANSFER_TIMEOUT or A.TRANSFER_DECLINE, aid, why, now, cfg)
  else
    transition(sid, act, aid, why, now, {agent = aid})
    enqueue(sid, tonumber(hget(k, 'lane')), now, cfg)
  end
  match_agent(aid, now, cfg)
end

register('rw_decline', function(a, now, cfg)
  local k = session(a.sid)
  local s = fields(k, 'state', 'offer_agent', 'offer_kind')
  if s.offer_agent ~= a.aid then not_offered(a.sid, a.aid, s.state, s.offer_kind, now) end
  offer_refused(a.sid, a.aid, A.DECLINE, a.reason or '', now, cfg)
  return {sid = a.sid, state = hget(k, 'state')}
end)

register('rw_complete', function(a, now, cfg)
  local k, state = holder(a.sid, a.aid)
  check(a.sid, A.COMPLETE, state)
  if a.require_identity and (hget(k, 'identity_result') or '') ~= 'passed' then
    fail(E.identity_required, 'record a passed identity check before completing with outcome ' .. a.outcome, state)
  end
  -- issue 18 (outcomes): the delivery address must be on the session first; the missing list
  -- (JSON [{kind, how}]) is stored with the completion, its note in the same call
  if a.require_address and (hget(k, 'delivery') or '') == '' then
    fail(E.address_required, 'record the delivery address before completing with outcome ' .. a.outcome, state)
  end
  redis.call('HSET', k, 'outcome', a.outcome, 'case_number', a.case_number or '', 'ended', num(now))
  local done = {outcome = a.outcome, agent = a.aid, agent_centre = centre_of(a.aid)}
  if (a.missing or '') ~= '' then
    redis.call('HSET', k, 'missing', a.missing)
    redis.call('RPUSH', key('notes', a.sid), cjson.encode({by = a.aid, at = now, text = a.missing_note}))
    done.missing, done.missing_how = a.missing_kinds, a.missing_hows
  end
  redis.call('ZADD', K.rating_window, num(now + cfg.rating_ms), a.sid) -- then it closes unrated
  local to = transition(a.sid, A.COMPLETE, a.aid, '', now, done)
  start_wrap_up(a.aid, a.sid, now, cfg)
  return {sid = a.sid, state = to}
end)

-- The citizen leaves the queue (放弃).
register('rw_leave', function(a, now, cfg)
  local k = session(a.sid)
  local s = fields(k, 'state', 'booth', 'offer_agent', 'qkey', 'region', 'lang', 'enq')
  if s.booth ~= a.booth then fail(E.not_your_session, 'session ' .. a.sid .. ' is not this booth\'s', s.state) end
  check(a.sid, A.LEAVE, s.state)
  if s.state == S.OFFERED then
    clear_offer(a.sid, s.offer_agent)
  else
    redis.call('ZREM', s.qkey, a.sid)
    effect({kind = 'queue', region = s.region, lang = s.lang})
  end
  redis.call('ZREM', K.rematch, a.sid)
  redis.call('HSET', k, 'ended', num(now))
  local to = transition(a.sid, A.LEAVE, 'booth:' .. a.booth, a.reason or '', now,
    {wait_ms = now - tonumber(s.enq)})
  redis.call('DEL', key('booth_session', a.booth))
  if s.state == S.OFFERED then
    set_presence(s.offer_agent, P.AVAILABLE, now, 'citizen left', a.sid)
    match_agent(s.offer_agent, now, cfg)
  end
  return {sid = a.sid, state = to}
end)

-- Called but nobody at the booth (过号): by the specialist holding or offered the session.
register('rw_no_show', function(a, now, cfg)
  local k = session(a.sid)
  local s = fields(k, 'state', 'agent', 'offer_agent', 'booth')
  if a.aid ~= s.agent and a.aid ~= s.offer_agent then
    fail(E.not_your_session, 'session ' .. a.sid .. ' is not yours', s.state)
  end
  check(a.sid, A.NO_SHOW, s.state)
  if s.state == S.OFFERED then clear_offer(a.sid, a.aid) end
  redis.call('HSET', k, 'ended', num(now))
  local to = transition(a.sid, A.NO_SHOW, a.aid, a.reason or '', now, {agent = a.aid})
  redis.call('DEL', key('booth_session', s.booth))
  redis.call('HSET', key('agent', a.aid), 'session', '')
  set_presence(a.aid, P.AVAILABLE, now, 'no show', a.sid)
  match_agent(a.aid, now, cfg)
  return {sid = a.sid, state = to}
end)

-- A note, material, verdict or identity check on a session its specialist holds.
register('rw_annotate', function(a, now, cfg)
  local k, state = holder(a.sid, a.aid)
  if not HELD[state] then
    fail(E.illegal_transition, 'session ' .. a.sid .. ' is ' .. state .. ': cannot ' .. a.act, state)
  end
  if a.act == 'note' then
    redis.call('RPUSH', key('notes', a.sid), cjson.encode({by = a.aid, at = now, text = a.text}))
  elseif a.act == 'identity' then
    redis.call('HSET', k, 'identity', cjson.encode(a.data), 'identity_result', a.data.result)
  elseif a.act == 'case_number' then
    redis.call('HSET', k, 'case_number', a.text)
  else
    fail(E.invalid_input, 'unknown annotation ' .. tostring(a.act))
  end
  annotate(a.sid, a.act, a.aid, '', now, a.event or {})
  return {sid = a.sid}
end)
