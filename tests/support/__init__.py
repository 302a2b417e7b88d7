"""Test infrastructure: real servers on loopback and synthetic callers."""
