-- ------------------------------------------------------------ materials ---
-- Stills of a session (材料): each record, the specialist's verdicts, capture requests and
-- every view are written together with their event in one call. The blobs themselves are on
-- disk (content-addressed) before any of these runs.

local function material_held(sid, state, what)
  if not HELD[state] then
    fail(E.illegal_transition, 'session ' .. sid .. ' is ' .. state .. ': cannot ' .. what, state)
  end
end

-- A stored still: the record (JSON made by the server, kept as sent) and its event. Only the
-- session's booth or the specialist holding it may add one, and only while it is held.
register('rw_material_add', function(a, now, cfg)
  local k = session(a.sid)
  local state = hget(k, 'state')
  local field = (a.role == 'booth' and 'booth') or (a.role == 'agent' and 'agent') or nil
  if field == nil or a.subject == '' or (hget(k, field) or '') ~= a.subject then
    fail(E.not_member, 'you are not a member of session ' .. a.sid, state)
  end
  material_held(a.sid, state, 'add a material')
  local mk = key('materials', a.sid)
  if redis.call('HEXISTS', mk, a.id) == 1 then fail(E.invalid_input, 'material ' .. a.id .. ' exists already', state) end
  if (a.request or '') ~= '' and redis.call('HEXISTS', key('captures', a.sid), a.request) == 0 then
    fail(E.unknown_request, 'no capture request ' .. a.request .. ' in session ' .. a.sid, state)
  end
  redis.call('HSET', mk, a.id, a.record)
  if a.pending then -- its recognition follows; a node that dies before it lands leaves it here
    redis.call('ZADD', K.recognitions_pending, now, a.sid .. ' ' .. a.id)
  end
  local ev = {material = a.id}
  for f, v in pairs(a.event or {}) do ev[f] = v end
  annotate(a.sid, 'material_added', a.by, '', now, ev)
  return {id = a.id, booth = hget(k, 'booth'), agent = hget(k, 'agent') or ''}
end)

-- Whether a record's class is still null (its recognition has not landed). A record written
-- before recognition existed has no class at all: it is never pending.
local function unrecognised(m)
  return m['class'] == cjson.null
end

-- The recognition of a still lands: the record (made by the server from the one it read,
-- with class, recognition, masked rendition, reasons and verdict) replaces the stored one only
-- while its class is still null, so a second recognition of the same still changes nothing.
-- ``pending`` lists the session's other stills the server saw unrecognised when it judged the
-- ID sides: if one of them was recognised since, the answer is ``retry`` (judge again).
-- What was read off a card in full goes to a separate hash that nothing lists.
register('rw_material_recognised', function(a, now, cfg)
  local member = a.sid .. ' ' .. a.id
  local mk = key('materials', a.sid)
  local raw = redis.call('HGET', mk, a.id)
  if not raw or not unrecognised(cjson.decode(raw)) then -- purged, or recognised already
    redis.call('ZREM', K.recognitions_pending, member)
    return {done = false}
  end
  for _, other in ipairs(a.pending or {}) do
    local r = redis.call('HGET', mk, other)
    if r and not unrecognised(cjson.decode(r)) then return {done = false, retry = true} end
  end
  redis.call('HSET', mk, a.id, a.record)
  if (a.private or '') ~= '' then redis.call('HSET', key('material_private', a.sid), a.id, a.private) end
  redis.call('ZREM', K.recognitions_pending, member)
  local ev = {material = a.id}
  for f, v in pairs(a.event or {}) do ev[f] = v end
  annotate(a.sid, 'recognised', 'system', '', now, ev)
  local k = key('session', a.sid)
  return {done = true, booth = hget(k, 'booth') or '', agent = hget(k, 'agent') or ''}
end)

-- The specialist holding the session accepts or rejects a material; a later verdict replaces
-- the current one and each is an event. ``seen_verdict`` (optional) is the automatic verdict
-- the console showed: if the still changed under the specialist's hands (its recognition
-- landed), nothing is recorded (stale_material). Accepting a still the automatic check
-- rejected needs the specialist's reason (override_required) and is recorded as an override.
-- (``pending_verdict`` is the word for a still not recognised yet: domain/recognition.py PENDING.)
register('rw_material_verdict', function(a, now, cfg)
  local k, state = holder(a.sid, a.aid)
  material_held(a.sid, state, 'judge a material')
  local raw = redis.call('HGET', key('materials', a.sid), a.material_id)
  if not raw then fail(E.unknown_material, 'no material ' .. a.material_id .. ' in session ' .. a.sid, state) end
  local m = cjson.decode(raw)
  local auto = unrecognised(m) and a.pending_verdict or m.verdict
  if (a.seen_verdict or '') ~= '' and a.seen_verdict ~= auto then
    fail(E.stale_material, 'material ' .. a.material_id .. ' changed since you saw it: its automatic verdict is now '
      .. auto, state)
  end
  local override = a.verdict == 'accepted' and m.verdict == 'rejected'
  local why = override and (a.override_reason or '') or ''
  if override and why == '' then
    fail(E.override_required, 'the automatic check rejected material ' .. a.material_id
      .. ': give your reason (override_reason) to accept it', state)
  end
  local review = {verdict = a.verdict, reason = a.reason or '', by = a.aid, at = now}
  if override then review.override, review.override_reason = true, why end
  redis.call('HSET', key('material_verdicts', a.sid), a.material_id, cjson.encode(review))
  annotate(a.sid, 'verdict', a.aid, a.reason or '', now, {material = a.material_id, kind = m.kind, verdict = a.verdict,
    override = override, override_reason = why})
  return {sid = a.sid, material_id = a.material_id, kind = m.kind, verdict = a.verdict, reason = a.reason or '',
          override = override, override_reason = why, by = a.aid, at = now, booth = hget(k, 'booth')}
end)

-- The identity check's ID photo: a still of this session filed as ``a.kind``, recognised as one
-- of ``a.classes`` and accepted by the specialist holding the session (the tables come from
-- window_server/domain/recognition.py).
register('rw_material_id_photo', function(a, now, cfg)
  local k, state = holder(a.sid, a.aid)
  local raw = redis.call('HGET', key('materials', a.sid), a.material_id)
  local m = raw and cjson.decode(raw) or {}
  local review = decode(redis.call('HGET', key('material_verdicts', a.sid), a.material_id) or nil, {})
  local class_ok = false
  for _, c in ipairs(a.classes) do if m['class'] == c then class_ok = true end end
  if not raw or m.kind ~= a.kind or not class_ok or review.verdict ~= 'accepted' then
    fail(E.not_id_photo, 'material ' .. a.material_id .. ' is not an accepted photo side of an ID card of session '
      .. a.sid, state)
  end
  return {}
end)

-- Someone was shown materials (an image variant, or several in a PDF): who, which, when.
-- Who may see them is decided before this call; this makes the record, or nothing is shown.
register('rw_material_view', function(a, now, cfg)
  session(a.sid)
  local mk = key('materials', a.sid)
  for _, id in ipairs(a.materials) do
    if redis.call('HEXISTS', mk, id) == 0 then fail(E.unknown_material, 'no material ' .. id .. ' in session ' .. a.sid) end
  end
  annotate(a.sid, 'material_viewed', a.by, '', now,
    {material = table.concat(a.materials, ','), variant = a.variant, role = a.role, masked = a.masked or false})
  return {}
end)

-- The specialist holding the session asks the booth's device agent for a still.
register('rw_capture_request', function(a, now, cfg)
  local k, state = holder(a.sid, a.aid)
  material_held(a.sid, state, 'ask for a capture')
  local booth = hget(k, 'booth') or ''
  if redis.call('HGET', key('device', booth), 'online') ~= '1' then
    fail(E.peer_absent, 'the document camera of booth ' .. booth .. ' is not connected', state)
  end
  redis.call('HSET', key('captures', a.sid), a.request_id,
    cjson.encode({kind = a.kind, camera = a.camera, by = a.aid, at = now}))
  annotate(a.sid, 'capture_requested', a.aid, '', now, {request = a.request_id, kind = a.kind, camera = a.camera})
  return {request_id = a.request_id, booth = booth}
end)

-- Retention: forget a closed session's material records (the blobs go next, by the caller) and
-- the people's words it kept: notes, the rating comment, transfer reasons, and the reasons
-- (``why``) in its own event stream. The events stay, without those words: they are the audit
-- trail of who captured, judged and saw what, and when.
register('rw_materials_purge', function(a, now, cfg)
  local k = session(a.sid)
  if redis.call('SISMEMBER', K.active, a.sid) == 1 then
    fail(E.illegal_transition, 'session ' .. a.sid .. ' is still open: its materials are kept')
  end
  local n = redis.call('HLEN', key('materials', a.sid))
  redis.call('DEL', key('materials', a.sid), key('material_verdicts', a.sid), key('captures', a.sid),
    key('notes', a.sid), key('material_private', a.sid), key('chat', a.sid), key('material_depts', a.sid))
  local transfers = decode(hget(k, 'transfers'), {})
  if #transfers > 0 then -- (an empty table would encode as {}, not [])
    for _, x in ipairs(transfers) do x.reason, x.result_reason = '', '' end
    redis.call('HSET', k, 'transfers', cjson.encode(transfers))
  end
  redis.call('HSET', k, 'rating_comment', '', 'purged', num(now))
  local sk = key('session_events', a.sid)
  local entries = redis.call('XRANGE', sk, '-', '+')
  if #entries > 0 then -- rebuilt under the same ids, in order
    redis.call('DEL', sk)
    for _, entry in ipairs(entries) do
      local kv = entry[2]
      for i = 1, #kv, 2 do
        if kv[i] == 'e' then
          local ev = cjson.decode(kv[i + 1])
          if ev.why then ev.why = '' end
          if ev.override_reason then ev.override_reason = '' end
          kv[i + 1] = cjson.encode(ev)
        end
      end
      redis.call('XADD', sk, entry[1], unpack(kv))
    end
  end
  annotate(a.sid, 'materials_purged', a.by or 'system', a.why or '', now, {count = n})
  return {count = n}
end)
