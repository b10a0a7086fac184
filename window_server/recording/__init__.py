"""The session's recording: segments of chunks the booth uploads while the call runs."""
