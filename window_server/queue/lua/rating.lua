-- ------------------------------------------------------------------- the rating window

-- A completed session may still be rated (so it stays in the active set) until its window
-- closes; a session out of the active set whose window left no timer is closed too.
local function rating_over(sid, now)
  local due = redis.call('ZSCORE', K.rating_window, sid)
  if due then return tonumber(due) <= now end
  return redis.call('SISMEMBER', K.active, sid) == 0
end

-- The window closed unrated: the session is over (no new state; it stays completed), it leaves
-- the active set so retention applies to it, and the booth no longer has it open.
local function close_rating(sid, now)
  local k = key('session', sid)
  if hget(k, 'state') ~= S.COMPLETED then return end
  redis.call('SREM', K.active, sid)
  redis.call('ZADD', K.seal_due, num(now + CFG.seal_grace_ms), sid)
  local booth = hget(k, 'booth') or ''
  if booth ~= '' and redis.call('GET', key('booth_session', booth)) == sid then
    redis.call('DEL', key('booth_session', booth))
  end
  annotate(sid, 'rating_closed', 'system', 'not rated in time', now)
end

-- Completed sessions from before the rating window existed get their timer, counted from their
-- end (run at start; the active set holds open sessions only, so this stays small).
register('rw_rating_backfill', function(a, now, cfg)
  local n = 0
  for _, sid in ipairs(redis.call('SMEMBERS', K.active)) do
    local s = fields(key('session', sid), 'state', 'ended')
    if s.state == S.COMPLETED and not redis.call('ZSCORE', K.rating_window, sid) then
      redis.call('ZADD', K.rating_window, num((tonumber(s.ended) or now) + cfg.rating_ms), sid)
      n = n + 1
    end
  end
  return {count = n}
end)

register('rw_rate', function(a, now, cfg)
  local k = session(a.sid)
  local s = fields(k, 'state', 'booth')
  if s.booth ~= a.booth then fail(E.not_your_session, 'session ' .. a.sid .. ' is not this booth\'s', s.state) end
  if s.state == S.RATED then
    fail(E.already_rated, 'session ' .. a.sid .. ' has been rated already (一次一评)', s.state)
  end
  if s.state == S.COMPLETED and rating_over(a.sid, now) then
    fail(E.rating_closed, 'session ' .. a.sid .. ' can no longer be rated: its rating window has closed', s.state)
  end
  check(a.sid, A.RATE, s.state)
  redis.call('ZREM', K.rating_window, a.sid)
  redis.call('HSET', k, 'rating', a.level, 'rating_comment', a.comment or '', 'rated_at', num(now))
  transition(a.sid, A.RATE, 'booth:' .. a.booth, a.comment or '', now, {level = a.level,
    matter = hget(k, 'matter'), intake = hget(k, 'intake_centre')})
  if redis.call('GET', key('booth_session', a.booth)) == a.sid then redis.call('DEL', key('booth_session', a.booth)) end
  return {sid = a.sid, state = S.RATED}
end)
