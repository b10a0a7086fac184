-- ------------------------------------------------------------------------------ hall

-- The hall (issue 18): a waiting citizen may take a slip and sit down instead of standing at the
-- booth. The ticket keeps its place: it leaves its queue (so the booth is free for the next
-- citizen) but keeps ``enq`` and ``lane``, so when it comes back it is queued where it was. When
-- fewer than ``cfg.call_ahead`` tickets wait ahead of it, the hall calls it back (叫号): every
-- free booth of the hall shows it, and the first one touched claims it (it is queued again with
-- its old place, at the head). Not claimed within ``cfg.call_back_ms``: no_show, by the system.
--
-- The session's state stays waiting the whole time (no new state); what it is doing shows in
-- its fields: ``seated`` (ms, '' when not), ``seated_booth``, ``called`` and ``call_deadline``.
-- A seated session has no booth (``booth`` is ''): nothing of it is pushed to the booth it left.
--
-- Help calls (呼叫现场工作人员) live here too, because a booth's call is written together with an
-- event in its open session's history (one atomic call).

local function hall_score(q, sid)
  return redis.call('ZSCORE', q, sid)
end

-- How many tickets wait ahead of a seated one in its queue ``q``: a lower score, or the same
-- score and a smaller session number (the queue's own order, ``better`` in routing.lua).
local function ahead_of(q, sid, score, cap)
  local n = redis.call('ZCOUNT', q, '-inf', '(' .. score)
  if n >= cap then return n end
  for _, other in ipairs(redis.call('ZRANGE', q, score, score, 'BYSCORE', 'LIMIT', 0, cap)) do
    if other < sid then n = n + 1 end
  end
  return n
end

local function hall_forget(sid, centre)
  redis.call('ZREM', key('hall_seated', centre), sid)
  redis.call('ZREM', key('hall_called', centre), sid)
  redis.call('ZREM', K.hall_waiting, sid)
  redis.call('ZREM', K.hall_calls, sid)
end

-- The booth's open session, or nil.
local function open_session_of(booth)
  local sid = redis.call('GET', key('booth_session', booth))
  if not sid then return nil end
  local state = hget(key('session', sid), 'state')
  if not state or ENDED[state] then return nil end
  return sid, state
end

-- A booth's waiting citizen takes a slip and sits down (取号凭条).
register('rw_sit_down', function(a, now, cfg)
  local k = session(a.sid)
  local s = fields(k, 'state', 'booth', 'intake_centre', 'qkey', 'ticket', 'region', 'lang')
  if s.booth ~= a.booth then fail(E.not_your_session, 'session ' .. a.sid .. ' is not this booth\'s', s.state) end
  if s.state ~= S.WAITING then
    fail(E.not_waiting, 'session ' .. a.sid .. ' is ' .. s.state .. ': only a waiting ticket may sit down', s.state)
  end
  local score = s.qkey and hall_score(s.qkey, a.sid)
  if not score then fail(E.not_waiting, 'session ' .. a.sid .. ' is not in a queue', s.state) end
  redis.call('ZREM', s.qkey, a.sid)
  redis.call('ZREM', K.rematch, a.sid) -- widening is looked at again when it is claimed (enqueue)
  redis.call('HSET', k, 'booth', '', 'seated', num(now), 'seated_booth', a.booth, 'called', '', 'call_deadline', '')
  redis.call('DEL', key('booth_session', a.booth))
  redis.call('ZADD', key('hall_seated', s.intake_centre), score, a.sid)
  redis.call('ZADD', K.hall_waiting, score, a.sid)
  annotate(a.sid, 'sit_down', 'booth:' .. a.booth, '', now, {booth = a.booth})
  effect({kind = 'queue', region = s.region, lang = s.lang})
  return {sid = a.sid, ticket = s.ticket, state = s.state}
end)

-- Call a seated ticket back: the hall's free booths show it until it is claimed or its time is up.
local function call_back(sid, now, cfg)
  local k = key('session', sid)
  local s = fields(k, 'state', 'intake_centre', 'ticket', 'seated')
  if s.state ~= S.WAITING or (s.seated or '') == '' then
    hall_forget(sid, s.intake_centre or '')
    return
  end
  local deadline = now + cfg.call_back_ms
  redis.call('HSET', k, 'called', num(now), 'call_deadline', num(deadline))
  redis.call('ZREM', K.hall_waiting, sid)
  redis.call('ZADD', K.hall_calls, num(deadline), sid)
  redis.call('ZADD', key('hall_called', s.intake_centre), num(deadline), sid)
  annotate(sid, 'called', 'system', '', now, {deadline = deadline})
  effect({kind = 'ticket_called', sid = sid, ticket = s.ticket, centre = s.intake_centre, deadline = deadline})
end

-- A called ticket nobody claimed in time: no_show, by the system.
local function call_expired(sid, now)
  local k = key('session', sid)
  local s = fields(k, 'state', 'intake_centre', 'ticket')
  hall_forget(sid, s.intake_centre or '')
  if s.state ~= S.WAITING then return end
  redis.call('HSET', k, 'ended', num(now), 'call_deadline', '')
  transition(sid, A.NO_SHOW, 'system', 'not back at a booth in time', now)
  effect({kind = 'ticket_call_over', sid = sid, ticket = s.ticket, centre = s.intake_centre, why = 'expired'})
end

-- The tick's part: call back the seated tickets now next in line, expire the calls not claimed.
local function hall_tick(now, cfg, limit)
  local done = 0
  local ahead_max = cfg.call_ahead or 1
  local r = redis.call('ZRANGE', K.hall_waiting, 0, limit - 1, 'WITHSCORES')
  for i = 1, #r, 2 do
    local sid, score = r[i], r[i + 1]
    local q = hget(key('session', sid), 'qkey') or ''
    local ahead = q ~= '' and ahead_of(q, sid, score, ahead_max) or 0
    if ahead < ahead_max then
      call_back(sid, now, cfg)
      done = done + 1
    end
  end
  for _, sid in ipairs(redis.call('ZRANGE', K.hall_calls, '-inf', num(now), 'BYSCORE', 'LIMIT', 0, limit)) do
    call_expired(sid, now)
    done = done + 1
  end
  return done
end

-- A free booth of the hall claims a called ticket: the citizen is back, at this booth; the ticket
-- is queued again with its old place (at the head) and offered as usual.
register('rw_claim_ticket', function(a, now, cfg)
  local k = session(a.sid)
  local s = fields(k, 'state', 'intake_centre', 'call_deadline', 'lane', 'ticket')
  if s.intake_centre ~= a.centre then
    fail(E.other_hall, 'ticket ' .. (s.ticket or '') .. ' belongs to another hall', s.state)
  end
  if s.state ~= S.WAITING or (s.call_deadline or '') == '' then
    fail(E.not_called, 'ticket ' .. (s.ticket or '') .. ' is not being called', s.state)
  end
  local open, open_state = open_session_of(a.booth)
  if open then fail(E.booth_busy, 'booth ' .. a.booth .. ' already has session ' .. open, open_state) end
  redis.call('HSET', k, 'booth', a.booth, 'seated', '', 'seated_booth', '', 'called', '', 'call_deadline', '',
    'claimed', num(now))
  redis.call('SET', key('booth_session', a.booth), a.sid)
  hall_forget(a.sid, s.intake_centre)
  annotate(a.sid, 'claim_ticket', 'booth:' .. a.booth, '', now, {booth = a.booth})
  effect({kind = 'ticket_call_over', sid = a.sid, ticket = s.ticket, centre = s.intake_centre, why = 'claimed',
          booth = a.booth})
  local agent = enqueue(a.sid, tonumber(s.lane), now, cfg)
  return {sid = a.sid, ticket = s.ticket, state = hget(k, 'state'), agent = agent or ''}
end)

-- A booth calls the hall's staff (on) or no longer needs them (off). Pressing again keeps the
-- first time. Its open session, if any, records it.
register('rw_call_staff', function(a, now, cfg)
  local hk = key('hall_help', a.centre)
  local sid = open_session_of(a.booth)
  local before = decode(redis.call('HGET', hk, a.booth), nil)
  if a.on then
    local since = before and before.since or now
    redis.call('HSET', hk, a.booth, cjson.encode({since = since, reason = a.reason or '', sid = sid or ''}))
    if sid and not before then annotate(sid, 'call_staff', 'booth:' .. a.booth, '', now, {reason = a.reason or ''}) end
    return {since = since}
  end
  redis.call('HDEL', hk, a.booth)
  if sid and before then annotate(sid, 'call_staff_cancel', 'booth:' .. a.booth, '', now) end
  return {since = ''}
end)

-- Hall staff saw a booth's call (已处理): it is cleared, and the booth's open session records who.
register('rw_staff_ack', function(a, now, cfg)
  local hk = key('hall_help', a.centre)
  local before = decode(redis.call('HGET', hk, a.booth), nil)
  if not before then return {done = false} end
  redis.call('HDEL', hk, a.booth)
  local sid = open_session_of(a.booth)
  if sid then annotate(sid, 'call_staff_done', a.by, '', now, {booth = a.booth}) end
  return {done = true, sid = sid or ''}
end)
