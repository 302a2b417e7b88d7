"""The node bus's messages, parsed: one pydantic model per ``kind``, a discriminated union.

Nodes still send plain JSON objects (the wire is unchanged); what arrives is parsed here
into one of these models before :class:`signaling.routing.room.SharedRoom` acts on it. A
message of an unknown kind, or one whose fields do not fit its kind, is refused as a whole
(:func:`parse` returns ``None``) instead of being acted on with guessed defaults. Missing
``to``/``match`` are empty (no visitor or match has that id, so nothing happens).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    TypeAdapter,
    ValidationError,
)


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    to: str = ""
    """The visitor on the receiving node the message is about."""
    match: str = ""


class Offer(_Message):
    """A visitor on the sending node was paired with ``to``: start the match?"""

    kind: Literal["offer"]
    mode: str = ""
    origin: dict[str, Any] = Field(default_factory=dict, alias="from")
    """The offering visitor's description (``RemoteVisitor.describe``)."""


class Reply(_Message):
    """The answer to an :class:`Offer` (``visitor``: the accepting visitor's description)."""

    kind: Literal["reply"] = "reply"
    accepted: StrictBool = False
    visitor: dict[str, Any] | None = None


class Ended(_Message):
    kind: Literal["ended"]
    reason: str = "left"


class Relayed(_Message):
    """An event for ``to``'s socket from its partner on the sending node."""

    kind: Literal["event"]
    event: dict[str, Any]


class Rewire(_Message):
    kind: Literal["rewire"]
    endpoint: str | None = None


class VideoOpen(_Message):
    kind: Literal["video_open"]
    keyframe: StrictInt | None = None


class Requeue(_Message):
    kind: Literal["requeue"]


class Report(_Message):
    """A report against a visitor of the receiving node (``Filing`` and ``Person`` as
    dictionaries)."""

    kind: Literal["report"]
    filing: dict[str, Any] = Field(default_factory=dict)
    reporter: dict[str, Any] = Field(default_factory=dict)


BusMessage = Annotated[
    Offer | Reply | Ended | Relayed | Rewire | VideoOpen | Requeue | Report,
    Field(discriminator="kind"),
]
_ADAPTER: TypeAdapter[BusMessage] = TypeAdapter(BusMessage)


def parse(message: object) -> BusMessage | None:
    """The message as its kind's model, or ``None`` if it fits no kind."""
    try:
        return _ADAPTER.validate_python(message)
    except ValidationError:
        return None
