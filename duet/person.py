"""A person as Duet knows them: the one identity type every package uses.

Assumes a visitor id is per WebSocket connection, a session survives reconnects of one
browser, a device id survives sessions of one browser, and an IP address may be shared by
many people (NAT): bans, holds and blocks cover all four, each for its own reasons.
Imports nothing of Duet, so every package may use it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Person:
    """Who a check, ban, hold or block is about."""

    visitor: str
    """The visitor id (``v_…``), one browser tab's connection."""
    ip: str
    session: str | None = None
    """The door's session id: survives reconnects."""
    device: str | None = None
    """The browser's device id: survives sessions."""

    def own_keys(self) -> tuple[str, ...]:
        """Keys of what is this person's alone (session, device): never the IP, which
        would cover everyone behind their NAT."""
        keys = []
        if self.session:
            keys.append("s:" + self.session)
        if self.device:
            keys.append("d:" + self.device)
        return tuple(keys)

    def all_keys(self) -> tuple[str, ...]:
        """:meth:`own_keys` and the IP address."""
        return (*self.own_keys(), "i:" + self.ip)
