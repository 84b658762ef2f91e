"""The v2 line's curve across cycles: full-report SEG of each kept model against the crops its lineage had seen.

python -m cellseg.training.line_curve docs/reports/v2_line.json --png docs/figures/curve_v2_line.png
python -m cellseg.training.line_curve docs/reports/v2_line.json --add "cycle 12 (step N)" CROPS \
    docs/reports/v2_cycle12.json

Each cycle's validation curve (``training/curve.py``) covers one run on 4 frames a set; the run folders do not
outlive their machines. This one joins what was kept: every model on the line, scored on every validation frame
with sizes estimated, as the cycles' judgements recorded them (``docs/reports/``, ``docs/experiments.md``), on a
log x axis: a curve that still climbs says more data and compute still help; a flat one says they no longer do.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .curve import colour, figure, finish


def mean(point: dict, sets: list[str]) -> float:
    """The point's mean SEG over ``sets`` (every one must be there: a mean over fewer sets is another figure)."""
    missing = [s for s in sets if s not in point["seg"]]
    if missing:
        raise SystemExit(f"{point['model']}: no SEG for {', '.join(missing)}")
    return sum(point["seg"][s] for s in sets) / len(sets)


def add(doc: dict, model: str, crops: int, report: str | Path) -> dict:
    """A judged cycle's point from its report's file (``docs/reports/<run>.json``, the candidate's column)."""
    seg = {s: round(v["SEG"], 4) for s, v in json.loads(Path(report).read_text())["report"]["model"].items()}
    doc["points"] = [p for p in doc["points"] if p["model"] != model] + [
        {"model": model, "crops_in_all": crops, "source": f"{report}, model", "seg": seg}
    ]
    doc["points"].sort(key=lambda p: p["crops_in_all"])
    return doc


def table(doc: dict) -> str:
    sets = doc["mean_over"]
    out = ["| model | crops in all | mean of " + str(len(sets)) + " | " + " | ".join(sets) + " |"]
    out.append("|---" * (3 + len(sets)) + "|")
    for p in doc["points"]:
        cells = " | ".join(f"{p['seg'][s]:.3f}" for s in sets)
        out.append(f"| {p['model']} | {p['crops_in_all']:,} | {mean(p, sets):.3f} | {cells} |")
    return "\n".join(out)


def plot(doc: dict, png: str | Path) -> None:
    sets, points = doc["mean_over"], doc["points"]
    crops = [p["crops_in_all"] for p in points]
    fig, ax = figure()
    for i, s in enumerate(sets):
        ax.plot(crops, [p["seg"][s] for p in points], marker=".", lw=1, label=s, color=colour(i))
    ax.plot(crops, [mean(p, sets) for p in points], color="k", lw=2.5, marker="o", label=f"mean of {len(sets)}")
    if doc.get("baseline_mean") is not None:
        ax.axhline(doc["baseline_mean"], color="grey", ls="--", lw=1, label="classical baseline, mean")
    finish(fig, ax, png, "training crops seen by the model's lineage (log scale)",
           "validation SEG (every frame, sizes estimated)")  # fmt: skip


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("points", help="the line's points (docs/reports/v2_line.json)")
    p.add_argument("--add", nargs=3, metavar=("MODEL", "CROPS", "REPORT"), help="add a judged cycle, then save")
    p.add_argument("--png", help="also plot it here")
    a = p.parse_args(argv)
    doc = json.loads(Path(a.points).read_text())
    if a.add:
        doc = add(doc, a.add[0], int(a.add[1]), a.add[2])
        Path(a.points).write_text(json.dumps(doc, indent=1) + "\n")
    print(table(doc))
    if a.png:
        plot(doc, a.png)
        print(f"plot: {a.png}")
    return doc


if __name__ == "__main__":
    main()
