"""File > Open Sample > cellseg: a real fluorescence nuclei image (see data/ATTRIBUTION.md)."""

from pathlib import Path

SAMPLE = Path(__file__).parent / "data" / "dsb2018_nuclei.tif"


def nuclei_sample():
    import tifffile

    return [(tifffile.imread(SAMPLE), {"name": "nuclei (BBBC038v1)", "colormap": "gray"}, "image")]
