"""Peak memory and time of `cellseg segment` on one large image, and of refusing a hostile one.

    python benchmarks/large_image.py [--size 8000] [--model default]

Builds a SIZE x SIZE uint16 TIFF by tiling a real HeLa frame from ../shared/data (a synthetic
pattern if that is absent), segments it in a child process and reports wall time and peak resident
memory (ru_maxrss of the child). Then writes a small zlib TIFF whose header says it decodes to about
7 GB and reports how long `segment` takes to refuse it and the child's peak memory.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile

HERE = Path(__file__).resolve().parents[1]


def source_tile() -> np.ndarray:
    real = HERE.parent / "shared" / "data" / "ctc" / "Fluo-N2DL-HeLa" / "01" / "t013.tif"
    if real.is_file():
        return tifffile.imread(real)
    yy, xx = np.mgrid[:700, :1100]
    return (1000 + 800 * ((np.sin(yy / 9) * np.sin(xx / 9)) > 0.5)).astype(np.uint16)


def child(args: list[str]) -> tuple[float, float, int, str]:
    """Run ``python -m cellseg ARGS``: (seconds, peak RSS of that process in GiB, exit code, last line)."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([sys.executable, "-m", "cellseg", *args], stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        last = (err.read().strip().splitlines() or [""])[-1]
    return time.perf_counter() - t0, usage.ru_maxrss / 2**20, proc.returncode, last  # ru_maxrss in KiB


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--size", type=int, default=8000)
    p.add_argument("--model", default="default")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        hostile = tmp / "hostile"
        hostile.mkdir()
        side = 84_000  # 84,000^2 uint8 = 7.06 GB decoded
        tiles = (np.zeros((1024, 1024), np.uint8) for _ in range(((side + 1023) // 1024) ** 2))
        tifffile.imwrite(
            hostile / "bomb.tif", tiles, shape=(side, side), dtype=np.uint8, tile=(1024, 1024), compression="zlib"
        )
        mb = (hostile / "bomb.tif").stat().st_size / 1e6
        s, peak, rc, last = child(
            ["segment", str(hostile / "bomb.tif"), "-o", str(tmp / "o1"), "-q", "--model", a.model]
        )
        print(
            f"hostile {side}x{side} uint8 TIFF ({mb:.1f} MB on disk, {side * side / 1e9:.2f} GB decoded): "
            f"refused in {s:.2f} s (process start included), peak RSS {peak:.2f} GiB, exit {rc}"
        )
        print(f"  {last}")
        tile = source_tile()
        reps = (-(-a.size // tile.shape[0]), -(-a.size // tile.shape[1]))
        big = np.tile(tile, reps)[: a.size, : a.size]
        (tmp / "big").mkdir()
        tifffile.imwrite(tmp / "big" / "big.tif", big, compression="zlib")
        del big
        s, peak, rc, last = child(
            ["segment", str(tmp / "big" / "big.tif"), "-o", str(tmp / "o2"), "-q", "--model", a.model]
        )
        cells = int(tifffile.imread(tmp / "o2" / "big.tif").max()) if rc == 0 else 0
        print(
            f"{a.size}x{a.size} uint16 ({a.size * a.size / 1e6:.0f} MP): {s:.1f} s, peak RSS {peak:.2f} GiB, "
            f"exit {rc}, {cells} cells; threads {os.cpu_count()}"
        )


if __name__ == "__main__":
    main()
