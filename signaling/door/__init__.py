"""At the door: who gets in (age gate, proof of work, sessions) and how fast they may act
(rate limits, bot suspicion), the forwarded headers of trusted proxies, the HTTP security
headers, and the banned visitor's appeal.

Each module owns one concern; :mod:`signaling.service.services` builds them from
:class:`~signaling.config.door.DoorSettings` and :class:`~signaling.config.door.LimitSettings`.
"""
