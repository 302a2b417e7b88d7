"""Duet's signaling plane: the Starlette app, the ``/ws`` protocol, matching, storage, CLI.

Dependencies point one way: signaling -> sfu, moderation, turn (never the reverse).
"""
