"""The report's PNG plots (matplotlib, Agg, no pyplot state), each drawn only where its data exists.

Pictures that answer, readable at a glance (labels of 9 pt or more, values where they matter, at most
10 series per chart):
- the strategies' NPV per MW (the plan), values on the bars;
- the cumulative cash of each strategy over the horizon, payback marked;
- revenue, power cost and margin per MW for the best profile of each use (from the run's economics);
- the sensitivity map (GPUaaS margin minus mining margin) with today's point and the break-even line;
- SHA-256d J/TH, ASICs vs this machine, on a log scale;
- GEMM FLOP/s vs size per backend, one panel per dtype, with the device's peak drawn;
- inference tokens per second vs batch, prefill and decode.
"""

from __future__ import annotations

import io
import re
from collections import defaultdict

from bench.console import si, usd
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
    """Revenue, power cost and margin per MW for the best profile of each use, values on the bars."""
    best: dict[str, dict] = {}
    for r in (economics or {}).get("uses") or []:
        if r.get("revenue_usd_per_mw_year") is None:
            continue
        held = best.get(r.get("use"))
        if held is None or (r.get("margin_usd_per_mw_year") or 0.0) > (held.get("margin_usd_per_mw_year") or 0.0):
            best[r.get("use")] = r
    rows = sorted(best.values(), key=lambda r: r.get("margin_usd_per_mw_year") or 0.0)
    if not rows:
        return None
    fig = _figure(9, 1.1 * len(rows) + 1.6)
    ax = fig.add_subplot()
    labels = [_text(f"{USE_NAMES.get(r.get('use'), r.get('use'))}\n{r.get('name') or r.get('profile') or ''}")
              for r in rows]
    series = (("revenue", "revenue_usd_per_mw_year", "#4c72b0"), ("power cost", "power_cost_usd_per_mw_year", "#c44e52"),
              ("margin", "margin_usd_per_mw_year", "#55a868"))
    height = 0.27
    for i, (name, key, colour) in enumerate(series):
        ys = [j + (1 - i) * height for j in range(len(rows))]
        values = [(r.get(key) or 0.0) / 1e6 for r in rows]
        bars = ax.barh(ys, values, height, label=name, color=colour)
        ax.bar_label(bars, [f"{v:.2f}" for v in values], padding=2, fontsize=9)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(range(len(rows)), labels, fontsize=9)
    ax.set_xlabel("million USD per MW of facility power per year")
    ax.set_title("Best profile per use: revenue, power cost and margin per MW")
    ax.legend(loc="lower right", fontsize=9)
    ax.margins(x=0.15)
    return _png(fig)


def _per_mw(strategy: dict, key: str):
    value = (strategy.get("per_mw") if isinstance(strategy.get("per_mw"), dict) else {}).get(key)
    return value if isinstance(value, (int, float)) else None


def npv_bars(plan: dict | None) -> bytes | None:
    """The strategies' NPV per MW (whole-site NPV where the plan gives no per-MW figure), best on top."""
    strategies = [s for s in (plan or {}).get("strategies") or [] if isinstance(s, dict)]
    per_mw = all(_per_mw(s, "npv_usd") is not None for s in strategies)
    rows = [(str(s.get("name", "?")), _per_mw(s, "npv_usd") if per_mw else s.get("npv_usd")) for s in strategies]
    rows = sorted([(n, v) for n, v in rows if isinstance(v, (int, float))], key=lambda nv: nv[1])
    if not rows:
        return None
    fig = _figure(8, 0.6 * len(rows) + 1.8)
    ax = fig.add_subplot()
    values = [v / 1e6 for _, v in rows]
    bars = ax.barh(range(len(rows)), values, color=["#55a868" if v >= 0 else "#c44e52" for v in values])
    ax.bar_label(bars, [usd(v * 1e6) for v in values], padding=3, fontsize=10)
    ax.set_yticks(range(len(rows)), [_text(n) for n, _ in rows], fontsize=10)
    ax.axvline(0, color="black", linewidth=0.8)
    rate = (plan or {}).get("discount_rate")
    ax.set_xlabel(f"NPV, million USD {'per MW of facility power' if per_mw else 'for the whole site'}"
                  + (f" (discounted at {rate:.0%} a year)" if isinstance(rate, (int, float)) else ""))
    ax.set_title("Which strategy is worth most: NPV per strategy")
    ax.margins(x=0.2)
    return _png(fig)


def cash_flow_curves(plan: dict | None) -> bytes | None:
    """Cumulative net cash of each strategy over the horizon (whole site), its payback month marked."""
    strategies = [s for s in (plan or {}).get("strategies") or [] if isinstance(s, dict) and s.get("cash_flows")]
    if not strategies:
        return None
    fig = _figure(9, 5)
    ax = fig.add_subplot()
    for s in strategies[:10]:
        flows = [f for f in s["cash_flows"] if isinstance(f, dict) and isinstance(f.get("net_usd"), (int, float))]
        months, total, cumulative = [], 0.0, []
        for f in flows:
            total += f["net_usd"]
            months.append(f.get("month", len(months)))
            cumulative.append(total / 1e6)
        payback = s.get("payback_month")
        paid = isinstance(payback, (int, float)) and payback in months
        label = f"{s.get('name', '?')} (payback {payback / 12:.1f} yr)" if paid else f"{s.get('name', '?')} (never pays back)"
        years = [m / 12 for m in months]
        line = ax.plot(years, cumulative, label=_text(label), linewidth=1.8)
        if paid:
            ax.plot([payback / 12], [cumulative[months.index(payback)]], marker="o", markersize=8,
                    color=line[0].get_color())
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xlabel("years from today")
    ax.set_ylabel("cumulative net cash, million USD (whole site)")
    ax.set_title("Cash over the horizon: cumulative net cash per strategy (dot: payback)")
    ax.legend(fontsize=9)
    return _png(fig)


def _jth_label(row: dict) -> str:
    return si(row["j_per_th"], "J/TH")


def efficiency(economics: dict | None) -> bytes | None:
    rows = [r for r in (economics or {}).get("mining_efficiency") or [] if r.get("j_per_th")]
    if not rows:
        return None
    asics = sorted((r for r in rows if r.get("kind") == "asic"), key=lambda r: r["j_per_th"])
    rows = [*asics[:3], *asics[-1:], *(r for r in rows if r.get("kind") != "asic")][:10]  # best, worst ASIC, lab
    rows = list({id(r): r for r in rows}.values())
    rows.sort(key=lambda r: 1 / r["j_per_th"])
    fig = _figure(8, max(3.0, 0.3 * len(rows) + 1.2))
    ax = fig.add_subplot()
    values = [1e12 / r["j_per_th"] for r in rows]
    colours = [KIND_COLOURS.get(r.get("kind"), "#777777") for r in rows]
    ax.barh(range(len(rows)), values, color=colours)
    ax.set_yticks(range(len(rows)), [_text(f"{r.get('name', '')} ({r.get('basis', '')})") for r in rows], fontsize=9)
    for i, v in enumerate(values):
        ax.annotate(f"{_jth_label(rows[i])}", (v, i), textcoords="offset points", xytext=(3, -3), fontsize=9)
    ax.set_xscale("log")
    ax.set_xlabel("SHA-256d hashes per joule (log scale; higher is better)")
    ax.set_title("Mining throughput per watt: ASIC vs GPU vs CPU")
    for kind, colour in KIND_COLOURS.items():
        if any(r.get("kind") == kind for r in rows):
            ax.bar([0], [0], color=colour, label=kind.upper(), width=0)
    ax.legend(loc="lower right")
    return _png(fig)


def today(economics: dict | None, plan: dict | None = None) -> tuple[float | None, float | None]:
    """Today's (BTC price, GPU-hour price) on the sensitivity map: the grid's own `x_today`/`y_today` where
    stored, else the market's BTC price and the GPU-hour price of the plan's flips or of the headline GPU."""
    economics = economics or {}
    grid = economics.get("sensitivity") or {}
    x, y = grid.get("x_today"), grid.get("y_today")
    if x is None:
        x = (economics.get("market") or {}).get("btc_price_usd")
    if y is None:
        y = next((f.get("today") for f in (plan or {}).get("flips") or []
                  if isinstance(f, dict) and f.get("input") == "gpu_hour_usd"), None)
    if y is None:
        gpu = (economics.get("headline") or {}).get("gpu")
        row = next((u for u in economics.get("uses") or [] if u.get("use") == "gpuaas" and u.get("profile") == gpu), {})
        found = re.match(r"\$([0-9.]+)/GPU-hour", str(row.get("basis", "")))
        y = float(found.group(1)) if found else None
    ok = lambda v: float(v) if isinstance(v, (int, float)) and v > 0 else None
    return ok(x), ok(y)


def sensitivity(economics: dict | None, plan: dict | None = None) -> bytes | None:
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
    x_today, y_today = today(economics, plan)
    if x_today is not None and y_today is not None:
        ax.plot([x_today], [y_today], marker="*", markersize=16, color="black", markerfacecolor="gold",
                linestyle="none", label="today")
        ax.annotate("today", (x_today, y_today), textcoords="offset points", xytext=(8, 6), fontsize=10)
    elif x_today is not None:
        ax.axvline(x_today, color="black", linestyle="--", linewidth=1.2, label="today's BTC price")
    if np.nanmin(z) < 0 < np.nanmax(z):
        ax.plot([], [], color="black", linewidth=1.5, label="break-even")
    if x_today is not None or np.nanmin(z) < 0 < np.nanmax(z):
        ax.legend(loc="upper right", fontsize=9)
    ax.set_xlabel(_text(grid.get("x_label", "x")))
    ax.set_ylabel(_text(grid.get("y_label", "y")))
    ax.set_title(_text(grid.get("title", "Sensitivity (black line: break-even)")))
    return _png(fig)


def _size(r: Result) -> float:
    return (r.params["m"] * r.params["n"] * r.params["k"]) ** (1 / 3)


def gemm_efficiency(results: list[Result]) -> bytes | None:
    """GEMM FLOP/s against size, one panel per dtype, one line per backend (square shapes; other shapes as
    hollow markers of the same colour), and each device's dense peak drawn as a dashed line."""
    usable = [r for r in results if r.workload == "gemm" and r.verified and {"m", "n", "k"} <= (r.params or {}).keys()]
    if not usable:
        return None
    dtypes = list(dict.fromkeys(str(r.params.get("dtype", "")) for r in usable))[:6]
    cols = min(3, len(dtypes))
    rows = -(-len(dtypes) // cols)
    fig = _figure(4.6 * cols, 3.8 * rows + 0.6)
    axes = fig.subplots(rows, cols, squeeze=False)
    backends = list(dict.fromkeys(f"{r.backend}:{r.device_index}" for r in usable))[:10]
    colours = {b: f"C{i}" for i, b in enumerate(backends)}
    for ax, dtype in zip(axes.flat, dtypes):
        lines: dict[str, list[Result]] = defaultdict(list)
        for r in usable:
            label = f"{r.backend}:{r.device_index}"
            if str(r.params.get("dtype", "")) == dtype and label in colours:
                lines[label].append(r)
        peaks = {}
        for label, rs in lines.items():
            rs.sort(key=_size)
            square = [r for r in rs if r.params["m"] == r.params["n"] == r.params["k"]]
            other = [r for r in rs if r not in square]
            ax.plot([_size(r) for r in square], [r.value for r in square], marker="o", color=colours[label],
                    label=_text(label))
            ax.scatter([_size(r) for r in other], [r.value for r in other], facecolors="none",
                       edgecolors=colours[label])
            peak = next(((r.extra or {}).get("peak_flop_per_s") for r in rs if (r.extra or {}).get("peak_flop_per_s")),
                        None)
            if isinstance(peak, (int, float)):
                peaks.setdefault(round(peak), rs[0].device)
        for peak, device in peaks.items():
            ax.axhline(peak, color="grey", linestyle="--", linewidth=1)
            ax.annotate(_text(f"peak {peak / 1e12:.3g} TFLOP/s ({device[:24]})"), (0.01, peak),
                        xycoords=("axes fraction", "data"), textcoords="offset points", xytext=(0, 3), fontsize=9)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_title(_text(dtype or "GEMM"), fontsize=11)
        ax.set_xlabel("size (m·n·k)^(1/3)", fontsize=10)
        ax.set_ylabel("FLOP/s", fontsize=10)
        ax.legend(fontsize=9, loc="lower right")
    for ax in list(axes.flat)[len(dtypes):]:
        ax.set_visible(False)
    fig.suptitle("GEMM FLOP/s vs size per backend (dashed: the device's dense peak; hollow: Llama/DeepBench shapes)",
                 fontsize=11)
    return _png(fig)


def inference(results: list[Result]) -> bytes | None:
    """Tokens per second against batch size, prefill and decode side by side, one line per backend and model."""
    usable = [r for r in results if r.workload == "inference" and r.verified and "phase" in (r.params or {})
              and isinstance(r.params.get("batch"), int)]
    if not usable:
        return None
    phases = [p for p in ("prefill", "decode") if any(r.params["phase"] == p for r in usable)]
    fig = _figure(5.2 * len(phases), 4.4)
    axes = fig.subplots(1, len(phases), squeeze=False)[0]
    for ax, phase in zip(axes, phases):
        lines: dict[str, list[Result]] = defaultdict(list)
        for r in usable:
            if r.params["phase"] == phase:
                lines[f"{r.backend}:{r.device_index} {r.params.get('model', '')}".strip()].append(r)
        for label, rs in list(lines.items())[:10]:
            rs.sort(key=lambda r: r.params["batch"])
            ax.plot([r.params["batch"] for r in rs], [r.value for r in rs], marker="o", label=_text(label))
            last = rs[-1]
            ax.annotate(f"{last.value:,.0f}", (last.params["batch"], last.value), textcoords="offset points",
                        xytext=(4, 0), fontsize=9)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        batches = sorted({r.params["batch"] for rs in lines.values() for r in rs})
        ax.set_xticks(batches, [str(b) for b in batches])
        ax.set_xlabel("batch (sequences)", fontsize=10)
        ax.set_ylabel("tokens per second", fontsize=10)
        ax.set_title(phase, fontsize=11)
        ax.legend(fontsize=9)
    fig.suptitle("AI inference: tokens per second vs batch", fontsize=11)
    return _png(fig)


def all_plots(economics: dict | None, results: list[Result], plan: dict | None = None) -> dict[str, tuple[str, bytes]]:
    """file name -> (caption, PNG bytes), for the plots that have data, the money first."""
    made = {
        "npv.png": ("NPV per strategy (the decision model's plan)", npv_bars(plan)),
        "cash_flows.png": ("Cumulative net cash per strategy, payback marked", cash_flow_curves(plan)),
        "revenue_margin.png": ("Best profile per use: revenue, power cost and margin per MW", revenue_margin(economics)),
        "sensitivity.png": ("Sensitivity map: today's point and the break-even line", sensitivity(economics, plan)),
        "efficiency.png": ("SHA-256d J/TH: ASICs vs this machine (log scale)", efficiency(economics)),
        "gemm_efficiency.png": ("GEMM FLOP/s vs size per backend, with the peak", gemm_efficiency(results)),
        "inference.png": ("Inference tokens per second vs batch, prefill and decode", inference(results)),
    }
    return {name: (caption, png) for name, (caption, png) in made.items() if png is not None}
