"""Duet's load tester and micro-benchmarks, run as ``duet bench ...`` (docs/benchmarks.md).

- ``duet bench calls``: synthetic callers against a running node (:mod:`benchmarks.calls`);
- ``duet bench matching``: the real matchmaker in-process (:mod:`benchmarks.matching`).

Nothing here runs inside a Duet node; ``duet.cli`` only delegates to
:mod:`benchmarks.cli`, which imports the heavy parts when a benchmark actually runs.
"""
