-- -------------------------------------------------------------------------------- guests

-- Guests of a live session (issue 19, window_server/guests/): supervisors who monitor, whisper
-- or barge, and reviewers invited by the specialist (三方会商). ``key('guests', sid)`` holds the
-- guests by gid; the session's ``guests`` field is the hub's membership view of them
-- ("gid=user,gid=user", read with the session's other members in one HMGET). Every change is a
-- history annotation (ids, modes and states only; never a note's words). The rules that need no
-- Redis (who may use which mode, may a supervisor join this specialist's session) are Python's
-- (domain/guests.py); the caller hands the rest: ``max`` guests, the invitation transitions.

local function guest_list(sid)
  local raw = redis.call('HVALS', key('guests', sid))
  local out = {}
  for _, v in ipairs(raw) do out[#out + 1] = cjson.decode(v) end
  table.sort(out, function(x, y) return tonumber(x.at) < tonumber(y.at) or (x.at == y.at and x.gid < y.gid) end)
  return out
end

-- Rewrite the session's membership field and the set of sessions with guests.
local function guests_written(sid, list)
  local parts = {}
  for _, g in ipairs(list) do parts[#parts + 1] = g.gid .. '=' .. g.user end
  redis.call('HSET', key('session', sid), 'guests', table.concat(parts, ','))
  if #list > 0 then redis.call('SADD', K.guested, sid) else redis.call('SREM', K.guested, sid) end
  return list
end

local function guest_of(sid, user)
  for _, g in ipairs(guest_list(sid)) do
    if g.user == user then return g end
  end
  return nil
end

local function live_session(sid)
  local s = fields(key('session', sid), 'state', 'agent', 'booth')
  if not s.state then fail(E.unknown_session, 'no session ' .. sid) end
  if not HELD[s.state] then fail(E.not_live, 'session ' .. sid .. ' is ' .. s.state .. ': not live', s.state) end
  return s
end

local function drop_guest(sid, g, why, now)
  redis.call('HDEL', key('guests', sid), g.gid)
  annotate(sid, 'guest_leave', g.user, '', now, {gid = g.gid, role = g.role, mode = g.mode, cause = why})
end

-- Join: a supervisor with the specialist the caller checked (``agent``: the session must still be
-- theirs), a reviewer with an accepted invitation of this session. A rejoin of the same user
-- replaces their earlier place (reported as ``replaced``).
register('rw_guest_join', function(a, now, cfg)
  local s = live_session(a.sid)
  if a.reviewer then
    local ok = false
    for _, raw in ipairs(redis.call('HVALS', key('invites', a.sid))) do
      local inv = cjson.decode(raw)
      if inv.reviewer == a.user and inv.state == a.accepted and inv.by == s.agent then ok = true end
    end
    if not ok then fail(E.not_allowed, 'no accepted invitation of yours to session ' .. a.sid, s.state) end
  elseif (s.agent or '') == '' or s.agent ~= a.agent then
    fail(E.not_allowed, 'session ' .. a.sid .. ' changed hands', s.state)
  end
  local others, replaced = {}, nil
  for _, g in ipairs(guest_list(a.sid)) do
    if g.user == a.user then replaced = g else others[#others + 1] = g end
  end
  if #others >= tonumber(a.max) then
    fail(E.guests_full, 'session ' .. a.sid .. ' has ' .. #others .. ' guests already', s.state)
  end
  if replaced then drop_guest(a.sid, replaced, 'replaced', now) end
  local g = {gid = a.gid, user = a.user, role = a.role, name = a.name, mode = a.mode, centre = a.centre,
             department = a.department, agent = s.agent, at = now}
  redis.call('HSET', key('guests', a.sid), a.gid, cjson.encode(g))
  annotate(a.sid, 'guest_join', a.user, '', now, {gid = a.gid, role = a.role, mode = a.mode})
  return {guest = g, replaced = replaced and replaced.gid or '', guests = guests_written(a.sid, guest_list(a.sid)),
          booth = s.booth or '', agent = s.agent or ''}
end)

register('rw_guest_mode', function(a, now, cfg)
  local s = live_session(a.sid)
  local g = guest_of(a.sid, a.user)
  if not g then fail(E.not_guest, 'you have not joined session ' .. a.sid, s.state) end
  local was = g.mode
  g.mode = a.mode
  redis.call('HSET', key('guests', a.sid), g.gid, cjson.encode(g))
  if was ~= a.mode then
    annotate(a.sid, 'guest_mode', a.user, '', now, {gid = g.gid, role = g.role, mode = a.mode, was = was})
  end
  return {guest = g, guests = guest_list(a.sid), booth = s.booth or '', agent = s.agent or ''}
end)

-- Leave (the page's leave, or its socket closed): ``gid`` '' = whichever place the user has.
register('rw_guest_leave', function(a, now, cfg)
  local s = fields(key('session', a.sid), 'state', 'agent', 'booth')
  if not s.state then fail(E.unknown_session, 'no session ' .. a.sid) end
  local g = guest_of(a.sid, a.user)
  if not g or ((a.gid or '') ~= '' and g.gid ~= a.gid) then return {left = false} end
  drop_guest(a.sid, g, a.why, now)
  return {left = true, guest = g, guests = guests_written(a.sid, guest_list(a.sid)), booth = s.booth or '',
          agent = s.agent or ''}
end)

-- End the guests of a session no longer live, or joined under another specialist (a transfer):
-- what the guests ticker and the queue's pushes call. ``why`` names the cause for the history.
register('rw_guests_end', function(a, now, cfg)
  local s = fields(key('session', a.sid), 'state', 'agent', 'booth')
  local ended, kept = {}, {}
  for _, g in ipairs(guest_list(a.sid)) do
    local cause = nil
    if not s.state or not HELD[s.state] then cause = 'session_ended'
    elseif g.agent ~= s.agent then cause = 'transferred' end
    if cause then
      g.cause = cause
      if s.state then drop_guest(a.sid, g, cause, now) else redis.call('HDEL', key('guests', a.sid), g.gid) end
      ended[#ended + 1] = g
    else
      kept[#kept + 1] = g
    end
  end
  if #ended == 0 then
    if #kept == 0 then redis.call('SREM', K.guested, a.sid) end
    return {ended = 0}
  end
  if s.state then guests_written(a.sid, kept) else redis.call('SREM', K.guested, a.sid) end
  return {ended = ended, guests = kept, booth = s.booth or '', agent = s.agent or ''}
end)

-- ---------------------------------------------------------------------- invitations

register('rw_invite', function(a, now, cfg)
  local s = fields(key('session', a.sid), 'state', 'agent')
  if not s.state then fail(E.unknown_session, 'no session ' .. a.sid) end
  if s.agent ~= a.aid then fail(E.not_your_session, 'session ' .. a.sid .. ' is not held by you', s.state) end
  if not HELD[s.state] then fail(E.not_live, 'session ' .. a.sid .. ' is ' .. s.state .. ': not live', s.state) end
  for _, raw in ipairs(redis.call('HVALS', key('invites', a.sid))) do
    local inv = cjson.decode(raw)
    if inv.reviewer == a.invite.reviewer and inv.state == a.pending then
      fail(E.invite_pending, 'that reviewer has an open invitation to session ' .. a.sid, s.state)
    end
  end
  local inv = a.invite
  redis.call('HSET', key('invites', a.sid), inv.id, cjson.encode(inv))
  redis.call('SET', key('invite', inv.id), a.sid)
  redis.call('ZADD', key('reviewer_invites', inv.reviewer), num(inv.deadline), inv.id)
  redis.call('ZADD', K.invite_deadlines, num(inv.deadline), inv.id)
  annotate(a.sid, 'invite', a.aid, '', now, {invite = inv.id, reviewer = inv.reviewer})
  return inv
end)

-- An invitation's change along ``a.next`` (domain/guests.py INVITE_NEXT; ``a.act`` one of its acts,
-- ``a.hist`` their history acts): accept or decline by
-- its reviewer, cancel by its specialist, expire by the ticker. Accepting needs the session live.
local function invite_change(id, act, next, hist, now, by, check)
  local sid = redis.call('GET', key('invite', id))
  if not sid then fail(E.unknown_invitation, 'no invitation ' .. id) end
  local raw = redis.call('HGET', key('invites', sid), id)
  if not raw then fail(E.unknown_invitation, 'no invitation ' .. id) end
  local inv = cjson.decode(raw)
  if check then check(inv, sid) end
  local to = next[inv.state] and next[inv.state][act]
  if not to then fail(E.invitation_closed, 'invitation ' .. id .. ' is ' .. inv.state) end
  inv.state = to
  inv.answered = now
  redis.call('HSET', key('invites', sid), id, cjson.encode(inv))
  redis.call('ZREM', key('reviewer_invites', inv.reviewer), id)
  redis.call('ZREM', K.invite_deadlines, id)
  annotate(sid, hist[act], by, '', now, {invite = id, reviewer = inv.reviewer})
  return inv
end

register('rw_invite_reply', function(a, now, cfg)
  return invite_change(a.id, a.act, a.next, a.hist, now, a.user, function(inv, sid)
    if inv.reviewer ~= a.user then fail(E.unknown_invitation, 'no invitation ' .. a.id .. ' for you') end
    if a.accept and inv.state == a.pending then
      local s = fields(key('session', sid), 'state', 'agent')
      if not s.state or not HELD[s.state] or s.agent ~= inv.by then
        fail(E.not_live, 'session ' .. sid .. ' is no longer live with the specialist who invited you', s.state)
      end
    end
  end)
end)

register('rw_invite_cancel', function(a, now, cfg)
  return invite_change(a.id, a.act, a.next, a.hist, now, a.aid, function(inv, sid)
    if inv.by ~= a.aid then fail(E.not_your_session, 'invitation ' .. a.id .. ' is not yours') end
  end)
end)

-- Pending invitations past their deadline expire (at most ``limit`` per call).
register('rw_invites_expire', function(a, now, cfg)
  local due = redis.call('ZRANGEBYSCORE', K.invite_deadlines, '-inf', num(now), 'LIMIT', 0, tonumber(a.limit))
  local out = {}
  for _, id in ipairs(due) do
    local ok, inv = pcall(invite_change, id, a.act, a.next, a.hist, now, 'system', nil)
    if ok then out[#out + 1] = inv else redis.call('ZREM', K.invite_deadlines, id) end
  end
  return {expired = out, n = #out}
end)

-- A reviewer joined in consult marks a material as their department sees it: kept beside the
-- material (key('material_depts')), and a ``dept_mark`` annotation without the note's words.
register('rw_dept_mark', function(a, now, cfg)
  local s = live_session(a.sid)
  local g = guest_of(a.sid, a.user)
  if not g then fail(E.not_guest, 'you have not joined session ' .. a.sid, s.state) end
  if g.mode ~= a.mode then fail(E.bad_mode, 'only a reviewer in consult may mark materials', s.state) end
  if redis.call('HEXISTS', key('materials', a.sid), a.material_id) == 0 then
    fail(E.unknown_material, 'no material ' .. a.material_id .. ' in session ' .. a.sid, s.state)
  end
  local mark = a.mark
  mark.at = now
  redis.call('HSET', key('material_depts', a.sid), a.material_id, cjson.encode(mark))
  annotate(a.sid, 'dept_mark', a.user, '', now, {material = a.material_id, view = mark.view, gid = g.gid})
  return {mark = mark, agent = s.agent or '', booth = s.booth or ''}
end)
