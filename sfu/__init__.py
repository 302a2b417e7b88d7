"""Duet's media plane: aiortc peer connections, forwarding between partners, frame tap.

Public API: :class:`Router` (one per process), :class:`Peer`, :class:`BadSdp`,
:class:`SfuSettings`. sfu never imports signaling or moderation.
"""

from sfu.peer import BadSdp, Peer
from sfu.router import Router
from sfu.settings import SfuSettings

__all__ = ["BadSdp", "Peer", "Router", "SfuSettings"]
