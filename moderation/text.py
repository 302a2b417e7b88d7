"""Chat text: sanitise, a word filter, an offline toxicity model, strikes toward a ban.

A flagged message still reaches the partner, censored; the sender gets a ``warning``;
``strikes_to_ban`` flagged messages within ``strike_window_s`` ban the sender (with the
messages as evidence). The toxicity model is alt-profanity-check's linear model (shipped
inside its wheel, ~1 s to load, ~5 ms per message with its words): it runs in a thread,
never on the event loop, and is loaded in the background at start.
"""

from __future__ import annotations

import asyncio
import logging
import re
import unicodedata
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from duet.person import Person
from moderation.clock import Clock
from moderation.evidence import EvidenceWriter
from moderation.sanctions import Sanctions
from moderation.settings import TextSettings
from moderation.shared import SharedStrikes
from moderation.stats import ModerationStats

logger = logging.getLogger(__name__)

# Zero-width and bidirectional-override characters used to dodge filters or spoof text.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
_WORD = re.compile(r"\w+", re.UNICODE)


def sanitise(text: str) -> str:
    """NFKC-normalise, drop control and invisible characters (keep newlines and tabs),
    collapse runs of blank lines, strip. The client still renders chat as text, not HTML."""
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE.sub("", text)
    text = "".join(
        c for c in text if c in "\n\t" or unicodedata.category(c) not in ("Cc", "Cf", "Cs")
    )
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


def mask(word: str) -> str:
    return word[0] + "*" * (len(word) - 1) if len(word) > 1 else "*"


class ToxicityModel(Protocol):
    def probabilities(self, texts: Sequence[str]) -> list[float]:
        """Probability that each text is offensive."""
        ...


class ProfanityCheckModel:
    """alt-profanity-check (its model ships in the wheel and loads when imported)."""

    def __init__(self) -> None:
        from profanity_check import predict_prob

        self._predict = predict_prob

    def probabilities(self, texts: Sequence[str]) -> list[float]:
        return [float(p) for p in self._predict(list(texts))]


@dataclass(frozen=True)
class ChatOutcome:
    text: str
    """What the partner receives (censored if flagged)."""
    flagged: bool = False
    reason: str = ""
    strikes: int = 0
    banned: bool = False


class ChatModerator:
    """Checks each chat message of a visitor. One instance per process."""

    def __init__(
        self,
        settings: TextSettings,
        sanctions: Sanctions,
        evidence: EvidenceWriter,
        clock: Clock,
        model: ToxicityModel | None = None,
    ) -> None:
        self.settings = settings
        self.sanctions = sanctions
        self.evidence = evidence
        self.clock = clock
        self.model = model
        self.stats: ModerationStats = sanctions.stats
        self._blocked = {w.casefold() for w in settings.blocked_words}
        self._strikes: dict[str, deque[tuple[float, str]]] = {}
        self.shared: SharedStrikes | None = None
        """With ``redis_url``: strikes of all nodes, per session (else visitor)."""
        self._loading: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Load the default toxicity model in a thread (when none was given)."""
        if self.settings.enabled and self.model is None:
            self._loading = asyncio.ensure_future(self._load())

    async def _load(self) -> None:
        try:
            self.model = await asyncio.to_thread(ProfanityCheckModel)
            logger.info("chat toxicity model loaded")
        except Exception:
            logger.exception("chat toxicity model failed to load; only the word filter runs")

    async def close(self) -> None:
        if self._loading is not None:
            self._loading.cancel()

    def visitor_left(self, visitor: str) -> None:
        self._strikes.pop(visitor, None)

    async def review(self, subject: Person, match: str | None, text: str) -> ChatOutcome:
        """Sanitise and check one message; records a strike (and bans) when flagged."""
        clean = sanitise(text)
        if not self.settings.enabled or not clean:
            return ChatOutcome(clean)
        self.stats.messages_checked += 1
        words = list(dict.fromkeys(m.group(0) for m in _WORD.finditer(clean)))
        bad = {w for w in words if w.casefold() in self._blocked}
        reason = "word" if bad else ""
        model = self.model
        if model is not None:
            scores = await asyncio.to_thread(model.probabilities, [clean, *words])
            threshold = self.settings.toxicity_threshold
            toxic_words = {w for w, p in zip(words, scores[1:], strict=True) if p >= threshold}
            if scores[0] >= threshold or toxic_words:
                reason = reason or "toxicity"
                bad |= toxic_words
                if not bad:
                    bad = set(words)  # offensive as a whole: censor every word
        if not reason:
            return ChatOutcome(clean)
        self.stats.messages_flagged[reason] += 1
        censored = _WORD.sub(lambda m: mask(m.group(0)) if m.group(0) in bad else m.group(0), clean)
        if self.shared is not None:
            person = subject.session or subject.visitor
            messages = await self.shared.add(person, clean)
            strikes = len(messages)
            banned = strikes >= self.settings.strikes_to_ban
            if banned:
                await self.shared.clear(person)
                await self._ban(subject, match, strikes, messages)
            return ChatOutcome(censored, True, reason, strikes, banned)
        strikes = self._strike(subject.visitor, clean)
        banned = strikes >= self.settings.strikes_to_ban
        if banned:
            await self._ban(subject, match, strikes)
        return ChatOutcome(censored, True, reason, strikes, banned)

    def _strike(self, visitor: str, text: str) -> int:
        now = self.clock.now()
        window = self._strikes.setdefault(
            visitor, deque(maxlen=max(16, self.settings.strikes_to_ban))
        )
        window.append((now, text))
        while window and window[0][0] < now - self.settings.strike_window_s:
            window.popleft()
        return len(window)

    async def _ban(
        self,
        subject: Person,
        match: str | None,
        strikes: int,
        messages: list[str] | None = None,
    ) -> None:
        local = [text for _, text in self._strikes.pop(subject.visitor, deque())]
        messages = local if messages is None else messages
        reason = f"{strikes} flagged chat messages within {self.settings.strike_window_s:g} s"
        try:
            evidence = await self.evidence.text(subject.visitor, match, messages, reason)
            await self.sanctions.ban(
                subject, reason, "text", self.settings.ban_duration_s, evidence
            )
        except Exception:
            logger.exception("moderation could not record a chat ban for %s", subject.visitor)
