"""The Grafana dashboard is importable and uses only documented metrics."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).parents[2]
DASHBOARD = ROOT / "configs" / "grafana-dashboard.json"
METRICS_DOC = ROOT / "docs" / "metrics.md"


def test_dashboard_has_a_datasource_variable_used_by_every_panel() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert len(panels) >= 10
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in panels:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}"


def test_dashboard_metrics_are_documented() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    documented = METRICS_DOC.read_text()
    used: set[str] = set()
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            used |= set(re.findall(r"\b((?:duet|process)_[a-z_]+)", target["expr"]))
    assert used
    for name in sorted(used):
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        assert f"`{base}`" in documented, name
