"""The README's quick-start picture: each shipped sample beside its outline overlay (--save-png), and the
head of its measurements table (--save-csv), as `cellseg segment` writes them with the shipped model.

    python docs/make_quickstart_figure.py      # writes docs/figures/quickstart.png, prints the CSV heads
"""

import subprocess
import sys
import tempfile
from pathlib import Path

import imageio.v3 as iio
import numpy as np

HERE = Path(__file__).resolve().parent
SAMPLES = HERE.parent / "cellseg" / "samples"


def as_rgb(image: np.ndarray) -> np.ndarray:
    if image.ndim == 3:
        return image[..., :3].astype(np.uint8)
    lo, hi = np.percentile(image, (1, 99.8))
    grey = np.clip((image - lo) / max(hi - lo, 1e-6) * 255, 0, 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, -1)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "cellseg", "segment", str(SAMPLES), "-o", tmp, "--save-png", "--save-csv", "-q"]
        subprocess.run(cmd, check=True)
        rows = []
        for name in ("nuclei_dsb2018.tif", "he_tissue.jpg"):
            stem = Path(name).stem
            image, overlay = as_rgb(iio.imread(SAMPLES / name)), iio.imread(Path(tmp) / f"{stem}_outlines.png")
            h = 300
            pair = [im[:h, :h] for im in (image, overlay)]
            gap = np.full((h, 8, 3), 255, np.uint8)
            rows.append(np.concatenate([pair[0], gap, pair[1]], axis=1))
            lines = (Path(tmp) / f"{stem}_cells.csv").read_text().splitlines()
            print(f"{stem}_cells.csv ({len(lines) - 1} cells):")
            print("\n".join(lines[:4]))
        sep = np.full((8, rows[0].shape[1], 3), 255, np.uint8)
        out = HERE / "figures" / "quickstart.png"
        iio.imwrite(out, np.concatenate([rows[0], sep, rows[1]]))
        print(out)


if __name__ == "__main__":
    main()
