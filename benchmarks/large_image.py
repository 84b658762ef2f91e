"""Peak memory and time of `cellseg segment` on large images, and of refusing a hostile one.

    python benchmarks/large_image.py [--sizes 4000 8000 16000] [--model default] [--diameter 0] [--dask local:2]

For each size, builds a SIZE x SIZE uint16 tiled zlib TIFF by tiling a real HeLa frame from
../shared/data, mirrored (a synthetic pattern if that is absent), written tile by tile; segments it
with `cellseg segment` in a child process and reports wall time, megapixels per second, peak resident
memory (ru_maxrss of the child) and cells. Images above ``--large`` (25 MP) take the lazy block path.
First writes a small zlib TIFF whose header says it decodes to about 7 GB and reports how long `segment`
takes to refuse it and the child's peak memory. With ``--dask ADDRESS`` the blocks go to that cluster's
workers (``local:N``: N worker processes started by the child; the peak is then the largest process's).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
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


def child(args: list[str]) -> tuple[float, float, int, str, str]:
    """Run ``python -m cellseg ARGS``: (seconds, peak RSS of that process in GiB, exit code, stdout, last
    line of stderr)."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as err, tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen([sys.executable, "-m", "cellseg", *args], stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        out.seek(0)
        last = (err.read().strip().splitlines() or [""])[-1]
        stdout = out.read()
    return time.perf_counter() - t0, usage.ru_maxrss / 2**20, proc.returncode, stdout, last  # ru_maxrss in KiB


def write_tiled(path: Path, tile: np.ndarray, size: int) -> None:
    """A SIZE x SIZE tiled zlib TIFF of the source tile repeated (mirrored), written 512 rows at a time."""
    reps = (-(-512 // tile.shape[0]) + 1, -(-size // tile.shape[1]) + 1)
    pattern = np.tile(np.block([[tile, tile[:, ::-1]], [tile[::-1], tile[::-1, ::-1]]]), reps)

    def tiles():
        period = 2 * tile.shape[0]
        for y in range(0, size, 512):
            band = np.roll(pattern, -(y % period), axis=0)[:512, :size]
            for x in range(0, size, 512):
                out = np.zeros((512, 512), tile.dtype)
                part = band[: min(512, size - y), x : x + 512]
                out[: part.shape[0], : part.shape[1]] = part
                yield out

    tifffile.imwrite(path, tiles(), shape=(size, size), dtype=tile.dtype, tile=(512, 512), compression="zlib")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", type=int, nargs="+", default=[4000, 8000, 16000])
    p.add_argument("--model", default="default")
    p.add_argument("--diameter", type=float, default=0.0, help="0: estimated, as a user would run it")
    p.add_argument("--skip-hostile", action="store_true")
    p.add_argument("--dask", help="segment with --dask ADDRESS (blocks spread over its workers)")
    a = p.parse_args()
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        tmp = Path(tmp)
        if not a.skip_hostile:
            hostile = tmp / "hostile"
            hostile.mkdir()
            side = 84_000  # 84,000^2 uint8 = 7.06 GB decoded
            tiles = (np.zeros((1024, 1024), np.uint8) for _ in range(((side + 1023) // 1024) ** 2))
            tifffile.imwrite(
                hostile / "bomb.tif", tiles, shape=(side, side), dtype=np.uint8, tile=(1024, 1024), compression="zlib"
            )
            mb = (hostile / "bomb.tif").stat().st_size / 1e6
            s, peak, rc, _, last = child(
                ["segment", str(hostile / "bomb.tif"), "-o", str(tmp / "o1"), "-q", "--model", a.model]
            )
            print(
                f"hostile {side}x{side} uint8 TIFF ({mb:.1f} MB on disk, {side * side / 1e9:.2f} GB decoded): "
                f"refused in {s:.2f} s (process start included), peak RSS {peak:.2f} GiB, exit {rc}"
            )
            print(f"  {last}")
        tile = source_tile()
        print("| size | megapixels | path | seconds | MP/s | peak RSS (GiB) | cells | exit |")
        print("|---|---|---|---|---|---|---|---|")
        for size in a.sizes:
            folder = tmp / f"in{size}"
            folder.mkdir()
            write_tiled(folder / "big.tif", tile, size)
            mp = size * size / 1e6
            path = "lazy blocks" if size * size > 25_000_000 else "in memory"
            args = ["segment", str(folder / "big.tif"), "-o", str(tmp / f"out{size}"), "--model", a.model]
            if a.dask:
                args += ["--dask", a.dask]
                path += f", --dask {a.dask}"
            s, peak, rc, out, last = child([*args, "--diameter", str(a.diameter)])
            m = re.search(r"\((\d+) cells", out)
            cells = m.group(1) if m else "?"
            print(f"| {size}x{size} | {mp:.0f} | {path} | {s:.0f} | {mp / s:.2f} | {peak:.2f} | {cells} | {rc} |")
            if rc:
                print(f"  {last}")
            shutil.rmtree(folder)
            shutil.rmtree(tmp / f"out{size}", ignore_errors=True)
        print(f"threads {os.cpu_count()}; process start and model load included")


if __name__ == "__main__":
    main()
