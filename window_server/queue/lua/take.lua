-- ------------------------------------------ taking a session from the queue (issue 19, helper C)

-- Whether ``aid`` may take ``sid`` as far as their declines go: not declined, or only missed.
local function not_declined(sid, aid, now)
  return not declined_by(sid, aid, now) or decode(hget(key('session', sid), 'missed'), {})[aid] == true
end

-- The first session of queue ``q`` within scores [lo, hi] that ``aid`` did not decline (a missed
-- one counts: the lane rule keeps a specialist from passing over the elderly citizen they missed).
local function first_takeable(q, lo, hi, aid, now)
  local offset, size = 0, 1
  while true do
    local r = redis.call('ZRANGE', q, num(lo), num(hi), 'BYSCORE', 'LIMIT', offset, size)
    if #r == 0 then return nil end
    for _, sid in ipairs(r) do
      if not_declined(sid, aid, now) then return sid end
    end
    offset, size = offset + size, next_page(size)
  end
end

-- Why the specialist ``aid`` may not take the waiting session ``sid`` now: an error code and its
-- message, or nil. The router's own eligibility (routing.lua's match_agent) asked of one pair:
-- available with no session or offer; the session waiting; its region in their pool, their
-- own centre's or (a partner centre) once its home-centres-only time is over; their language;
-- not declined by them while the decline memory holds (a missed offer is not a decline); and
-- no citizen of an earlier lane (returned, priority) they could serve waiting before it.
local function take_refusal(sid, aid, now, cfg)
  local s = fields(key('session', sid), 'state', 'region', 'lang', 'enq', 'lane')
  if not s.state then return E.unknown_session, 'no session ' .. sid end
  local a = fields(key('agent', aid), 'session', 'offer')
  if status_of(aid) ~= P.AVAILABLE or (a.session or '') ~= '' or (a.offer or '') ~= '' then
    return E.busy, 'take a session only while available, with no session or offer of your own'
  end
  if s.state ~= S.WAITING then return E.not_waiting, 'session ' .. sid .. ' is not waiting' end
  local p = profile(aid)
  local tier = nil
  for _, e in ipairs(p.pool) do if e.region == s.region then tier = e.tier end end
  local speaks = false
  for _, l in ipairs(p.langs) do if l == s.lang then speaks = true end end
  if not tier or not speaks then
    return E.not_eligible, 'session ' .. sid .. ' is not in your region or language'
  end
  local cutoff = now - cfg.widen_ms
  if tier ~= TIER.OWN and tonumber(s.enq) > cutoff then
    return E.not_eligible, 'partner centres may serve session ' .. sid .. ' only once it widens'
  end
  if not not_declined(sid, aid, now) then
    return E.declined_before, 'you declined session ' .. sid
  end
  local lane = tonumber(s.lane) or LANES[#LANES]
  for _, e in ipairs(p.pool) do
    for _, l in ipairs(p.langs) do
      local q = key('queue', e.region, l)
      for _, earlier in ipairs(LANES) do
        if earlier < lane then
          local hi = e.tier == TIER.OWN and earlier * SPAN + SPAN - 1 or earlier * SPAN + cutoff
          local other = first_takeable(q, earlier * SPAN, hi, aid, now)
          if other and other ~= sid then
            return E.not_eligible, 'ticket ' .. (hget(key('session', other), 'ticket') or other) ..
              ' waits in an earlier lane: serve it first'
          end
        end
      end
    end
  end
  return nil
end

-- The specialist takes a waiting session from their queue list: offered and accepted in one
-- call, with the same effects as an accept (no ringing: the offer's push is dropped).
register('rw_take', function(a, now, cfg)
  local code, msg = take_refusal(a.sid, a.aid, now, cfg)
  if code then fail(code, msg, hget(key('session', a.sid), 'state')) end
  local s = fields(key('session', a.sid), 'qkey', 'served', 'enq', 'region', 'lang')
  offer(a.sid, a.aid, now, cfg, 'queue', s.qkey)
  for i = #FX, 1, -1 do
    if FX[i].kind == 'offer' and FX[i].sid == a.sid then table.remove(FX, i) end
  end
  check(a.sid, A.ACCEPT)
  local state = queue_accepted(a.sid, a.aid, s, now, {taken = '1'})
  effect({kind = 'queue', region = s.region, lang = s.lang})
  return {sid = a.sid, state = state}
end)

-- For the queue list: per session of ``a.sids``, '' when ``a.aid`` may take it now, else why not
-- (the code rw_take would fail with). Reads only.
register('rw_takeable', function(a, now, cfg)
  local why = {}
  for i, sid in ipairs(a.sids) do why[i] = take_refusal(sid, a.aid, now, cfg) or '' end
  return {why = why}
end)
