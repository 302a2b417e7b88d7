"""``GET /metrics``: the node's Prometheus metrics (docs/metrics.md lists them)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from signaling.service.metrics import CONTENT_TYPE_LATEST, Metrics


async def metrics(request: Request) -> Response:
    node_metrics: Metrics = request.app.state.services.metrics
    await node_metrics.refresh()
    return Response(node_metrics.render(), media_type=CONTENT_TYPE_LATEST)
