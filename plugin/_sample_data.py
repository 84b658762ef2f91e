"""File > Open Sample > cellseg: a real fluorescence nuclei image no cellseg model was trained on
(see cellseg/samples/README.md)."""

from cellseg.samples import NUCLEI


def nuclei_sample():
    import tifffile

    return [(tifffile.imread(NUCLEI), {"name": "nuclei (BBBC038v1)", "colormap": "gray"}, "image")]
