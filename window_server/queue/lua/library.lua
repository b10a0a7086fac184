-- ----------------------------------------------------------------------- the library

local FUNCS = {} -- name -> function, for rw_batch

-- One call: decode its input, run it, encode its reply. ``cfg`` is the caller's timings (JSON,
-- the same in all its calls: decoded once). A domain error is a reply; any other error comes
-- back as the second value (a bug, or input no caller of ours sends).
local function run(fn, raw, cfg)
  if KP == nil then compile_keys() end
  FX, PROFILES, CENTRES, PENDING, STATUS = {}, {}, {}, {}, {}
  local input = cjson.decode(raw)
  CFG = decoded(cfg)
  local ok, res = pcall(fn, input, input.now, CFG)
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

-- Several calls in one round trip (window_server/queue/batch.py): args are cfg, then name,
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
