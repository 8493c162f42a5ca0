"""The report's PNG plots (matplotlib, Agg, no pyplot state), each drawn only where its data exists.

- revenue and margin per MW by use (from the run's economics);
- SHA-256d throughput per watt, ASIC vs GPU vs CPU, on a log scale;
- the sensitivity heatmap (AI margin minus mining margin) with its break-even line;
- GEMM efficiency (fraction of peak, else FLOP/s) vs size, one line per backend.
"""

from __future__ import annotations

import io
from collections import defaultdict

from bench.report.site import USE_NAMES
from bench.results import Result

KIND_COLOURS = {"asic": "#e69f00", "gpu": "#009e73", "cpu": "#0072b2"}


def _text(value) -> str:
    """A data string as literal plot text: matplotlib would read `$...$` as mathtext."""
    return str(value).replace("$", r"\$")


def _figure(width: float = 8.0, height: float = 4.5):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def revenue_margin(economics: dict | None) -> bytes | None:
    """Horizontal bars, one group per use and profile (there can be dozens), best margin on top."""
    rows = [r for r in (economics or {}).get("uses") or [] if r.get("revenue_usd_per_mw_year") is not None]
    if not rows:
        return None
    rows.sort(key=lambda r: r.get("margin_usd_per_mw_year") or 0.0)
    fig = _figure(9, max(3.5, 0.32 * len(rows) + 1.5))
    ax = fig.add_subplot()
    labels = [_text(f"{USE_NAMES.get(r.get('use'), r.get('use'))}: {r.get('name') or r.get('profile') or ''}")
              for r in rows]
    series = (("revenue", "revenue_usd_per_mw_year", "#4c72b0"), ("power cost", "power_cost_usd_per_mw_year", "#c44e52"),
              ("margin", "margin_usd_per_mw_year", "#55a868"))
    height = 0.27
    for i, (name, key, colour) in enumerate(series):
        ys = [j + (1 - i) * height for j in range(len(rows))]
        ax.barh(ys, [(r.get(key) or 0.0) / 1e6 for r in rows], height, label=name, color=colour)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(range(len(rows)), labels, fontsize=7)
    ax.set_xlabel("million USD per MW of facility power per year")
    ax.set_title("Revenue, power cost and margin per MW by use")
    ax.legend(loc="lower right")
    return _png(fig)


def efficiency(economics: dict | None) -> bytes | None:
    rows = [r for r in (economics or {}).get("mining_efficiency") or [] if r.get("j_per_th")]
    if not rows:
        return None
    rows.sort(key=lambda r: 1 / r["j_per_th"])
    fig = _figure(8, max(3.0, 0.3 * len(rows) + 1.2))
    ax = fig.add_subplot()
    values = [1e12 / r["j_per_th"] for r in rows]
    colours = [KIND_COLOURS.get(r.get("kind"), "#777777") for r in rows]
    ax.barh(range(len(rows)), values, color=colours)
    ax.set_yticks(range(len(rows)), [_text(f"{r.get('name', '')} ({r.get('basis', '')})") for r in rows], fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("SHA-256d hashes per joule (log scale; higher is better)")
    ax.set_title("Mining throughput per watt: ASIC vs GPU vs CPU")
    for kind, colour in KIND_COLOURS.items():
        if any(r.get("kind") == kind for r in rows):
            ax.bar([0], [0], color=colour, label=kind.upper(), width=0)
    ax.legend(loc="lower right")
    return _png(fig)


def sensitivity(economics: dict | None) -> bytes | None:
    grid = (economics or {}).get("sensitivity")
    if not grid or not grid.get("z"):
        return None
    import numpy as np

    xs, ys, z = np.asarray(grid["xs"], float), np.asarray(grid["ys"], float), np.asarray(grid["z"], float)
    fig = _figure(7, 5)
    ax = fig.add_subplot()
    from matplotlib.colors import TwoSlopeNorm

    low, high = float(np.nanmin(z)) / 1e6, float(np.nanmax(z)) / 1e6
    limit = max(abs(low), abs(high)) or 1.0
    # white at zero; each sign gets its own full colour range, so a small losing corner still shows red
    norm = TwoSlopeNorm(0.0, min(low, -limit * 1e-3), max(high, limit * 1e-3))
    mesh = ax.pcolormesh(xs, ys, z / 1e6, cmap="RdBu", norm=norm, shading="auto")
    fig.colorbar(mesh, ax=ax, label=_text(grid.get("z_label", "difference, million USD per MW-year")))
    if np.nanmin(z) < 0 < np.nanmax(z):
        ax.contour(xs, ys, z, levels=[0.0], colors="black", linewidths=1.5)
    if grid.get("y_scale") == "log":
        ax.set_yscale("log")
    ax.set_xlabel(_text(grid.get("x_label", "x")))
    ax.set_ylabel(_text(grid.get("y_label", "y")))
    ax.set_title(_text(grid.get("title", "Sensitivity (black line: break-even)")))
    return _png(fig)


def gemm_efficiency(results: list[Result]) -> bytes | None:
    """Square shapes as lines, other shapes (Llama layers, DeepBench) as hollow markers of the same colour."""
    lines: dict[str, list[Result]] = defaultdict(list)
    for r in results:
        p = r.params or {}
        if r.workload == "gemm" and r.verified and {"m", "n", "k"} <= p.keys():
            lines[f"{r.backend}:{r.device_index} {p.get('dtype', '')}".strip()].append(r)
    if not lines:
        return None
    use_peak = all(r.fraction_of_peak is not None for v in lines.values() for r in v)
    fig = _figure(8, 4.5)
    ax = fig.add_subplot()

    def size(r: Result) -> float:
        return (r.params["m"] * r.params["n"] * r.params["k"]) ** (1 / 3)

    for label, rs in sorted(lines.items()):
        rs.sort(key=size)
        y = (lambda r: r.fraction_of_peak) if use_peak else (lambda r: r.value)
        square = [r for r in rs if r.params["m"] == r.params["n"] == r.params["k"]]
        other = [r for r in rs if r not in square]
        line = ax.plot([size(r) for r in square], [y(r) for r in square], marker="o", label=_text(label))
        colour = line[0].get_color()
        ax.scatter([size(r) for r in other], [y(r) for r in other], facecolors="none", edgecolors=colour)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("size: (m·n·k)^(1/3); lines: square shapes, hollow markers: Llama / DeepBench shapes")
    if use_peak:
        ax.set_ylabel("fraction of the device's dense peak")
    else:
        ax.set_yscale("log")
        ax.set_ylabel("FLOP/s")
    ax.set_title("GEMM efficiency vs size per backend")
    ax.legend(fontsize=7)
    return _png(fig)


def all_plots(economics: dict | None, results: list[Result]) -> dict[str, tuple[str, bytes]]:
    """file name -> (caption, PNG bytes), for the plots that have data."""
    made = {
        "revenue_margin.png": ("Revenue, power cost and margin per MW by use", revenue_margin(economics)),
        "efficiency.png": ("SHA-256d hashes per joule: ASIC vs GPU vs CPU (log scale)", efficiency(economics)),
        "sensitivity.png": ("Sensitivity heatmap with the break-even line", sensitivity(economics)),
        "gemm_efficiency.png": ("GEMM efficiency vs size per backend", gemm_efficiency(results)),
    }
    return {name: (caption, png) for name, (caption, png) in made.items() if png is not None}
