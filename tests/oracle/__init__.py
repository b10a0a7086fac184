"""Test oracles: second, slower, plainer models of rules whose one home is elsewhere.

The queue's rules (routing, offers, declines, presence, transfers, reconnect grace, wrap-up)
live in the Redis functions (``window_server/queue/lua/``): atomicity puts them there.
These models exist only to check them: the differential tests drive the real service and an
oracle with the same operations and compare what each says happened. Nothing in
``window_server/`` imports from here.
"""
