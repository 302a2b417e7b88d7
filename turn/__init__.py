"""TURN for browsers: time-limited coturn credentials, the nearest relays, coturn config.

turn never imports signaling, sfu or moderation.
"""

from turn.credentials import TurnCredential, make_credential, turn_password
from turn.ice import IceServers, ice_configuration, region_urls
from turn.settings import TurnRegion, TurnSettings

__all__ = [
    "IceServers",
    "TurnCredential",
    "TurnRegion",
    "TurnSettings",
    "ice_configuration",
    "make_credential",
    "region_urls",
    "turn_password",
]
