"""Renders the Grafana dashboard (``helm/lec-connector/files/dashboard-overview.json``) from a Prometheus into a PNG.

Each panel is drawn where its ``gridPos`` puts it on Grafana's 24-column grid, from the panel's own PromQL evaluated
over a time range with Prometheus's ``query_range``. It shows what the dashboard shows without a Grafana, and lets
a test prove that every panel's query returns data from the running stack.

    python -m devstack.dashboard --prometheus http://127.0.0.1:9090 --minutes 15 --out dashboard.png
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from devstack.prometheus import DASHBOARD, PrometheusApi

GRID_COLUMNS = 24
RATE_INTERVAL = "$__rate_interval"


@dataclass(frozen=True)
class PanelQuery:
    expr: str
    legend: str


@dataclass(frozen=True)
class Panel:
    title: str
    kind: str
    unit: str
    grid: dict[str, int]
    queries: list[PanelQuery]


def load_panels(rate_interval: str, path: Path = DASHBOARD) -> list[Panel]:
    """The dashboard's panels with Grafana's ``$__rate_interval`` replaced by ``rate_interval`` (e.g. ``1m``)."""
    dashboard = json.loads(path.read_text())
    return [Panel(
        title=panel["title"], kind=panel["type"], unit=panel.get("fieldConfig", {}).get("defaults", {}).get("unit", ""),
        grid=panel["gridPos"],
        queries=[PanelQuery(target["expr"].replace(RATE_INTERVAL, rate_interval), target.get("legendFormat", ""))
                 for target in panel["targets"]],
    ) for panel in dashboard["panels"]]


def legend(template: str, labels: dict[str, str]) -> str:
    """Grafana's ``{{label}}`` legend templates."""
    text = template
    for name, value in labels.items():
        text = text.replace("{{" + name + "}}", value)
    return text or ", ".join(f"{k}={v}" for k, v in labels.items()) or "value"


def render(querier: PrometheusApi, out: Path, start: float, end: float, step_s: float, rate_interval: str,
           title: str = "LiveEngage connector: overview") -> dict[str, int]:
    """Draw every panel into ``out`` (PNG); return the number of series each panel's queries gave."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.gridspec import GridSpec

    panels = load_panels(rate_interval)
    rows = max(p.grid["y"] + p.grid["h"] for p in panels)
    figure = plt.figure(figsize=(20, rows * 0.42 + 1), dpi=90)
    figure.suptitle(f"{title}  ({time.strftime('%Y-%m-%d %H:%M', time.gmtime(start))}"
                    f" to {time.strftime('%H:%M UTC', time.gmtime(end))})", fontsize=14)
    grid = GridSpec(rows, GRID_COLUMNS, figure=figure, hspace=2.6, wspace=1.6, top=0.95, bottom=0.04, left=0.04,
                    right=0.99)
    series_per_panel: dict[str, int] = {}
    for panel in panels:
        x, y, w, h = (panel.grid[k] for k in ("x", "y", "w", "h"))
        axes = figure.add_subplot(grid[y:y + h - 1, x:x + w])
        axes.set_title(panel.title, fontsize=10, loc="left")
        count, last = 0, 0.0
        for query in panel.queries:
            for series in querier.query_range(query.expr, start, end, step_s):
                points = [(float(t) - end, float(v)) for t, v in series["values"] if v not in ("NaN", "+Inf")]
                if not points:
                    continue
                count += 1
                times, values = zip(*points)
                last = values[-1]
                axes.plot([t / 60 for t in times], values, label=legend(query.legend, series["metric"]))
        series_per_panel[panel.title] = count
        if panel.kind == "stat" and count:
            axes.text(0.98, 0.85, f"{last * 100:.1f}%" if panel.unit == "percentunit" else f"{last:g}",
                      transform=axes.transAxes, ha="right", fontsize=16)
        if count == 0:
            axes.text(0.5, 0.5, "no data", transform=axes.transAxes, ha="center", color="grey")
        axes.set_xlabel("minutes", fontsize=8)
        axes.set_ylabel(panel.unit, fontsize=8)
        axes.tick_params(labelsize=7)
        axes.grid(alpha=0.3)
        if count:
            axes.legend(fontsize=6, loc="upper left", ncol=2 if count > 4 else 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out)
    plt.close(figure)
    return series_per_panel


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.dashboard", description=__doc__.splitlines()[0])
    parser.add_argument("--prometheus", default="http://127.0.0.1:9090")
    parser.add_argument("--minutes", type=float, default=15.0, help="how far back from now")
    parser.add_argument("--rate-interval", default="1m", help="what Grafana's $__rate_interval stands for")
    parser.add_argument("--out", type=Path, default=Path("dashboard.png"))
    args = parser.parse_args(argv)
    end = time.time()
    start = end - args.minutes * 60
    prometheus = PrometheusApi(args.prometheus)
    try:
        counts = render(prometheus, args.out, start, end, max(args.minutes * 60 / 300, 1.0), args.rate_interval)
    finally:
        prometheus.close()
    for title, count in counts.items():
        print(f"{count:4d} series  {title}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
