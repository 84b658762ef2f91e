"""Small real images shipped with cellseg (never trained on); see README.md here for source and licence."""

from pathlib import Path

FOLDER = Path(__file__).parent
NUCLEI = FOLDER / "nuclei_dsb2018.tif"
NUCLEI_LABELS = FOLDER / "labels" / "nuclei_dsb2018.tif"
HE_TISSUE = FOLDER / "he_tissue.jpg"
