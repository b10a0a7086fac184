"""Signing on the kiosk (E2): sign requests, the strokes, the stamped PDF, the evidence chain."""
