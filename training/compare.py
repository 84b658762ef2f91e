"""Final validation SEG of runs side by side: refinement arms against their control, one table.

python -m cellseg.training.compare runs/cpu_loo_full runs/cpu_arm_label_smoothing runs/cpu_arm_cutmix ...

Reads each run folder's ``val_last.json`` (the trainer writes it at the end: SEG per validation set on the
same frames for every run of a config family). The first run is the control: each other row shows its mean
and its change against the control's mean over the sets both scored. Sets a run held out of training
(``held_out``) are marked with a star.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def read_last(run: str | Path) -> dict:
    path = Path(run) / "val_last.json"
    if not path.is_file():
        raise SystemExit(f"{path}: no final validation (the run has not finished)")
    return json.loads(path.read_text())


def scores(last: dict) -> dict[str, float]:
    """SEG per validation set of one ``val_last.json``."""
    return {k: v["SEG"] for k, v in last.items() if isinstance(v, dict) and "SEG" in v}


def table(runs: dict[str, dict]) -> str:
    """Markdown: a row per run (the first is the control), a column per set, the mean and its change."""
    per_run = {name: scores(last) for name, last in runs.items()}
    sets = list(dict.fromkeys(s for sc in per_run.values() for s in sc))
    control = next(iter(per_run.values()))
    out = ["| run | " + " | ".join(sets) + " | mean | vs control |", "|---" * (len(sets) + 3) + "|"]
    for name, sc in per_run.items():
        held = set(runs[name].get("held_out", []))
        cells = [f"{sc[s]:.3f}{'*' if s in held else ''}" if s in sc else "" for s in sets]
        shared = [s for s in sets if s in sc and s in control]
        mean = sum(sc[s] for s in shared) / len(shared) if shared else float("nan")
        ref = sum(control[s] for s in shared) / len(shared) if shared else float("nan")
        delta = "control" if sc is control else f"{mean - ref:+.3f}"
        out.append(f"| {name} | " + " | ".join(cells) + f" | {mean:.3f} | {delta} |")
    return "\n".join(out)


def main(argv=None) -> str:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", help="run folders; the first is the control")
    args = p.parse_args(argv)
    text = table({Path(r).name: read_last(r) for r in args.runs})
    print(text)
    return text


if __name__ == "__main__":
    main()
