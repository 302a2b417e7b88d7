"""Chat moderation: sanitising, the word filter, the toxicity model, strikes to a ban."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from duet.person import Person
from moderation import MemoryStore
from moderation.clock import FakeClock
from moderation.evidence import EvidenceWriter
from moderation.records import BanRecord
from moderation.sanctions import Sanctions
from moderation.settings import TextSettings
from moderation.stats import ModerationStats
from moderation.text import ChatModerator, sanitise

SENDER = Person("v_s", "10.0.0.9")


class Toxic:
    """Scores a text 0.99 if it contains 'idiot', else 0.01."""

    def probabilities(self, texts: Sequence[str]) -> list[float]:
        return [0.99 if "idiot" in t.lower() else 0.01 for t in texts]


class Enforcer:
    def __init__(self) -> None:
        self.bans: list[BanRecord] = []

    async def enforce(self, ban: BanRecord) -> None:
        self.bans.append(ban)


def build(
    tmp_path: Path, **settings: object
) -> tuple[ChatModerator, FakeClock, Enforcer, MemoryStore]:
    clock, enforcer, store = FakeClock(), Enforcer(), MemoryStore()
    sanctions = Sanctions(store, enforcer, ModerationStats())
    text = TextSettings(**settings)  # type: ignore[arg-type]
    chat = ChatModerator(text, sanctions, EvidenceWriter(tmp_path), clock, model=Toxic())
    return chat, clock, enforcer, store


def test_sanitise_removes_invisible_and_control_characters() -> None:
    assert sanitise("  he\u200bllo\u202e\x07 ") == "hello"
    assert sanitise("a\n\n\n\n\nb") == "a\n\nb"
    assert sanitise("ｆｕｌｌ") == "full"  # NFKC folds look-alikes
    hostile = "<img src=x onerror=alert(1)> héllo 👋"
    assert sanitise(hostile) == hostile  # markup is the client's job: it renders text


async def test_clean_messages_pass_unchanged(tmp_path: Path) -> None:
    chat, _, _, _ = build(tmp_path)
    outcome = await chat.review(SENDER, "m1", "hello there")
    assert (outcome.text, outcome.flagged) == ("hello there", False)


async def test_flagged_words_are_censored_and_count_as_strikes(tmp_path: Path) -> None:
    chat, _, _, _ = build(tmp_path, blocked_words=["Frob"])
    outcome = await chat.review(SENDER, "m1", "you frob, you idiot!")
    assert outcome.flagged and outcome.reason == "word"
    assert outcome.text == "you f***, you i****!"
    assert outcome.strikes == 1
    assert chat.stats.messages_flagged["word"] == 1


async def test_toxic_message_without_toxic_words_is_censored_whole(tmp_path: Path) -> None:
    class WholeOnly:
        def probabilities(self, texts: Sequence[str]) -> list[float]:
            return [0.99] + [0.0] * (len(texts) - 1)

    chat, _, _, _ = build(tmp_path)
    chat.model = WholeOnly()
    outcome = await chat.review(SENDER, "m1", "go away now")
    assert outcome.flagged and outcome.reason == "toxicity"
    assert outcome.text == "g* a*** n**"


async def test_repeated_flags_within_the_window_ban_with_text_evidence(tmp_path: Path) -> None:
    chat, clock, enforcer, store = build(tmp_path, strikes_to_ban=3, strike_window_s=60)
    await chat.review(SENDER, "m1", "idiot")
    await clock.advance(61)  # the first strike expires
    await chat.review(SENDER, "m1", "idiot 2")
    outcome = await chat.review(SENDER, "m2", "idiot 3")
    assert not outcome.banned and outcome.strikes == 2
    outcome = await chat.review(SENDER, "m2", "idiot 4")
    assert outcome.banned
    (ban,) = enforcer.bans
    assert ban.source == "text" and ban.ip == SENDER.ip
    evidence = await store.evidence(ban.evidence_id or "")
    assert evidence is not None and evidence.kind == "text"
    assert (tmp_path / evidence.path).read_text() == "idiot 2\nidiot 3\nidiot 4"


async def test_disabled_text_moderation_only_sanitises(tmp_path: Path) -> None:
    chat, _, _, _ = build(tmp_path, enabled=False)
    outcome = await chat.review(SENDER, "m1", "idiot\u200b")
    assert (outcome.text, outcome.flagged) == ("idiot", False)
