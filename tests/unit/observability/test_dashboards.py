"""The Grafana dashboard loads: unique panel ids, grid positions inside the 24 columns, balanced queries.

(That its queries use only metrics the functions expose is checked in tests/integration/observability.)
"""

from __future__ import annotations

import json

from tests.support.paths import ROOT

OBSERVABILITY = ROOT / "knative" / "observability"


def test_dashboard_loads_with_unique_panel_ids_and_grid_positions():
    dashboard = json.loads((OBSERVABILITY / "grafana-dashboard.json").read_text())
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    for panel in panels:
        assert {"h", "w", "x", "y"} <= panel["gridPos"].keys() and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        for target in panel.get("targets", []):
            assert target["expr"].count("(") == target["expr"].count(")"), target["expr"]
    titles = {p["title"] for p in panels if p["type"] == "row"}
    assert titles == {"RED per function", "Event pipeline", "Reminders", "Notifications", "Sockets and workers"}
