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

-- A domain error: ``code`` is one of E (window_server/domain/errors.py registers them all).
local function fail(code, msg, state)
  if code == nil then error('a fail() with an unregistered error code: ' .. tostring(msg)) end
  error({code = code, msg = msg, state = state})
end

local FX -- effects of the current call, returned to the caller
local CFG -- the caller's timings of the current call (QueueTiming)
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

-- Named reads: ``fields(k, 'state', 'agent')`` is {state = …, agent = …}; absent fields are nil.
local function fields(k, ...)
  local names = {...}
  local r = redis.call('HMGET', k, ...)
  local t = {}
  for i = 1, #names do
    local v = r[i]
    if v then t[names[i]] = v end
  end
  return t
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
    local r = fields(key('agent', aid), 'centre', 'pool', 'langs', 'avkeys')
    p = {centre = r.centre or '', pool = decoded(r.pool), langs = decoded(r.langs), avkeys = decoded(r.avkeys)}
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
local function emit(ev, sid)
  for f, v in pairs(ev) do if type(v) == 'number' then ev[f] = num(v) end end
  local e = cjson.encode(ev)
  local id = redis.call('XADD', K.events, '*', 'e', e)
  if sid then redis.call('XADD', key('session_events', sid), id, 'e', e) end
  return id
end

local function session(sid)
  local k = key('session', sid)
  if redis.call('EXISTS', k) == 0 then fail(E.unknown_session, 'no session ' .. sid) end
  return k
end

local function check(sid, act, state)
  if not state then state = hget(key('session', sid), 'state') end
  local to = T[state] and T[state][act]
  if not to then
    fail(E.illegal_transition, 'session ' .. sid .. ' is ' .. state .. ': cannot ' ..
      string.gsub(act, '_', ' '), state)
  end
  return state, to
end

-- Move a session along the transition table, log it and tell the signaling layer.
-- ``known``: the fields below, when the caller has just written them (a new session).
-- Returns the new state and those fields.
local function transition(sid, act, by, why, now, extra, known)
  local k = key('session', sid)
  local s = known or fields(k, 'state', 'version', 'booth', 'intake_centre', 'region', 'lang', 'agent', 'ticket',
    'matter')
  local from, to = check(sid, act, s.state)
  redis.call('HSET', k, 'state', to, 'updated', num(now), 'version', num((tonumber(s.version) or 0) + 1))
  local ev = {sid = sid, act = act, from = from, to = to, by = by or '', why = why or '', ts = now}
  if extra then for f, v in pairs(extra) do ev[f] = v end end
  emit(ev, sid)
  if FINAL[to] then
    redis.call('SREM', K.active, sid)
    redis.call('ZADD', K.seal_due, num(now + CFG.seal_grace_ms), sid) -- evidence/sealer.py seals it
  end
  -- what signaling/hub.py pushes, and to whom (the log above has the rest); ``from`` and ``by``
  -- are for queue/store.py's log line only
  local fx = {kind = 'session', sid = sid, state = to, act = act, booth = s.booth, centre = s.intake_centre,
              agent = s.agent or '', ticket = s.ticket or '', from = from, by = by or ''}
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

-- The session ``sid`` held by the specialist ``aid``: its key and state.
local function holder(sid, aid)
  local k = key('session', sid)
  local s = fields(k, 'state', 'agent')
  if not s.state then fail(E.unknown_session, 'no session ' .. sid) end
  if s.agent ~= aid then fail(E.not_your_session, 'session ' .. sid .. ' is not held by you', s.state) end
  return k, s.state
end
