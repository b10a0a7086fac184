"""The documents a citizen signs, as TOML templates (read by ``window_server.signing.documents``)."""
