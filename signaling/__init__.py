"""Duet's signaling plane, by role: ``service`` (the app, ``/ws``, HTTP API, metrics, the
composition root), ``room`` (visitors, lobby, matches), ``routing`` (several nodes),
``console`` (the reviewers' API), ``door``, ``storage``, ``protocol`` and ``config``.

Dependencies point one way: signaling -> sfu, moderation, turn (never the reverse); inside,
each subpackage imports only those below it (``pyproject.toml``, ``[tool.importlinter]``).
"""
