"""At what size does a model segment each set best? SEG with each frame given its labels' median diameter
times a factor, and with the diameter estimated, on training frames only.

    python benchmarks/working_scale.py [--model default] [--sets ...] [--factors 1 0.7 0.5] [--frames 8] [--write]

The model rescales a frame so that objects of the given diameter look ``object_diameter`` pixels wide (30
for the shipped model). A factor below 1 gives a smaller diameter, so objects look larger (factor 0.7:
about 43 px, 0.5: 60 px) and the network sees more pixels of each. Frames: the second half of each set's
training split, evenly spread (the frames ``benchmarks/finetune.py --protocol dev`` tests on), so nothing
here reads a validation frame. SEG is pooled over objects as the CTC does.

``--write`` records the result in the model's JSON: ``segment_diameter`` = trained size / the factor with the
best mean (the rule each shipped model's value was chosen by), written atomically.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    from cellseg.inference import Segmenter
    from cellseg.metrics import evaluate_pair, pool
    from cellseg.options import SegmentOptions
    from cellseg.size import median_diameter
    from cellseg.training.data import shared_split
    from cellseg.training.report import trained_on
    from cellseg.training.validate import pick

    p = argparse.ArgumentParser()
    p.add_argument("--model", default="default")
    p.add_argument("--sets", nargs="+", default=trained_on("default"), help="default: the sets v1 trained on")
    p.add_argument("--factors", type=float, nargs="+", default=[1.0, 0.7, 0.5])
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--write", action="store_true", help="set the model's segment_diameter from the best mean")
    p.add_argument("--no-estimate", action="store_true", help="skip the estimated-size column")
    a = p.parse_args()
    seg = Segmenter(a.model, device="cpu")
    seg.segment_diameter = None  # factors are relative to the trained size, whatever the model segments at now
    d0 = seg.model_diameter
    heads = [f"x{f:g} ({d0 / f:.0f} px)" for f in a.factors]
    extra = [] if a.no_estimate else [0.0]
    heads += ["estimated"] * len(extra)
    print(f"| set | frames | objects | {' | '.join(heads)} |")
    print(f"|---|---|---|{'---|' * len(heads)}")
    means = []
    for name in a.sets:
        train, _ = shared_split(name, seg.rgb)
        frames = pick(train[len(train) // 2 :], a.frames)
        row = []
        for f in [*a.factors, *extra]:
            results = []
            for s in frames:
                d = median_diameter(s.labels)
                seg.options = SegmentOptions(diameter=d * f if f and d else 0.0)
                results.append(evaluate_pair(s.labels, seg.segment(s.image)))
            row.append(pool(results))
        cells = " | ".join(f"{r['SEG']:.3f}" for r in row)
        print(f"| {name} | {len(frames)} | {row[0]['n_ref']} | {cells} |", flush=True)
        means.append([r["SEG"] for r in row])
    mean = [sum(col) / len(col) for col in zip(*means)]
    print(f"| mean | | | {' | '.join(f'{m:.3f}' for m in mean)} |")
    print(f"model {a.model}: object_diameter {d0}; frames: the second half of each training split; {vars(a)}")
    if a.write:
        write_segment_diameter(a.model, d0, a.factors, mean[: len(a.factors)])


def write_segment_diameter(model: str, trained: float, factors: list[float], means: list[float]) -> float:
    """Set ``segment_diameter`` in the model's JSON to ``trained`` / the factor with the best mean SEG
    (rounded to a pixel); the rest of the JSON as it was."""
    from cellseg.modelfile import model_paths, read_model_config, write_model_config

    best = factors[max(range(len(factors)), key=means.__getitem__)]
    meta, path = read_model_config(model), model_paths(model)[1]
    meta["segment_diameter"] = float(round(trained / best))
    write_model_config(path, meta)
    print(f"{path}: segment_diameter {meta['segment_diameter']:g} (best mean at x{best:g})")
    return meta["segment_diameter"]


if __name__ == "__main__":
    main()
