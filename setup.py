"""Duet's one compiled part; everything else is declared in pyproject.toml.

``sfu/_native.c`` is the packet path in C (``forwarding = "packets"``). It is built with the
system's C compiler when Duet is installed (``make run`` / ``make test`` / ``pip install``);
it is optional: where it cannot be built, the install goes on and Duet forwards on the
Python fast path (``/healthz``'s ``packet_path`` says which).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("sfu._native", ["sfu/_native.c"], optional=True, extra_compile_args=["-O2"])
    ]
)
