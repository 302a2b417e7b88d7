"""Endpoints of the reviewer API: each validates its input (pydantic) and delegates."""
