"""Settings (TOML + environment, validated by pydantic) and the node's secret keys.

The bottom of ``signaling``: every other subpackage may read its settings models, it
imports none of them.
"""
