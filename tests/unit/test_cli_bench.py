"""``duet bench moderation`` is wired whether or not another command added ``bench``."""

from __future__ import annotations

import argparse

from signaling.cli import add_bench_moderation, build_parser


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
