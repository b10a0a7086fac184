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
  local booth, matter, region, lang, ticket
  local fx = {kind = 'offer', sid = sid, agent = aid, deadline = deadline, transfer = kind == 'transfer'}
  if kind == 'queue' then
    redis.call('ZREM', qkey or hget(k, 'qkey'), sid)
    redis.call('ZREM', K.rematch, sid)
    local _, s = transition(sid, A.OFFER, 'router', '', now, {agent = aid, deadline = deadline})
    booth, matter, region, lang, ticket = s.booth, s.matter, s.region, s.lang, s.ticket
  else
    redis.call('ZREM', key('centre_transfers', hget(k, 'xfer_centre') or ''), sid)
    annotate(sid, 'transfer_offer', 'router', '', now, {agent = aid, deadline = deadline})
    local s = fields(k, 'booth', 'matter', 'region', 'xfer', 'lang', 'ticket')
    booth, matter, region, lang, ticket = s.booth, s.matter, s.region, s.lang, s.ticket
    local x = decode(s.xfer, {}) -- who hands it over and why: for the receiving specialist only
    fx.from_agent, fx.from_centre, fx.why = x.from, x.from_centre, x.reason
  end
  redis.call('HSET', k, 'offer_agent', aid, 'offer_deadline', num(deadline), 'offer_kind', kind)
  redis.call('ZADD', K.offers, num(deadline), sid)
  redis.call('HSET', key('agent', aid), 'offer', sid)
  set_presence(aid, P.OFFERED, now, kind, sid)
  fx.booth, fx.matter, fx.region = booth, matter, region
  -- the citizen's language, priority lane and ticket, for the ringing console (issue 19)
  fx.language, fx.ticket, fx.priority = lang or '', ticket or '', hget(k, 'priority') or ''
  effect(fx)
end

-- Offer a waiting session to the best eligible specialist, if there is one.
local function match_session(sid, now, cfg)
  local k = key('session', sid)
  local s = fields(k, 'state', 'region', 'lang', 'enq', 'qkey')
  if s.state ~= S.WAITING then return nil end
  local tiers = {TIER.OWN}
  if now - tonumber(s.enq) >= cfg.widen_ms then tiers[2] = TIER.PARTNER end
  local best, best_score
  for _, tier in ipairs(tiers) do
    local aid, score = first_agent(key('available', s.region, tier, s.lang), sid, now)
    if aid and better(score, aid, best_score, best) then best, best_score = aid, score end
  end
  if best then offer(sid, best, now, cfg, 'queue', s.qkey) end
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
  if status_of(aid) ~= P.AVAILABLE then return nil end
  local p = profile(aid)
  local tq = key('centre_transfers', p.centre)
  for _, sid in ipairs(redis.call('ZRANGE', tq, 0, -1)) do
    local s = fields(key('session', sid), 'region', 'lang')
    if agent_can_serve(aid, s.region, s.lang) and not declined_by(sid, aid, now) then
      offer(sid, aid, now, cfg, 'transfer')
      return sid
    end
  end
  local best, best_score, best_q
  local cutoff = now - cfg.widen_ms
  for _, e in ipairs(p.pool) do
    for _, lang in ipairs(p.langs) do
      local q = key('queue', e.region, lang)
      if e.tier == TIER.OWN then
        local sid, score = first_session(q, '-inf', '+inf', aid, now)
        if sid and better(score, sid, best_score, best) then best, best_score, best_q = sid, score, q end
      else
        for _, lane in ipairs(LANES) do
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
    -- what the node needs to push the queue's positions again, so it does not re-read the session
    local f = redis.call('HMGET', k, 'booth', 'region', 'lang', 'qkey')
    effect({kind = 'widen', sid = sid, booth = f[1] or '', region = f[2] or '', lang = f[3] or '',
            queued = (f[4] and f[4] ~= '') and '1' or ''})
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
-- ``lane``: one of LANE. ``new``: the region, lang, enq and wide of a session created by this call.
local function enqueue(sid, lane, now, cfg, new)
  local k = key('session', sid)
  local s = new or fields(k, 'region', 'lang', 'enq', 'wide')
  local q = key('queue', s.region, s.lang)
  redis.call('HSET', k, 'qkey', q, 'lane', lane, 'offer_agent', '', 'offer_deadline', '', 'offer_kind', '')
  redis.call('ZADD', q, num(lane * SPAN + tonumber(s.enq)), sid)
  local wide = widen(sid, now, cfg, s.wide, s.enq)
  effect({kind = 'queue', region = s.region, lang = s.lang})
  local agent = match_session(sid, now, cfg)
  if not agent then schedule_rematch(sid, now, cfg, wide, s.enq, new ~= nil) end
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
