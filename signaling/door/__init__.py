"""At the door: who gets in (age gate, proof of work, sessions) and how fast they may act
(rate limits, backoff, bot suspicion), plus the HTTP security headers.

Each module owns one concern; :mod:`signaling.services` builds them from
:class:`~signaling.door.settings.DoorSettings` and :class:`~signaling.door.settings.LimitSettings`.
"""
