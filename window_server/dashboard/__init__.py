"""Centre managers' dashboards: aggregates folded from the event log, live figures, pages.

``rules`` is pure (what a session contributes to which counter, deadlines, masking);
``aggregator`` folds ``rw:events`` into Redis through a consumer group (and ``bulk_load`` for
imports); ``queries`` reads aggregates and the queue's live structures; ``routes`` and ``pages``
are the HTTP shell; ``prom`` the Prometheus exposition; ``setup`` wires it all into the app and
owns its tasks; ``history`` makes synthetic history for the tests and the benchmark. The live
pushes live in ``window_server/dashboard/live.py``. See ``docs/dashboard.md``.
"""
