"""The room: visitors, the lobby, matching, media wiring, and what a visitor does in a
match (chat, typing, media state, reports, blocks), plus the removal of a banned visitor.

One process's source of truth for who is connected, waiting and matched. Several nodes
plug into it through :class:`~signaling.room.crossing.Crossing` (see :mod:`signaling.routing`).
"""
