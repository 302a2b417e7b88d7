"""Request bodies of the reviewer API (strict: unknown fields are refused)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=500)]
"""Why: every action asks for a short reason (it goes to the audit log)."""
Identifier = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Login(Body):
    name: Annotated[str, Field(min_length=1, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]


class DecisionBody(Body):
    action: Literal["uphold", "overturn", "dismiss", "escalate", "correct", "wrong", "unsure"]
    """``correct`` / ``wrong`` / ``unsure`` are for QA items only (others: 400)."""
    reason: Reason
    duration_s: Annotated[float, Field(gt=0)] | None = None
    """How long the ban an upheld review item or report makes lasts (default: the
    moderation ban duration)."""


class NewBan(Body):
    reason: Reason
    duration_s: Annotated[float, Field(gt=0)] | None = None
    visitor: Identifier | None = None
    ip: Identifier | None = None
    session: Identifier | None = None
    device: Identifier | None = None


class WithReason(Body):
    reason: Reason


class NewAccount(Body):
    name: Annotated[str, Field(min_length=1, max_length=64)]
    role: Literal["moderator", "admin"]
    password: Annotated[str, Field(min_length=1, max_length=1024)]


class Disable(Body):
    disabled: bool
    reason: Reason
