-- Record one follow-up step of a bad review atomically: each step once, in order; the deadline
-- indexes follow; the step goes into the chain log and the session's own history.
-- KEYS: the review, the chain log, the session's stream, the session, then each scope's open-review index.
-- ARGV: step, previous step ('' for the first), by, now (ms), note.
local r = KEYS[1]
local step, prev, by, now, note = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
if redis.call('EXISTS', r) == 0 then return 'not_found' end
local done = redis.call('HGET', r, 'done_' .. step)
if done and done ~= '' then return 'already_recorded' end
if prev ~= '' then
  local p = redis.call('HGET', r, 'done_' .. prev)
  if not p or p == '' then return 'out_of_order' end
end
redis.call('HSET', r, 'done_' .. step, now, 'by_' .. step, by, 'note_' .. step, note)
local nxt = nil
for _, s in ipairs({'called_back', 'rectified', 'replied'}) do
  local d = redis.call('HGET', r, 'done_' .. s)
  if not d or d == '' then
    local due = tonumber(redis.call('HGET', r, 'due_' .. s))
    if nxt == nil or due < nxt then nxt = due end
  end
end
for i = 5, #KEYS do
  if nxt then redis.call('ZADD', KEYS[i], nxt, redis.call('HGET', r, 'sid'))
  else redis.call('ZREM', KEYS[i], redis.call('HGET', r, 'sid')) end
end
local state = redis.call('HGET', KEYS[4], 'state') or ''
local sid = redis.call('HGET', r, 'sid')
local e = cjson.encode({sid = sid, act = 'review_' .. step, from = state, to = state, by = by, why = note, ts = now})
local id = redis.call('XADD', KEYS[2], '*', 'e', e)
redis.call('XADD', KEYS[3], id, 'e', e)
return 'ok'
