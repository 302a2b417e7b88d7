"""The session request (``POST /api/session``) as a pydantic model.

The body is checked in a fixed order, so a request wrong in several ways always gets the
same refusal: a JSON object with known fields only, then the device id, then whether that
browser already said it is under age, then the display name, then the age answer. Each
check raises :class:`~signaling.door.sessions.SessionRefused` with its stable code
(pydantic lets it through unwrapped and stops there). What the checks need from the node
(the refusal memory, the name limit, the current year, the minimum age) comes in as the
validation context, a :class:`SessionRules`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from signaling.door.sessions import SessionRefused, check_age, check_device, check_display_name

FIELDS = ("birth_year", "adult", "altcha", "device", "name")


@dataclass(frozen=True)
class SessionRules:
    """What checking a session request needs from the node."""

    refused: Callable[[str], bool]
    """Whether this device (or browser: the refusal cookie) already said it is under age."""
    name_max_length: int
    year: int
    """The current year (from the injected clock)."""
    min_age: int


def _rules(info: ValidationInfo) -> SessionRules:
    rules = info.context
    if not isinstance(rules, SessionRules):
        raise TypeError("SessionRequest is validated with SessionRules as its context")
    return rules


class SessionRequest(BaseModel):
    """Age answer, solved challenge, device id and optional display name. A missing field
    is ``None`` and refused by its check with the same message as a wrong value (the
    checks are plain validators: pydantic converts nothing on its own)."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    device: str = None  # type: ignore[assignment]
    name: str | None = None
    birth_year: int = None  # type: ignore[assignment]
    adult: bool = None  # type: ignore[assignment]
    """The visitor's confirmation of their age: always ``True`` once valid."""
    altcha: object = None
    """The solved challenge, checked by :class:`~signaling.door.challenge.Challenges`."""
    _old_enough: bool = PrivateAttr(default=False)

    @model_validator(mode="before")
    @classmethod
    def _an_object_with_known_fields(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise SessionRefused("bad_request", "send a JSON object")
        unknown = set(data) - set(FIELDS)
        if unknown:
            raise SessionRefused("bad_request", f"unknown fields: {sorted(unknown)[:5]}")
        return data

    @field_validator("device", mode="plain")
    @classmethod
    def _device(cls, value: object, info: ValidationInfo) -> str:
        device = check_device(value)
        if _rules(info).refused(device):
            raise SessionRefused("refused", "you told us you are under age: Duet is 18+")
        return device

    @field_validator("name", mode="plain")
    @classmethod
    def _name(cls, value: object, info: ValidationInfo) -> str | None:
        return check_display_name(value, _rules(info).name_max_length)

    @field_validator("birth_year", mode="plain")
    @classmethod
    def _birth_year(cls, value: object) -> object:
        return value  # checked with the confirmation, in _adult

    @field_validator("adult", mode="plain")
    @classmethod
    def _adult(cls, value: object, info: ValidationInfo) -> bool:
        rules = _rules(info)
        check_age(info.data.get("birth_year"), value, rules.year, rules.min_age)
        return True

    @model_validator(mode="after")
    def _age(self, info: ValidationInfo) -> SessionRequest:
        rules = _rules(info)
        self._old_enough = rules.year - self.birth_year >= rules.min_age
        return self

    @property
    def old_enough(self) -> bool:
        """Whether the answer says the minimum age or older (see
        :func:`~signaling.door.sessions.check_age`)."""
        return self._old_enough
