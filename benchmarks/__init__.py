"""Load tester and micro-benchmarks behind ``duet bench``."""
