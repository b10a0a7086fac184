"""Outcome fixtures: the console's journey (a matter, its centres, a demo booth), Chromium and consoles."""

from __future__ import annotations

from tests.console.conftest import Journey, browser, catalogue, consoles, journey  # noqa: F401  (fixtures)
