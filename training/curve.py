"""The validation curve of a run: SEG per set against steps and crops seen, as a table and a plot.

python -m cellseg.training.curve runs/generalist_v2 [--png docs/figures/curve_v2.png]
python -m cellseg.training.curve runs/gpu_v2 runs/v2_anneal+76000 runs/v2_continue+81000   # stages of one model

Reads ``val_curve.jsonl`` (one line per validation, written by the trainer). A model trained in stages
(each warm-started from the last one's checkpoint) is one curve: ``RUN+CROPS`` says how many crops the
weights it started from had seen, and its rows are shifted by that. The plot's x axis is the number of
training crops on a log scale, so a curve that still climbs on it says more data and steps would still
help (quality grows with the log of data and compute).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

META = ("run", "start", "step", "crops", "mean")


def read_curve(run: str | Path) -> list[dict]:
    """The rows of ``RUN/val_curve.jsonl``; ``RUN+CROPS`` adds CROPS to each row's crops and names the run."""
    folder, _, before = str(run).rpartition("+") if "+" in Path(str(run)).name else (str(run), "", "0")
    if not before.isdigit():
        raise SystemExit(f"{run}: expected RUN or RUN+CROPS (the crops its starting weights had seen)")
    path = Path(folder) / "val_curve.jsonl"
    if not path.is_file():
        raise SystemExit(f"{path}: no validation curve (the run has not validated yet)")
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    name, start = Path(folder).name, int(before)
    return [{**r, "run": name, "start": start, "crops": r["crops"] + start} for r in rows]


def on_path(stages: list[list[dict]]) -> list[dict]:
    """The rows of the weights the model went on from: a stage's validations after the point where the next
    stage started (it started from an earlier checkpoint) are a branch the final model did not take."""
    out = []
    for stage, after in zip(stages, stages[1:] + [[]]):
        out += [r for r in stage if not after or r["crops"] <= after[0]["start"]]
    return out


def table(rows: list[dict]) -> str:
    sets = [k for k in rows[0] if k not in META]
    out = ["| run | step | crops | mean | " + " | ".join(sets) + " |", "|---" * (4 + len(sets)) + "|"]
    for r in rows:
        cells = " | ".join(f"{r.get(s, float('nan')):.3f}" for s in sets)
        out.append(f"| {r['run']} | {r['step']} | {r['crops']:,} | {r['mean']:.3f} | {cells} |")
    return "\n".join(out)


def figure():
    """A figure and axes for a curve (headless: the Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(9, 4.5))


def colour(i: int):
    """The i-th set's colour: 20 distinct ones (matplotlib's default cycle repeats after 10)."""
    import matplotlib

    return matplotlib.colormaps["tab20"].colors[(2 * i) % 20 + (2 * i) // 20]


def finish(fig, ax, png: str | Path, xlabel: str, ylabel: str) -> None:
    """Log x axis, SEG from 0 to 1, the legend beside the plot (off the lines), saved to ``png``."""
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    fig.savefig(png, dpi=120)


def plot(rows: list[dict], png: str | Path) -> None:
    sets = list(dict.fromkeys(k for r in rows for k in r if k not in META))  # a set added by a later stage too
    crops = [r["crops"] for r in rows]
    fig, ax = figure()
    for i, s in enumerate(sets):
        ys = [r.get(s) for r in rows]
        ax.plot(crops, [float("nan") if y is None else y for y in ys], marker=".", lw=1, label=s, color=colour(i))
    ax.plot(crops, [r["mean"] for r in rows], color="k", lw=2.5, label="mean")
    for prev, r in zip(rows, rows[1:]):
        if r["run"] != prev["run"] and r["start"]:  # a new stage starts from weights that had seen r["start"]
            ax.axvline(r["start"], color="grey", ls=":", lw=1)
            ax.text(r["start"], 0.98, f"{r['run']} ", fontsize=7, rotation=90, va="top")
    finish(fig, ax, png, "training crops seen (log scale)", "validation SEG")


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", help="run folders holding val_curve.jsonl, in training order: RUN or RUN+CROPS")
    p.add_argument("--png", help="also plot it here")
    args = p.parse_args(argv)
    stages = [read_curve(run) for run in args.runs]
    rows = [row for stage in stages for row in stage]
    print(table(rows))
    if args.png:
        plot(on_path(stages), args.png)
        print(f"plot: {args.png}")
    return rows


if __name__ == "__main__":
    main()
