"""``duet bench moderation`` is wired whether or not another command added ``bench``."""

from __future__ import annotations

import argparse

from duet.cli import add_bench_moderation, build_parser


def test_bench_moderation_parses() -> None:
    args = build_parser().parse_args(["bench", "moderation", "--workers", "2", "--seconds", "3"])
    assert (args.workers, args.seconds) == (2, 3.0)
    assert callable(args.func)


def test_bench_moderation_joins_an_existing_bench_command() -> None:
    parser = argparse.ArgumentParser(prog="duet")
    commands = parser.add_subparsers(dest="command", required=True)
    bench = commands.add_parser("bench")
    bench_commands = bench.add_subparsers(dest="bench_command", required=True)
    calls = bench_commands.add_parser("calls")
    calls.set_defaults(func=lambda args: 0)
    add_bench_moderation(commands)
    assert parser.parse_args(["bench", "calls"]).bench_command == "calls"
    assert parser.parse_args(["bench", "moderation"]).bench_command == "moderation"


def test_bench_hostile_parses() -> None:
    args = build_parser().parse_args(
        ["bench", "hostile", "--url", "http://127.0.0.1:1", "--messages", "10", "--sockets", "2"]
    )
    assert (args.url, args.messages, args.sockets, args.seed) == ("http://127.0.0.1:1", 10, 2, 1)
    assert callable(args.func)


def test_bench_hostile_mix_is_seeded_and_never_closes_the_socket() -> None:
    import random

    from benchmarks.hostile import CATALOGUE
    from benchmarks.hostile_bench import random_frame

    first = [random_frame(random.Random(7)) for _ in range(1)]
    again = [random_frame(random.Random(7)) for _ in range(1)]
    assert first == again
    rng = random.Random(3)
    frames = [random_frame(rng) for _ in range(3_000)]
    closing = {c.frame for c in CATALOGUE if c.close is not None}
    assert not closing & set(frames)
    assert max(len(f) for f in frames) < 1_000_000  # under the WebSocket layer's cap
    assert any(isinstance(f, bytes) for f in frames) and any(isinstance(f, str) for f in frames)


def test_bench_hostile_fails_on_internal_or_health() -> None:
    from benchmarks.hostile_bench import Health, verdict

    healthy = Health(latencies_ms=[3.0, 4.0])
    assert verdict([], 0, healthy) == []
    assert verdict([], 2, healthy) == ["2 answer(s) 'internal'"]
    assert verdict(["catalogue x: ..."], 0, healthy) == ["catalogue x: ..."]
    assert verdict([], 0, Health(latencies_ms=[5.0], failures=["/healthz answered 503"]))
    assert verdict([], 0, Health()) == ["/healthz never answered"]
