-- ------------------------------------------------------------------ outcomes (issue 18)

-- The delivery address (结果寄递) of the session the specialist holds: in full in the session's
-- private hash, masked on the session and in the history; one call, so both or neither.
register('rw_delivery', function(a, now, cfg)
  local k, state = holder(a.sid, a.aid)
  if not HELD[state] then
    fail(E.illegal_transition, 'session ' .. a.sid .. ' is ' .. state .. ': cannot ' .. a.act, state)
  end
  redis.call('HSET', key('material_private', a.sid), a.field, a.full)
  redis.call('HSET', k, a.field, a.masked)
  annotate(a.sid, a.act, a.aid, '', now, a.event or {})
  return {sid = a.sid}
end)
