-- Remote Window's queue as Redis functions: every multi-key change is one atomic call.
--
-- One library, written one file per concept (this folder) and concatenated at load, in the
-- order window_server/queue/store.py's ``LUA_PARTS`` gives, under one ``#!lua name=rw`` line.
-- Each file may use the locals of the files before it.
--
-- Every table of facts comes from Python (queue.py's ``lua_tables``), rendered in place of the
-- line below: the transition table (T), key templates (K), routing constants (C), session
-- states (S), actions (A), presence statuses (P), lanes (LANE), tiers (TIER), transfer modes
-- (MODE), the sets of held, final and ended states and of busy presence, and the error codes a
-- function may fail with (E). No state, status, tier or lane is spelled out in Lua
-- (tests/queue/test_lua_tables.py checks).
--
-- Each function takes one JSON argument and returns one JSON reply:
--   {"ok": {...}, "fx": [effects]}   or   {"err": code, "msg": text, "state": s}
-- Redis does not roll back a script that fails half-way, so every function validates all it
-- needs before its first write.

__TABLES__
local SPAN = C.lane_span
local MISSES_BEFORE_AWAY = C.misses_before_away
