"""Sealed evidence of a session: its hash chain, the seal log, the package and its verification."""
