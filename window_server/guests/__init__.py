"""Guests of a live session (issue 19): supervisors' monitor, whisper and barge; reviewers invited to consult."""
