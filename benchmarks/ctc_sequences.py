"""Every shared CTC sequence through `cellseg ctc segment --track`, validated and evaluated, timed.

    python benchmarks/ctc_sequences.py [--model default] [--device cpu] [--only Fluo-N2DH-GOWT1/01]

The shared data is read-only, so each sequence is linked into a temp dataset folder. Prints per
sequence: frames, megapixels, segmentation and tracking seconds (tracking as % of segmentation),
ctc_validate, and SEG / DET / TRA / OP_CSB / OP_CTB (ours and py-ctcmetrics').
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from cellseg.ctc import (
    evaluate_sequence,
    format_tracks,
    mask_name,
    sequence_frames,
    track_frames,
    validate_result,
    write_tracks,
)
from cellseg.errors import InputError
from cellseg.inference import Segmenter
from cellseg.io import read_image, read_labels, write_labels

DATA = Path(os.environ.get("CELLSEG_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def run_sequence(src: Path, seq: str, seg: Segmenter, tmp: Path) -> dict:
    ds = tmp / src.name
    (ds / seq).mkdir(parents=True)
    for f in (src / seq).iterdir():
        (ds / seq / f.name).symlink_to(f)
    if (src / f"{seq}_GT").is_dir():
        (ds / f"{seq}_GT").symlink_to(src / f"{seq}_GT")
    row = {"sequence": f"{src.name}/{seq}"}
    try:
        frames = sequence_frames(ds / seq)
    except InputError as e:
        row["note"] = str(e).split(": ", 1)[1]
        return row
    res = ds / f"{seq}_RES"
    res.mkdir()
    n, mpix = len(frames), 0.0
    t0 = time.perf_counter()
    for t, f in enumerate(frames):
        img = read_image(f)[0]
        mpix += img.size / 1e6
        write_labels(res / mask_name(t, n), seg.segment(img))
    t1 = time.perf_counter()
    masks = [read_labels(res / mask_name(t, n)) for t in range(n)]
    t2 = time.perf_counter()
    relabelled, tracks = track_frames(masks)
    t3 = time.perf_counter()
    for t in range(n):
        write_labels(res / mask_name(t, n), relabelled[t])
    write_tracks(res, format_tracks(tracks))
    t4 = time.perf_counter()
    row.update(
        frames=n,
        megapixels=round(mpix, 1),
        segment_s=round(t1 - t0, 1),
        track_s=round(t3 - t2, 2),
        track_io_s=round((t2 - t1) + (t4 - t3), 2),
        track_pct=round(100 * (t3 - t2) / (t1 - t0), 2),
        tracks=len(tracks),
        valid=validate_result(res),
    )
    if (ds / f"{seq}_GT").is_dir():
        r = evaluate_sequence(ds, seq)
        row.update({k: round(v, 4) for k, v in r.items() if k in ("SEG", "DET", "OP_CSB", "OP_CTB")})
        row.update({f"ctc_{k}": round(v, 4) for k, v in r.get("ctcmetrics", {}).items()})
    else:
        row["note"] = f"no {seq}_GT: not evaluated"
    return row


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="default")
    p.add_argument("--device", default="cpu")
    p.add_argument("--only", nargs="*", help="Dataset/seq names")
    p.add_argument("--json")
    args = p.parse_args()
    seg = Segmenter(args.model, device=args.device)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for src in sorted((DATA / "ctc").iterdir()):
            for seq in ("01", "02"):
                if not (src / seq).is_dir() or (args.only and f"{src.name}/{seq}" not in args.only):
                    continue
                rows.append(run_sequence(src, seq, seg, Path(tmp)))
                print(json.dumps(rows[-1]), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
