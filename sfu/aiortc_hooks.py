"""Every place where Duet reaches into aiortc's or aioice's internals.

aiortc is pinned (see ``pyproject.toml``) to the versions these hooks were written for;
``tests/unit/test_aiortc_hooks.py`` fails loudly if an upgrade moves any of them. Nothing
else in Duet may touch a private attribute of aiortc or aioice: add the hook here, with a
comment saying what it relies on.
"""

from __future__ import annotations

from collections.abc import Sequence

import aioice.ice

# Hook 1 -- host candidate addresses.
# aioice gathers host candidates on the addresses returned by the module-level function
# ``aioice.ice.get_host_addresses(use_ipv4, use_ipv6)``, called from
# ``Connection.gather_candidates``. It never returns 127.0.0.1, so without this hook two
# peers on one machine talk over its non-loopback addresses. Replacing the function is
# process-wide: every peer connection of the process (SFU and test callers alike) gathers
# on the same addresses.
_ORIGINAL_GET_HOST_ADDRESSES = aioice.ice.get_host_addresses


def set_host_addresses(addresses: Sequence[str]) -> None:
    """Gather ICE host candidates only on ``addresses``; an empty list restores aioice's
    default (every non-loopback interface)."""
    if not addresses:
        aioice.ice.get_host_addresses = _ORIGINAL_GET_HOST_ADDRESSES
        return
    fixed = list(addresses)

    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [a for a in fixed if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]

    aioice.ice.get_host_addresses = get_host_addresses
