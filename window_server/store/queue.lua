#!lua name=rw
-- Remote Window's queue as Redis functions: every multi-key change is one atomic call.
--
-- Loaded by window_server/store/queue.py, which substitutes three tables from Python:
-- the transition table (window_server/domain/session.py), the key templates
-- (window_server/store/keys.py) and the routing constants (window_server/domain/routing.py).
-- Each function takes one JSON argument and returns one JSON reply:
--   {"ok": {...}, "fx": [effects]}   or   {"err": code, "msg": text, "state": s}
-- Redis does not roll back a script that fails half-way, so every function validates all it
-- needs before its first write.

local T = __TRANSITIONS__
local K = __KEYS__
local C = __CONSTANTS__
local SPAN = C.lane_span
local MISSES_BEFORE_AWAY = C.misses_before_away

-- ---------------------------------------------------------------------------- helpers

-- Key templates split once into the literal pieces around their placeholders, so filling one
-- is a plain concatenation (no pattern matching on every call).
-- (Built at the first call: pairs is not available at a library's top level.)
local KP = nil

local function compile_keys()
  KP = {}
  for name, template in pairs(K) do
    local pieces = {}
    for lit in string.gmatch(template .. '{}', '(.-){%w*}') do pieces[#pieces + 1] = lit end
    KP[name] = pieces
  end
end

local function key(name, a, b, c)
  local p = KP[name]
  local n = #p
  if n == 1 then return p[1] end
  if n == 2 then return p[1] .. a .. p[2] end
  if n == 3 then return p[1] .. a .. p[2] .. b .. p[3] end
  if n == 4 then return p[1] .. a .. p[2] .. b .. p[3] .. c .. p[4] end
  error('key ' .. name .. ' has too many parts for the queue library')
end

local function num(x)
  if type(x) == 'string' then return x end
  return string.format('%d', x)
end

local function fail(code, msg, state)
  error({code = code, msg = msg, state = state})
end

local FX -- effects of the current call, returned to the caller
local PROFILES -- specialists' profiles read during the current call
local CENTRES -- specialists' centres read during the current call (without their profiles)
local PENDING -- pool joins of the current call not yet written (aid -> idle since)
local STATUS -- specialists' statuses read or set during the current call (set only by set_presence)

-- A specialist's presence changing several times in one call (in service -> wrap-up ->
-- available -> offered) is pushed once, as where it ended, after the call's other effects.
local function effect(e)
  if e.kind == 'presence' then
    for i = #FX, 1, -1 do
      local f = FX[i]
      if f.kind == 'presence' and f.agent == e.agent then
        e.from = f.from
        table.remove(FX, i)
        break
      end
    end
  end
  FX[#FX + 1] = e
end

local function hget(k, f)
  local v = redis.call('HGET', k, f)
  if v == false then return nil end
  return v
end

local function decode(v, default)
  if v == nil or v == false or v == '' then return default end
  return cjson.decode(v)
end

-- JSON that recurs across calls (specialists' pools, languages and pool keys, shared by a
-- centre's specialists; a node's timings) decoded once for all calls: the same text always
-- decodes the same. The tables are only read.
local DECODED, DECODED_N = {}, 0
local function decoded(v)
  if v == nil or v == false or v == '' then return {} end
  local t = DECODED[v]
  if t == nil then
    if DECODED_N >= 10000 then DECODED, DECODED_N = {}, 0 end
    t = cjson.decode(v)
    DECODED[v], DECODED_N = t, DECODED_N + 1
  end
  return t
end

-- A specialist's profile (centre, pools, languages), read once per call: it changes only at
-- sign-in, which forgets the copy it replaces.
local function profile(aid)
  local p = PROFILES[aid]
  if p == nil then
    local r = redis.call('HMGET', key('agent', aid), 'centre', 'pool', 'langs', 'avkeys')
    p = {centre = r[1] or '', pool = decoded(r[2]), langs = decoded(r[3]), avkeys = decoded(r[4])}
    PROFILES[aid] = p
  end
  return p
end

-- A specialist's centre alone (most events need no more than that).
local function centre_of(aid)
  local p = PROFILES[aid]
  if p then return p.centre end
  local c = CENTRES[aid]
  if c == nil then
    c = redis.call('HGET', key('agent', aid), 'centre') or ''
    CENTRES[aid] = c
  end
  return c
end

-- Append an event to the chain-wide log and, for sessions, to the session's own stream: one
-- field, the event as JSON (window_server/store/events.py reads it).
local function emit(fields, sid)
  for f, v in pairs(fields) do if type(v) == 'number' then fields[f] = num(v) end end
  local e = cjson.encode(fields)
  local id = redis.call('XADD', K.events, '*', 'e', e)
  if sid then redis.call('XADD', key('session_events', sid), id, 'e', e) end
  return id
end

local function session(sid)
  local k = key('session', sid)
  if redis.call('EXISTS', k) == 0 then fail('unknown_session', 'no session ' .. sid) end
  return k
end

local function check(sid, act, state)
  if not state then state = hget(key('session', sid), 'state') end
  local to = T[state] and T[state][act]
  if not to then
    fail('illegal_transition', 'session ' .. sid .. ' is ' .. state .. ': cannot ' ..
      string.gsub(act, '_', ' '), state)
  end
  return state, to
end

-- Move a session along the transition table, log it and tell the signaling layer.
-- ``known``: the fields below, when the caller has just written them (a new session).
local function transition(sid, act, by, why, now, extra, known)
  local k = key('session', sid)
  local s = known or redis.call('HMGET', k, 'state', 'version', 'booth', 'intake_centre', 'region', 'lang', 'agent',
    'ticket', 'matter')
  local from, to = check(sid, act, s[1])
  redis.call('HSET', k, 'state', to, 'updated', num(now), 'version', num((tonumber(s[2]) or 0) + 1))
  local ev = {sid = sid, act = act, from = from, to = to, by = by or '', why = why or '', ts = now}
  if extra then for f, v in pairs(extra) do ev[f] = v end end
  emit(ev, sid)
  if T[to] == nil or next(T[to]) == nil then redis.call('SREM', K.active, sid) end
  -- what signaling/hub.py pushes, and to whom (the log above has the rest)
  local fx = {kind = 'session', sid = sid, state = to, act = act, booth = s[3], centre = s[4],
              agent = s[7] or '', ticket = s[8] or ''}
  if why and why ~= '' then fx.why = why end
  if extra then
    for _, f in ipairs({'from_agent', 'to_agent', 'to_centre', 'party', 'outcome', 'mode'}) do
      if extra[f] then fx[f] = extra[f] end
    end
    if extra.agent and fx.agent == '' then fx.agent = extra.agent end
  end
  if fx.agent ~= '' then fx.agent_centre = centre_of(fx.agent) end
  effect(fx)
  return to, s
end

local function annotate(sid, act, by, why, now, extra)
  local state = hget(key('session', sid), 'state')
  local ev = {sid = sid, act = act, from = state, to = state, by = by or '', why = why or '', ts = now}
  if extra then for f, v in pairs(extra) do ev[f] = v end end
  emit(ev, sid)
end

-- ------------------------------------------------------------------------- presence

local function agent_key(aid)
  local k = key('agent', aid)
  if redis.call('EXISTS', k) == 0 then fail('unknown_agent', 'no specialist ' .. aid .. ' is signed in') end
  return k
end

-- Joining the pools is written when the call ends or before a pool is read, so a specialist
-- made available and offered the next session in the same call never touches them.
local function join_pools(aid, idle_since) PENDING[aid] = idle_since end

local function leave_pools(aid)
  if PENDING[aid] then PENDING[aid] = nil; return end
  local p = profile(aid)
  for _, av in ipairs(p.avkeys) do redis.call('ZREM', av, aid) end
  redis.call('ZREM', key('centre_available', p.centre), aid)
end

local function flush_pools()
  for aid, idle_since in pairs(PENDING) do
    local p = profile(aid)
    for _, av in ipairs(p.avkeys) do redis.call('ZADD', av, num(idle_since), aid) end
    redis.call('ZADD', key('centre_available', p.centre), num(idle_since), aid)
  end
  PENDING = {}
end

local function status_of(aid)
  local s = STATUS[aid]
  if s == nil then
    s = hget(key('agent', aid), 'status') or false
    STATUS[aid] = s
  end
  return s or nil
end

-- The one place presence changes: pools, wrap-up timer, log and effect follow from it.
local function set_presence(aid, status, now, why, sid)
  local k = key('agent', aid)
  local old = status_of(aid) or 'offline'
  if old == 'available' then leave_pools(aid) end
  if old == 'wrap_up' then redis.call('ZREM', K.wrap_up, aid) end -- its timer, if any
  local still_idle = old == 'available' or old == 'offered' -- idle since before this change
  if status == 'available' and not still_idle then
    redis.call('HSET', k, 'status', status, 'since', num(now), 'idle_since', num(now))
  else
    redis.call('HSET', k, 'status', status, 'since', num(now))
  end
  if status == 'available' then
    join_pools(aid, still_idle and tonumber(hget(k, 'idle_since') or now) or now)
  end
  STATUS[aid] = status
  if old ~= status then
    local centre = centre_of(aid)
    emit({aid = aid, act = 'presence', from = old, to = status, why = why or '', ts = now,
          sid = sid or '', centre = centre})
    effect({kind = 'presence', agent = aid, status = status, from = old, centre = centre})
  end
end

-- --------------------------------------------------------------------------- routing

local function declined_by(sid, aid, now)
  local until_ms = redis.call('HGET', key('declined', sid), aid)
  return until_ms and tonumber(until_ms) > now
end

local function better(a_score, a_id, b_score, b_id)
  if b_id == nil then return true end
  if a_score ~= b_score then return a_score < b_score end
  return a_id < b_id
end

-- Pages grow 1, 4, 16, 64…: the head almost always qualifies, so read one member first.
local function next_page(size) return size * 4 end

-- The longest-idle available specialist in ``set`` who has not declined ``sid``.
local function first_agent(set, sid, now)
  flush_pools()
  local start, size = 0, 1
  while true do
    local r = redis.call('ZRANGE', set, start, start + size - 1, 'WITHSCORES')
    if #r == 0 then return nil end
    for i = 1, #r, 2 do
      if not declined_by(sid, r[i], now) then return r[i], tonumber(r[i + 1]) end
    end
    start, size = start + size, next_page(size)
  end
end

-- The first session of queue ``q`` within scores [lo, hi] that ``aid`` has not declined.
local function first_session(q, lo, hi, aid, now)
  local offset, size = 0, 1
  while true do
    local r = redis.call('ZRANGE', q, num(lo), num(hi), 'BYSCORE', 'LIMIT', offset, size, 'WITHSCORES')
    if #r == 0 then return nil end
    for i = 1, #r, 2 do
      if not declined_by(r[i], aid, now) then return r[i], tonumber(r[i + 1]) end
    end
    offset, size = offset + size, next_page(size)
  end
end

-- ``qkey``: the queue the session waits in, when the caller has it.
local function offer(sid, aid, now, cfg, kind, qkey)
  local k = key('session', sid)
  local deadline = now + cfg.offer_ms
  local booth, matter, region
  if kind == 'queue' then
    redis.call('ZREM', qkey or hget(k, 'qkey'), sid)
    redis.call('ZREM', K.rematch, sid)
    local _, s = transition(sid, 'offer', 'router', '', now, {agent = aid, deadline = deadline})
    booth, matter, region = s[3], s[9], s[5]
  else
    redis.call('ZREM', key('centre_transfers', hget(k, 'xfer_centre') or ''), sid)
    annotate(sid, 'transfer_offer', 'router', '', now, {agent = aid, deadline = deadline})
    local s = redis.call('HMGET', k, 'booth', 'matter', 'region')
    booth, matter, region = s[1], s[2], s[3]
  end
  redis.call('HSET', k, 'offer_agent', aid, 'offer_deadline', num(deadline), 'offer_kind', kind)
  redis.call('ZADD', K.offers, num(deadline), sid)
  redis.call('HSET', key('agent', aid), 'offer', sid)
  set_presence(aid, 'offered', now, kind, sid)
  effect({kind = 'offer', sid = sid, agent = aid, deadline = deadline, transfer = kind == 'transfer',
          booth = booth, matter = matter, region = region})
end

-- Offer a waiting session to the best eligible specialist, if there is one.
local function match_session(sid, now, cfg)
  local k = key('session', sid)
  local s = redis.call('HMGET', k, 'state', 'region', 'lang', 'enq', 'qkey')
  if s[1] ~= 'waiting' then return nil end
  local tiers = {'own'}
  if now - tonumber(s[4]) >= cfg.widen_ms then tiers[2] = 'partner' end
  local best, best_score
  for _, tier in ipairs(tiers) do
    local aid, score = first_agent(key('available', s[2], tier, s[3]), sid, now)
    if aid and better(score, aid, best_score, best) then best, best_score = aid, score end
  end
  if best then offer(sid, best, now, cfg, 'queue', s[5]) end
  return best
end

local function agent_can_serve(aid, region, lang)
  local p = profile(aid)
  for _, e in ipairs(p.pool) do
    if e.region == region then
      for _, l in ipairs(p.langs) do if l == lang then return true end end
    end
  end
  return false
end

-- Offer an available specialist the first transfer waiting for their centre, else the first
-- waiting session they may take.
local function match_agent(aid, now, cfg)
  if status_of(aid) ~= 'available' then return nil end
  local p = profile(aid)
  local tq = key('centre_transfers', p.centre)
  for _, sid in ipairs(redis.call('ZRANGE', tq, 0, -1)) do
    local s = redis.call('HMGET', key('session', sid), 'region', 'lang')
    if agent_can_serve(aid, s[1], s[2]) and not declined_by(sid, aid, now) then
      offer(sid, aid, now, cfg, 'transfer')
      return sid
    end
  end
  local best, best_score, best_q
  local cutoff = now - cfg.widen_ms
  for _, e in ipairs(p.pool) do
    for _, lang in ipairs(p.langs) do
      local q = key('queue', e.region, lang)
      if e.tier == 'own' then
        local sid, score = first_session(q, '-inf', '+inf', aid, now)
        if sid and better(score, sid, best_score, best) then best, best_score, best_q = sid, score, q end
      else
        for lane = 0, 2 do
          local sid, score = first_session(q, lane * SPAN, lane * SPAN + cutoff, aid, now)
          if sid and better(score, sid, best_score, best) then best, best_score, best_q = sid, score, q end
        end
      end
    end
  end
  if best then offer(best, aid, now, cfg, 'queue', best_q) end
  return best
end

-- Widen a waiting session whose home-centres-only time is over (visible on the session).
-- ``wide`` and ``enq`` are the session's fields when the caller has them. Returns ``wide`` now.
local function widen(sid, now, cfg, wide, enq)
  local k = key('session', sid)
  wide = wide or hget(k, 'wide')
  if wide ~= '1' and now - tonumber(enq or hget(k, 'enq')) >= cfg.widen_ms then
    redis.call('HSET', k, 'wide', '1')
    annotate(sid, 'widen', 'router', 'partner centres may now serve', now)
    effect({kind = 'widen', sid = sid, booth = hget(k, 'booth')})
    wide = '1'
  end
  return wide
end

-- Schedule the next moment the session's eligibility grows: it widens or a decline ends.
local function schedule_rematch(sid, now, cfg, wide, enq, new)
  local k = key('session', sid)
  local due = nil
  if (wide or hget(k, 'wide')) ~= '1' then due = tonumber(enq or hget(k, 'enq')) + cfg.widen_ms end
  local d = new and {} or redis.call('HGETALL', key('declined', sid)) -- a new session: none yet
  for i = 2, #d, 2 do
    local t = tonumber(d[i])
    if t > now and (due == nil or t < due) then due = t end
  end
  if due then redis.call('ZADD', K.rematch, num(due), sid) else redis.call('ZREM', K.rematch, sid) end
end

-- Put a session (back) in its queue, schedule its widening, and try to offer it.
-- ``new``: the region, lang, enq and wide of a session created by this call.
local function enqueue(sid, lane, now, cfg, new)
  local k = key('session', sid)
  local s = new or redis.call('HMGET', k, 'region', 'lang', 'enq', 'wide')
  local q = key('queue', s[1], s[2])
  redis.call('HSET', k, 'qkey', q, 'lane', lane, 'offer_agent', '', 'offer_deadline', '', 'offer_kind', '')
  redis.call('ZADD', q, num(lane * SPAN + tonumber(s[3])), sid)
  local wide = widen(sid, now, cfg, s[4], s[3])
  effect({kind = 'queue', region = s[1], lang = s[2]})
  local agent = match_session(sid, now, cfg)
  if not agent then schedule_rematch(sid, now, cfg, wide, s[3], new ~= nil) end
  return agent
end

local function remember_decline(sid, aid, now, cfg)
  redis.call('HSET', key('declined', sid), aid, num(now + cfg.decline_memory_ms))
end

local function clear_offer(sid, aid)
  redis.call('ZREM', K.offers, sid)
  redis.call('HSET', key('session', sid), 'offer_agent', '', 'offer_deadline', '', 'offer_kind', '')
  if aid and aid ~= '' then redis.call('HSET', key('agent', aid), 'offer', '') end
end

-- Wrap-up is over: log it (the end of the handling time) and make the specialist available.
local function end_wrap_up(aid, to, why, now, cfg, last)
  local k = key('agent', aid)
  if not last then -- a timed wrap-up: the session it followed was kept on the specialist
    last = hget(k, 'last_sid') or ''
    redis.call('HSET', k, 'last_sid', '')
  end
  emit({aid = aid, act = 'wrap_end', sid = last, ts = now, from = 'wrap_up', to = to})
  if last ~= '' then
    local answered = tonumber(hget(key('session', last), 'answered') or '')
    if answered then
      redis.call('LPUSH', K.recent_handling, num(now - answered))
      redis.call('LTRIM', K.recent_handling, 0, 49)
    end
  end
  set_presence(aid, to, now, why)
end

local function start_wrap_up(aid, sid, now, cfg)
  local k = key('agent', aid)
  set_presence(aid, 'wrap_up', now, 'session ended', sid)
  if cfg.wrap_ms > 0 then
    redis.call('HSET', k, 'session', '', 'reserve', '', 'last_sid', sid or '')
    redis.call('ZADD', K.wrap_up, num(now + cfg.wrap_ms), aid)
  else -- no wrap-up configured: available again at once, and offered the next session
    redis.call('HSET', k, 'session', '', 'reserve', '')
    end_wrap_up(aid, 'available', 'no wrap-up', now, cfg, sid or '')
    match_agent(aid, now, cfg)
  end
end

-- ------------------------------------------------------------------- transfer endings

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
  local x = end_transfer(sid, 'transfer_accept', '', now, cfg)
  local served = decode(hget(k, 'served'), {})
  served[#served + 1] = aid
  redis.call('HSET', k, 'agent', aid, 'served', cjson.encode(served))
  redis.call('HSET', key('agent', aid), 'session', sid, 'offer', '')
  transition(sid, 'transfer_accept', aid, x.reason, now, {agent = aid, from_agent = x.from,
    agent_centre = centre_of(aid)})
  set_presence(aid, 'in_service', now, 'transfer accepted', sid)
  start_wrap_up(x.from, sid, now, cfg)
end

local function transfer_returned(sid, act, by, why, now, cfg)
  local x, target, kind = end_transfer(sid, act, why, now, cfg)
  transition(sid, act, by, why, now, {agent = x.from, to_agent = target})
  local fk = key('agent', x.from)
  redis.call('HSET', fk, 'reserve', '', 'session', sid)
  if hget(fk, 'status') ~= 'offline' then set_presence(x.from, 'in_service', now, 'transfer returned', sid) end
  return target, kind
end

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
  if hget(k, 'state') ~= 'completed' then return end
  redis.call('SREM', K.active, sid)
  local booth = hget(k, 'booth') or ''
  if booth ~= '' and redis.call('GET', key('booth_session', booth)) == sid then
    redis.call('DEL', key('booth_session', booth))
  end
  annotate(sid, 'rating_closed', 'system', 'not rated in time', now)
end

-- ----------------------------------------------------------------------- the library

local FUNCS = {} -- name -> function, for rw_batch

-- One call: decode its input, run it, encode its reply. ``cfg`` is the caller's timings (JSON,
-- the same in all its calls: decoded once). A domain error is a reply; any other error comes
-- back as the second value (a bug, or input no caller of ours sends).
local function run(fn, raw, cfg)
  if KP == nil then compile_keys() end
  FX, PROFILES, CENTRES, PENDING, STATUS = {}, {}, {}, {}, {}
  local input = cjson.decode(raw)
  local ok, res = pcall(fn, input, input.now, decoded(cfg))
  flush_pools() -- a failed call has written nothing (checks come first), or what it wrote stands
  if ok then return cjson.encode({ok = res or {}, fx = FX}) end
  if type(res) == 'table' and res.code then
    return cjson.encode({err = res.code, msg = res.msg, state = res.state})
  end
  return nil, type(res) == 'table' and tostring(res.err) or tostring(res)
end

local function register(name, fn)
  FUNCS[name] = fn
  redis.register_function(name, function(keys, args)
    local reply, fatal = run(fn, args[1], args[2])
    if fatal then return redis.error_reply(fatal) end
    return reply
  end)
end

-- Several calls in one round trip (window_server/store/batch.py): args are cfg, then name,
-- input, name, input...; each call runs exactly as it would alone and has its own reply, in
-- order. A call that fails outside the domain's errors replies FATAL .. the error, and the rest
-- still run.
local FATAL = '\0fatal:'
redis.register_function('rw_batch', function(keys, args)
  local out = {}
  for i = 2, #args, 2 do
    local fn, reply, fatal = FUNCS[args[i]], nil, nil
    if fn then
      local ok
      ok, reply, fatal = pcall(run, fn, args[i + 1], args[1])
      if not ok then fatal = tostring(reply) end
    else
      fatal = 'no function ' .. tostring(args[i])
    end
    out[#out + 1] = fatal and (FATAL .. fatal) or reply
  end
  return out
end)

-- A booth asks for service: create the session, give it a ticket, queue it, offer it.
register('rw_enqueue', function(a, now, cfg)
  local booth_key = key('booth_session', a.booth)
  local open = redis.call('GET', booth_key)
  local open_state = open and hget(key('session', open), 'state')
  if open_state and open_state ~= 'completed' and open_state ~= 'rated' and T[open_state] and next(T[open_state]) then
    fail('booth_busy', 'booth ' .. a.booth .. ' already has session ' .. open, open_state)
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
  redis.call('SADD', K.active, sid)
  transition(sid, 'enqueue', 'booth:' .. a.booth, '', now,
    {intake = a.intake_centre, matter = a.matter, region = a.region, priority = a.priority,
     source = a.source, lang = a.lang, booth = a.booth, ticket = ticket},
    {'', '0', a.booth, a.intake_centre, a.region, a.lang, '', ticket, a.matter})
  local agent = enqueue(sid, a.priority ~= '' and 1 or 2, now, cfg, {a.region, a.lang, num(now), '0'})
  return {sid = sid, ticket = ticket, state = agent and 'offered' or 'waiting', agent = agent or ''}
end)

-- A specialist signs in (or their profile changes): pools from the catalogue, status away.
register('rw_agent_login', function(a, now, cfg)
  local k = key('agent', a.aid)
  local old_status = hget(k, 'status') or 'offline'
  local avkeys = {}
  for _, e in ipairs(a.pool) do
    for _, lang in ipairs(a.langs) do
      avkeys[#avkeys + 1] = key('available', e.region, e.tier, lang)
      redis.call('SADD', key('staff', e.region, lang), a.aid)
    end
  end
  if old_status == 'available' then leave_pools(a.aid) end
  redis.call('HSET', k, 'aid', a.aid, 'centre', a.centre, 'pool', cjson.encode(a.pool),
    'langs', cjson.encode(a.langs), 'avkeys', cjson.encode(avkeys), 'misses', 0)
  PROFILES[a.aid], CENTRES[a.aid] = nil, nil
  redis.call('ZADD', K.heartbeats, num(now), a.aid)
  if old_status == 'available' then join_pools(a.aid, tonumber(hget(k, 'idle_since') or now)) end
  if old_status == 'offline' then set_presence(a.aid, 'away', now, 'signed in') end
  return {status = hget(k, 'status'), session = hget(k, 'session') or '', offer = hget(k, 'offer') or ''}
end)

register('rw_heartbeat', function(a, now, cfg)
  local k = agent_key(a.aid)
  if hget(k, 'status') == 'offline' then fail('signed_out', 'specialist ' .. a.aid .. ' is signed out') end
  redis.call('ZADD', K.heartbeats, num(now), a.aid)
  return {}
end)

-- A specialist switches presence by hand: available, away or wrap_up.
register('rw_presence', function(a, now, cfg)
  local k = agent_key(a.aid)
  local status = hget(k, 'status')
  if status == 'offered' or status == 'in_service' or (hget(k, 'reserve') or '') ~= ''
      or (hget(k, 'session') or '') ~= '' then
    fail('presence_busy', 'presence is ' .. status .. ': finish or decline the session first', status)
  end
  if status == 'offline' then fail('signed_out', 'specialist ' .. a.aid .. ' is signed out') end
  redis.call('HSET', k, 'misses', 0)
  if status == 'wrap_up' and a.status ~= 'wrap_up' then
    end_wrap_up(a.aid, a.status, 'by hand', now, cfg)
  else
    set_presence(a.aid, a.status, now, 'by hand')
  end
  local sid = match_agent(a.aid, now, cfg)
  return {status = hget(k, 'status'), offer = sid or ''}
end)

-- A party's media is gone: a warm or cold transfer in flight returns first, then the session
-- waits for the party to come back within the grace period.
local function media_lost(sid, party, by, why, now, cfg)
  local k = key('session', sid)
  if hget(k, 'state') == 'transferring' then
    local target, kind = transfer_returned(sid, 'transfer_decline', 'system', party .. ' media lost', now, cfg)
    if kind == 'transfer' and target ~= '' then
      set_presence(target, 'available', now, 'transfer cancelled')
      match_agent(target, now, cfg)
    end
  end
  redis.call('HSET', k, 'lost_' .. party, '1')
  transition(sid, 'media_lost', by, why, now, {party = party, agent = hget(k, 'agent')})
  redis.call('ZADD', K.grace, num(now + cfg.grace_ms), sid)
end

local function agent_lost(aid, now, cfg, why)
  local k = key('agent', aid)
  local status = hget(k, 'status') or 'offline'
  if status == 'offline' then return end
  local offer_sid = hget(k, 'offer') or ''
  local sid = hget(k, 'session') or ''
  if status == 'offered' and offer_sid ~= '' then
    local kind = hget(key('session', offer_sid), 'offer_kind')
    clear_offer(offer_sid, aid)
    set_presence(aid, 'offline', now, why)
    if kind == 'transfer' then
      transfer_returned(offer_sid, 'transfer_decline', 'system', 'specialist went offline', now, cfg)
    else
      transition(offer_sid, 'offer_lost', 'system', why, now, {agent = aid})
      enqueue(offer_sid, tonumber(hget(key('session', offer_sid), 'lane')), now, cfg)
    end
  elseif sid ~= '' then
    local sk = key('session', sid)
    local state = hget(sk, 'state')
    set_presence(aid, 'offline', now, why, sid)
    if state == 'in_service' or state == 'transferring' then
      media_lost(sid, 'agent', 'system', why, now, cfg)
    elseif state == 'reconnecting' then
      redis.call('HSET', sk, 'lost_agent', '1')
    end
  else
    set_presence(aid, 'offline', now, why)
  end
  redis.call('ZREM', K.heartbeats, aid)
  local p = profile(aid)
  for _, e in ipairs(p.pool) do
    for _, lang in ipairs(p.langs) do redis.call('SREM', key('staff', e.region, lang), aid) end
  end
end

register('rw_logout', function(a, now, cfg)
  agent_key(a.aid)
  agent_lost(a.aid, now, cfg, 'signed out')
  return {}
end)

-- A specialist accepts the offer they hold (a queue offer or a transfer).
register('rw_accept', function(a, now, cfg)
  local k = key('session', a.sid)
  local s = redis.call('HMGET', k, 'state', 'offer_agent', 'offer_kind', 'offer_deadline', 'served', 'enq')
  if not s[1] then fail('unknown_session', 'no session ' .. a.sid) end
  if s[2] ~= a.aid then
    if s[1] == 'offered' or s[3] == 'transfer' then fail('not_your_offer', 'this offer belongs to another specialist', s[1]) end
    fail('offer_expired', 'the offer of session ' .. a.sid .. ' is no longer open', s[1])
  end
  if now > tonumber(s[4]) then
    fail('offer_expired', 'the offer of session ' .. a.sid .. ' expired', s[1])
  end
  if s[3] == 'transfer' then
    check(a.sid, 'transfer_accept', s[1])
    transfer_accepted(a.sid, a.aid, now, cfg)
    return {sid = a.sid, state = hget(k, 'state')}
  end
  check(a.sid, 'accept', s[1])
  local served = decode(s[5], {})
  served[#served + 1] = a.aid
  clear_offer(a.sid, a.aid)
  redis.call('HSET', k, 'agent', a.aid, 'served', cjson.encode(served), 'answered', num(now))
  redis.call('HSET', key('agent', a.aid), 'session', a.sid, 'misses', 0)
  redis.call('DEL', key('declined', a.sid))
  redis.call('ZREM', K.rematch, a.sid)
  local state = transition(a.sid, 'accept', a.aid, '', now, {agent = a.aid,
    agent_centre = centre_of(a.aid), wait_ms = now - tonumber(s[6])})
  set_presence(a.aid, 'in_service', now, 'accepted', a.sid)
  return {sid = a.sid, state = state}
end)

local function offer_refused(sid, aid, act, why, now, cfg)
  local k = key('session', sid)
  local kind = hget(k, 'offer_kind')
  clear_offer(sid, aid)
  remember_decline(sid, aid, now, cfg)
  local ak = key('agent', aid)
  local next_status = 'available'
  if act == 'offer_timeout' then
    local misses = redis.call('HINCRBY', ak, 'misses', 1)
    if misses >= MISSES_BEFORE_AWAY then next_status = 'away' end
  else
    redis.call('HSET', ak, 'misses', 0)
  end
  set_presence(aid, next_status, now, act, sid)
  if kind == 'transfer' then
    transfer_returned(sid, act == 'offer_timeout' and 'transfer_timeout' or 'transfer_decline', aid, why, now, cfg)
  else
    transition(sid, act, aid, why, now, {agent = aid})
    enqueue(sid, tonumber(hget(k, 'lane')), now, cfg)
  end
  match_agent(aid, now, cfg)
end

register('rw_decline', function(a, now, cfg)
  local k = session(a.sid)
  local s = redis.call('HMGET', k, 'state', 'offer_agent')
  if s[2] ~= a.aid then
    fail(s[1] == 'offered' and 'not_your_offer' or 'offer_expired', 'no open offer of session ' .. a.sid .. ' for you', s[1])
  end
  offer_refused(a.sid, a.aid, 'decline', a.reason or '', now, cfg)
  return {sid = a.sid, state = hget(k, 'state')}
end)

local function holder(sid, aid)
  local k = key('session', sid)
  local s = redis.call('HMGET', k, 'state', 'agent')
  if not s[1] then fail('unknown_session', 'no session ' .. sid) end
  if s[2] ~= aid then fail('not_your_session', 'session ' .. sid .. ' is not held by you', s[1]) end
  return k, s[1]
end

-- Hand a session to a named specialist or to a centre's specialists, with a reason.
register('rw_transfer', function(a, now, cfg)
  local k, state = holder(a.sid, a.aid)
  if (a.reason or '') == '' then fail('reason_required', 'a transfer needs a reason') end
  check(a.sid, 'transfer')
  local target = nil
  if (a.to_agent or '') ~= '' then
    if a.to_agent == a.aid then fail('invalid_target', 'you cannot transfer a session to yourself') end
    local tk = key('agent', a.to_agent)
    if hget(tk, 'status') ~= 'available' then
      fail('target_unavailable', 'specialist ' .. a.to_agent .. ' is not available', state)
    end
    local s = redis.call('HMGET', k, 'region', 'lang')
    if not agent_can_serve(a.to_agent, s[1], s[2]) then
      fail('target_not_authorised', 'specialist ' .. a.to_agent .. ' does not serve this region', state)
    end
    target = a.to_agent
  end
  local x = {from = a.aid, to_agent = a.to_agent or '', to_centre = a.to_centre or '', reason = a.reason,
             mode = a.mode, at = now}
  redis.call('HSET', k, 'xfer', cjson.encode(x), 'xfer_centre', x.to_centre)
  redis.call('ZADD', K.transfer_deadlines, num(now + cfg.transfer_ms), a.sid)
  transition(a.sid, 'transfer', a.aid, a.reason, now,
    {mode = a.mode, to_agent = x.to_agent, to_centre = x.to_centre})
  redis.call('HSET', key('agent', a.aid), 'reserve', a.sid)
  if a.mode == 'cold' then set_presence(a.aid, 'wrap_up', now, 'cold transfer', a.sid) end
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

register('rw_complete', function(a, now, cfg)
  local k, state = holder(a.sid, a.aid)
  check(a.sid, 'complete', state)
  if a.require_identity and (hget(k, 'identity_result') or '') ~= 'passed' then
    fail('identity_required', 'record a passed identity check before completing with outcome ' .. a.outcome, 'in_service')
  end
  redis.call('HSET', k, 'outcome', a.outcome, 'case_number', a.case_number or '', 'ended', num(now))
  redis.call('ZADD', K.rating_window, num(now + cfg.rating_ms), a.sid) -- then it closes unrated
  transition(a.sid, 'complete', a.aid, '', now, {outcome = a.outcome, agent = a.aid,
    agent_centre = centre_of(a.aid)})
  start_wrap_up(a.aid, a.sid, now, cfg)
  return {sid = a.sid, state = 'completed'}
end)

-- Completed sessions from before the rating window existed get their timer, counted from their
-- end (run at start; the active set holds open sessions only, so this stays small).
register('rw_rating_backfill', function(a, now, cfg)
  local n = 0
  for _, sid in ipairs(redis.call('SMEMBERS', K.active)) do
    local s = redis.call('HMGET', key('session', sid), 'state', 'ended')
    if s[1] == 'completed' and not redis.call('ZSCORE', K.rating_window, sid) then
      redis.call('ZADD', K.rating_window, num((tonumber(s[2]) or now) + cfg.rating_ms), sid)
      n = n + 1
    end
  end
  return {count = n}
end)

register('rw_rate', function(a, now, cfg)
  local k = session(a.sid)
  local s = redis.call('HMGET', k, 'state', 'booth')
  if s[2] ~= a.booth then fail('not_your_session', 'session ' .. a.sid .. ' is not this booth\'s', s[1]) end
  if s[1] == 'rated' then fail('already_rated', 'session ' .. a.sid .. ' has been rated already (一次一评)', s[1]) end
  if s[1] == 'completed' and rating_over(a.sid, now) then
    fail('rating_closed', 'session ' .. a.sid .. ' can no longer be rated: its rating window has closed', s[1])
  end
  check(a.sid, 'rate')
  redis.call('ZREM', K.rating_window, a.sid)
  redis.call('HSET', k, 'rating', a.level, 'rating_comment', a.comment or '', 'rated_at', num(now))
  transition(a.sid, 'rate', 'booth:' .. a.booth, a.comment or '', now, {level = a.level,
    matter = hget(k, 'matter'), intake = hget(k, 'intake_centre')})
  if redis.call('GET', key('booth_session', a.booth)) == a.sid then redis.call('DEL', key('booth_session', a.booth)) end
  return {sid = a.sid, state = 'rated'}
end)

-- The citizen leaves the queue (放弃).
register('rw_leave', function(a, now, cfg)
  local k = session(a.sid)
  local s = redis.call('HMGET', k, 'state', 'booth', 'offer_agent', 'qkey')
  if s[2] ~= a.booth then fail('not_your_session', 'session ' .. a.sid .. ' is not this booth\'s', s[1]) end
  check(a.sid, 'leave')
  if s[1] == 'offered' then
    clear_offer(a.sid, s[3])
  else
    redis.call('ZREM', s[4], a.sid)
    local r = redis.call('HMGET', k, 'region', 'lang')
    effect({kind = 'queue', region = r[1], lang = r[2]})
  end
  redis.call('ZREM', K.rematch, a.sid)
  redis.call('HSET', k, 'ended', num(now))
  transition(a.sid, 'leave', 'booth:' .. a.booth, a.reason or '', now,
    {wait_ms = now - tonumber(hget(k, 'enq'))})
  redis.call('DEL', key('booth_session', a.booth))
  if s[1] == 'offered' then
    set_presence(s[3], 'available', now, 'citizen left', a.sid)
    match_agent(s[3], now, cfg)
  end
  return {sid = a.sid, state = 'abandoned'}
end)

-- Called but nobody at the booth (过号): by the specialist holding or offered the session.
register('rw_no_show', function(a, now, cfg)
  local k = session(a.sid)
  local s = redis.call('HMGET', k, 'state', 'agent', 'offer_agent', 'qkey', 'booth')
  if a.aid ~= s[2] and a.aid ~= s[3] then fail('not_your_session', 'session ' .. a.sid .. ' is not yours', s[1]) end
  check(a.sid, 'no_show')
  if s[1] == 'offered' then clear_offer(a.sid, a.aid) end
  redis.call('HSET', k, 'ended', num(now))
  transition(a.sid, 'no_show', a.aid, a.reason or '', now, {agent = a.aid})
  redis.call('DEL', key('booth_session', s[5]))
  redis.call('HSET', key('agent', a.aid), 'session', '')
  set_presence(a.aid, 'available', now, 'no show', a.sid)
  match_agent(a.aid, now, cfg)
  return {sid = a.sid, state = 'no_show'}
end)

-- Media of one party was lost or is back (the booth's socket; a specialist's console).
register('rw_media', function(a, now, cfg)
  local k = session(a.sid)
  local state = hget(k, 'state')
  local flag = 'lost_' .. a.party
  if a.what == 'lost' then
    if state == 'reconnecting' then
      redis.call('HSET', k, flag, '1')
    elseif state == 'in_service' or state == 'transferring' then
      media_lost(a.sid, a.party, a.by or 'system', a.party .. ' lost', now, cfg)
    end
    return {state = hget(k, 'state')}
  end
  if state ~= 'reconnecting' then return {state = state} end
  redis.call('HSET', k, flag, '')
  if a.party == 'agent' then
    local aid = hget(k, 'agent')
    set_presence(aid, 'in_service', now, 'reconnected', a.sid)
    redis.call('ZADD', K.heartbeats, num(now), aid)
  end
  if (hget(k, 'lost_agent') or '') == '' and (hget(k, 'lost_booth') or '') == '' then
    redis.call('ZREM', K.grace, a.sid)
    transition(a.sid, 'media_back', a.by or 'system', a.party .. ' back', now, {party = a.party})
  end
  return {state = hget(k, 'state')}
end)

local function grace_over(sid, now, cfg)
  local k = key('session', sid)
  if hget(k, 'state') ~= 'reconnecting' then return end
  local booth_lost = (hget(k, 'lost_booth') or '') ~= ''
  local aid = hget(k, 'agent') or ''
  redis.call('HSET', k, 'lost_agent', '', 'lost_booth', '')
  if booth_lost then
    redis.call('HSET', k, 'ended', num(now))
    transition(sid, 'interrupt', 'system', 'booth did not come back', now, {agent = aid})
    redis.call('DEL', key('booth_session', hget(k, 'booth')))
    if aid ~= '' and hget(key('agent', aid), 'status') ~= 'offline' then
      start_wrap_up(aid, sid, now, cfg)
    elseif aid ~= '' then
      redis.call('HSET', key('agent', aid), 'session', '')
    end
  else
    redis.call('HSET', k, 'agent', '')
    if aid ~= '' then redis.call('HSET', key('agent', aid), 'session', '') end
    transition(sid, 'requeue', 'system', 'specialist did not come back', now, {agent = aid})
    enqueue(sid, 0, now, cfg)
  end
end

-- Every heartbeat in ``z`` older than ``now`` becomes ``now`` (a forgiving tick, below).
local function renew_heartbeats(z, now)
  while true do
    local old = redis.call('ZRANGE', z, '-inf', '(' .. num(now), 'BYSCORE', 'LIMIT', 0, 500)
    if #old == 0 then return end
    local args = {}
    local score = num(now)
    for i, m in ipairs(old) do args[2 * i - 1], args[2 * i] = score, m end
    redis.call('ZADD', z, unpack(args))
  end
end

-- Everything that happens because time passed. Bounded per call; call it again while busy.
register('rw_tick', function(a, now, cfg)
  local limit = a.limit or 100
  local done = 0
  if a.forgive then
    -- The first tick of a node after a Redis outage: heartbeats nobody could write while Redis
    -- was down are not lost presence. The node has re-asserted its own parties; every other
    -- node gets one full TTL to do the same. Who really left is found a TTL later, below.
    renew_heartbeats(K.heartbeats, now)
    renew_heartbeats(K.booth_heartbeats, now)
  end
  -- the dead first, so nothing below is offered to a specialist who is gone
  for _, aid in ipairs(redis.call('ZRANGE', K.heartbeats, '-inf', num(now - cfg.heartbeat_ttl_ms), 'BYSCORE', 'LIMIT', 0, limit)) do
    agent_lost(aid, now, cfg, 'heartbeat stopped')
    done = done + 1
  end
  for _, sid in ipairs(redis.call('ZRANGE', K.offers, '-inf', num(now), 'BYSCORE', 'LIMIT', 0, limit)) do
    local aid = hget(key('session', sid), 'offer_agent') or ''
    if aid ~= '' then offer_refused(sid, aid, 'offer_timeout', 'no answer', now, cfg) else redis.call('ZREM', K.offers, sid) end
    done = done + 1
  end
  for _, booth in ipairs(redis.call('ZRANGE', K.booth_heartbeats, '-inf', num(now - cfg.heartbeat_ttl_ms), 'BYSCORE', 'LIMIT', 0, limit)) do
    redis.call('ZREM', K.booth_heartbeats, booth)
    local sid = redis.call('GET', key('booth_session', booth))
    if sid then
      local state = hget(key('session', sid), 'state')
      if state == 'in_service' or state == 'transferring' then
        media_lost(sid, 'booth', 'system', 'booth silent', now, cfg)
      end
    end
    done = done + 1
  end
  local due = redis.call('ZRANGE', K.rematch, '-inf', num(now), 'BYSCORE', 'LIMIT', 0, limit)
  local order = {}
  for _, sid in ipairs(due) do
    redis.call('ZREM', K.rematch, sid)
    local k = key('session', sid)
    if hget(k, 'state') == 'waiting' then
      widen(sid, now, cfg)
      order[#order + 1] = {sid = sid, score = tonumber(redis.call('ZSCORE', hget(k, 'qkey'), sid))}
    end
    done = done + 1
  end
  table.sort(order, function(x, y) return better(x.score, x.sid, y.score, y.sid) end)
  for _, o in ipairs(order) do
    if not match_session(o.sid, now, cfg) then schedule_rematch(o.sid, now, cfg) end
  end
  for _, sid in ipairs(redis.call('ZRANGE', K.grace, '-inf', num(now), 'BYSCORE', 'LIMIT', 0, limit)) do
    redis.call('ZREM', K.grace, sid)
    grace_over(sid, now, cfg)
    done = done + 1
  end
  for _, aid in ipairs(redis.call('ZRANGE', K.wrap_up, '-inf', num(now), 'BYSCORE', 'LIMIT', 0, limit)) do
    local k = key('agent', aid)
    redis.call('ZREM', K.wrap_up, aid)
    if hget(k, 'status') == 'wrap_up' and (hget(k, 'reserve') or '') == '' then
      end_wrap_up(aid, 'available', 'wrap-up time over', now, cfg)
      match_agent(aid, now, cfg)
    end
    done = done + 1
  end
  for _, sid in ipairs(redis.call('ZRANGE', K.transfer_deadlines, '-inf', num(now), 'BYSCORE', 'LIMIT', 0, limit)) do
    local k = key('session', sid)
    redis.call('ZREM', K.transfer_deadlines, sid)
    if hget(k, 'state') == 'transferring' then
      local target, kind = transfer_returned(sid, 'transfer_timeout', 'system', 'nobody took the transfer in time', now, cfg)
      if kind == 'transfer' and target ~= '' then
        set_presence(target, 'available', now, 'transfer expired')
        match_agent(target, now, cfg)
      end
    end
    done = done + 1
  end
  for _, sid in ipairs(redis.call('ZRANGE', K.rating_window, '-inf', num(now), 'BYSCORE', 'LIMIT', 0, limit)) do
    redis.call('ZREM', K.rating_window, sid)
    close_rating(sid, now)
    done = done + 1
  end
  local nxt = {}
  for _, z in ipairs({K.offers, K.rematch, K.grace, K.wrap_up, K.transfer_deadlines, K.rating_window}) do
    local r = redis.call('ZRANGE', z, 0, 0, 'WITHSCORES')
    if #r > 0 then nxt[#nxt + 1] = tonumber(r[2]) end
  end
  local r = redis.call('ZRANGE', K.heartbeats, 0, 0, 'WITHSCORES')
  if #r > 0 then nxt[#nxt + 1] = tonumber(r[2]) + cfg.heartbeat_ttl_ms end
  local soonest = nil
  for _, t in ipairs(nxt) do if soonest == nil or t < soonest then soonest = t end end
  return {done = done, next = soonest or ''}
end)

-- A note, material, verdict or identity check on a session its specialist holds.
register('rw_annotate', function(a, now, cfg)
  local k, state = holder(a.sid, a.aid)
  if state ~= 'in_service' and state ~= 'transferring' and state ~= 'reconnecting' then
    fail('illegal_transition', 'session ' .. a.sid .. ' is ' .. state .. ': cannot ' .. a.act, state)
  end
  if a.act == 'note' then
    redis.call('RPUSH', key('notes', a.sid), cjson.encode({by = a.aid, at = now, text = a.text}))
  elseif a.act == 'identity' then
    redis.call('HSET', k, 'identity', cjson.encode(a.data), 'identity_result', a.data.result)
  elseif a.act == 'case_number' then
    redis.call('HSET', k, 'case_number', a.text)
  else
    fail('invalid_input', 'unknown annotation ' .. tostring(a.act))
  end
  annotate(a.sid, a.act, a.aid, '', now, a.event or {})
  return {sid = a.sid}
end)

-- ------------------------------------------------------------ materials ---
-- Stills of a session (材料): each record, the specialist's verdicts, capture requests and
-- every view are written together with their event in one call. The blobs themselves are on
-- disk (content-addressed) before any of these runs.

local MATERIAL_HELD = {in_service = true, transferring = true, reconnecting = true}

local function material_held(sid, state, what)
  if not MATERIAL_HELD[state] then
    fail('illegal_transition', 'session ' .. sid .. ' is ' .. state .. ': cannot ' .. what, state)
  end
end

-- A stored still: the record (JSON made by the server, kept as sent) and its event. Only the
-- session's booth or the specialist holding it may add one, and only while it is held.
register('rw_material_add', function(a, now, cfg)
  local k = session(a.sid)
  local state = hget(k, 'state')
  local field = (a.role == 'booth' and 'booth') or (a.role == 'agent' and 'agent') or nil
  if field == nil or a.subject == '' or (hget(k, field) or '') ~= a.subject then
    fail('not_member', 'you are not a member of session ' .. a.sid, state)
  end
  material_held(a.sid, state, 'add a material')
  local mk = key('materials', a.sid)
  if redis.call('HEXISTS', mk, a.id) == 1 then fail('invalid_input', 'material ' .. a.id .. ' exists already', state) end
  if (a.request or '') ~= '' and redis.call('HEXISTS', key('captures', a.sid), a.request) == 0 then
    fail('unknown_request', 'no capture request ' .. a.request .. ' in session ' .. a.sid, state)
  end
  redis.call('HSET', mk, a.id, a.record)
  local ev = {material = a.id}
  for f, v in pairs(a.event or {}) do ev[f] = v end
  annotate(a.sid, 'material_added', a.by, '', now, ev)
  return {id = a.id, booth = hget(k, 'booth'), agent = hget(k, 'agent') or ''}
end)

-- The specialist holding the session accepts or rejects a material; a later verdict replaces
-- the current one and each is an event.
register('rw_material_verdict', function(a, now, cfg)
  local k, state = holder(a.sid, a.aid)
  material_held(a.sid, state, 'judge a material')
  local raw = redis.call('HGET', key('materials', a.sid), a.material_id)
  if not raw then fail('unknown_material', 'no material ' .. a.material_id .. ' in session ' .. a.sid, state) end
  local kind = cjson.decode(raw).kind
  redis.call('HSET', key('material_verdicts', a.sid), a.material_id,
    cjson.encode({verdict = a.verdict, reason = a.reason or '', by = a.aid, at = now}))
  annotate(a.sid, 'verdict', a.aid, a.reason or '', now, {material = a.material_id, kind = kind, verdict = a.verdict})
  return {sid = a.sid, material_id = a.material_id, kind = kind, verdict = a.verdict, reason = a.reason or '',
          by = a.aid, at = now, booth = hget(k, 'booth')}
end)

-- Someone was shown materials (an image variant, or several in a PDF): who, which, when.
-- Who may see them is decided before this call; this makes the record, or nothing is shown.
register('rw_material_view', function(a, now, cfg)
  session(a.sid)
  local mk = key('materials', a.sid)
  for _, id in ipairs(a.materials) do
    if redis.call('HEXISTS', mk, id) == 0 then fail('unknown_material', 'no material ' .. id .. ' in session ' .. a.sid) end
  end
  annotate(a.sid, 'material_viewed', a.by, '', now,
    {material = table.concat(a.materials, ','), variant = a.variant, role = a.role})
  return {}
end)

-- The specialist holding the session asks the booth's device agent for a still.
register('rw_capture_request', function(a, now, cfg)
  local k, state = holder(a.sid, a.aid)
  material_held(a.sid, state, 'ask for a capture')
  local booth = hget(k, 'booth') or ''
  if redis.call('HGET', key('device', booth), 'online') ~= '1' then
    fail('peer_absent', 'the document camera of booth ' .. booth .. ' is not connected', state)
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
    fail('illegal_transition', 'session ' .. a.sid .. ' is still open: its materials are kept')
  end
  local n = redis.call('HLEN', key('materials', a.sid))
  redis.call('DEL', key('materials', a.sid), key('material_verdicts', a.sid), key('captures', a.sid),
    key('notes', a.sid))
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
      local fields = entry[2]
      for i = 1, #fields, 2 do
        if fields[i] == 'e' then
          local ev = cjson.decode(fields[i + 1])
          if ev.why then ev.why = '' end
          fields[i + 1] = cjson.encode(ev)
        end
      end
      redis.call('XADD', sk, entry[1], unpack(fields))
    end
  end
  annotate(a.sid, 'materials_purged', a.by or 'system', a.why or '', now, {count = n})
  return {count = n}
end)
