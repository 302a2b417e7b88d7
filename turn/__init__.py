"""TURN for browsers: time-limited coturn credentials and the ICE server list.

turn never imports signaling, sfu or moderation.
"""

from turn.credentials import TurnCredential, make_credential, turn_password
from turn.ice import ice_configuration
from turn.settings import TurnSettings

__all__ = [
    "TurnCredential",
    "TurnSettings",
    "ice_configuration",
    "make_credential",
    "turn_password",
]
