"""The running node: the Starlette app, the WebSocket handler, the HTTP API, metrics,
logs, and the composition root (:mod:`signaling.service.services`) that wires every
other package together. Nothing below imports it.
"""
