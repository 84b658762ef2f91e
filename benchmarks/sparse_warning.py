"""How often does ``cellseg finetune``'s sparse-labels warning fire on complete labels? (It counts the base
model's objects that no label covers, false detections included.) Training frames whose ground truth labels
every cell, 4 per shared set (evenly spread), the shipped model as the base.

    python benchmarks/sparse_warning.py [SET ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SETS = [
    "Fluo-N2DH-GOWT1",
    "Fluo-C2DL-MSC",
    "Fluo-N2DH-SIM+",
    "Fluo-N2DL-HeLa",
    "ecoli-trpL-phc",
    "dsb2018-stage1-test",
    "usiigaci-phc",
    "cpm15-he",
    "bbbc030-dic-cho",
]


def main() -> None:
    from cellseg.inference import Segmenter
    from cellseg.training import unlabelled
    from cellseg.training.data import shared_split
    from cellseg.training.validate import pick

    seg = Segmenter("default", device="cpu")
    rule = f">= {unlabelled.SPARSE_SHARE:.0%} and >= {unlabelled.MIN_UNLABELLED}"
    print(f"| set | frames | warned ({rule}) | unlabelled / found, per frame |")
    print("|---|---|---|---|")
    for name in sys.argv[1:] or SETS:
        train, _ = shared_split(name, seg.rgb)
        frames = pick([s for s in train if s.complete], 4)
        found = unlabelled.check(seg, frames)
        counts = ", ".join(f"{u.count}/{u.total}" for u in found)
        print(f"| {name} | {len(frames)} | {sum(u.sparse for u in found)} | {counts} |", flush=True)


if __name__ == "__main__":
    main()
