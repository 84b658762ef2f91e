"""Public 2-D Cell Tracking Challenge training datasets and how to fetch them.

``download`` streams the archive to a temp file beside the destination, checks it is a zip, unpacks
it safely (no paths escaping the destination) into a temp folder and renames it into place, so an
interrupted download never leaves a half dataset behind.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from cellseg.errors import CellsegError

CTC_TRAINING_URL = "https://data.celltrackingchallenge.net/training-datasets/{name}.zip"


CTC_LICENCE = "Cell Tracking Challenge terms of use (cite Maska et al. 2014, Ulman et al. 2017)"


@dataclass(frozen=True)
class PublicDataset:
    name: str
    modality: str
    url: str
    licence: str
    layout: str = "ctc"  # how it unpacks: a key of cellseg.datasets.READERS
    sha256: str | None = None  # checked when known


def _ctc(name: str, modality: str) -> PublicDataset:
    return PublicDataset(name, modality, CTC_TRAINING_URL.format(name=name), CTC_LICENCE)


DATASETS = {
    d.name: d
    for d in [
        _ctc("BF-C2DL-HSC", "bright field, hematopoietic stem cells"),
        _ctc("BF-C2DL-MuSC", "bright field, muscle stem cells"),
        _ctc("DIC-C2DH-HeLa", "DIC, HeLa cells"),
        _ctc("Fluo-C2DL-Huh7", "fluorescence, Huh7 hepatocarcinoma cells"),
        _ctc("Fluo-C2DL-MSC", "fluorescence, rat mesenchymal stem cells"),
        _ctc("Fluo-N2DH-GOWT1", "fluorescence, GOWT1 mouse stem-cell nuclei"),
        _ctc("Fluo-N2DH-SIM+", "fluorescence, simulated HL60 nuclei"),
        _ctc("Fluo-N2DL-HeLa", "fluorescence, HeLa nuclei"),
        _ctc("PhC-C2DH-U373", "phase contrast, glioblastoma-astrocytoma U373"),
        _ctc("PhC-C2DL-PSC", "phase contrast, pancreatic stem cells"),
    ]
}


def download(name: str, dest: str | Path, url: str | None = None, force: bool = False, progress: bool = True) -> Path:
    """Fetch and unpack one dataset into ``dest/<name>``; returns that folder."""
    if name not in DATASETS:
        raise CellsegError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    spec = DATASETS[name]
    dest = Path(dest)
    target = dest / name
    if target.is_dir() and not force:
        return target
    dest.mkdir(parents=True, exist_ok=True)
    url = url or spec.url
    with tempfile.TemporaryDirectory(dir=dest, prefix=f".{name}.") as tmp:
        archive = Path(tmp) / "archive.zip"
        _fetch(url, archive, progress)
        if spec.sha256 and _sha256(archive) != spec.sha256:
            raise CellsegError(f"{url}: checksum mismatch (corrupt or changed download)")
        if not zipfile.is_zipfile(archive):
            raise CellsegError(f"{url}: not a zip archive")
        unpacked = Path(tmp) / "unpacked"
        _safe_extract(archive, unpacked)
        # archives hold <name>/...; accept a bare layout too
        root = unpacked / name if (unpacked / name).is_dir() else unpacked
        if target.exists():
            shutil.rmtree(target)
        root.rename(target)
    return target


def _fetch(url: str, path: Path, progress: bool) -> None:
    from tqdm import tqdm

    try:
        with urllib.request.urlopen(url, timeout=60) as r, open(path, "wb") as f:
            total = int(r.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=path.parent.name, disable=not progress) as bar:
                while chunk := r.read(1 << 20):
                    f.write(chunk)
                    bar.update(len(chunk))
    except OSError as e:
        raise CellsegError(f"{url}: download failed ({getattr(e, 'reason', e)})") from None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _safe_extract(archive: Path, dest: Path) -> None:
    dest = dest.resolve()
    with zipfile.ZipFile(archive) as z:
        for member in z.namelist():
            if not (dest / member).resolve().is_relative_to(dest):
                raise CellsegError(f"{archive}: unsafe path in archive: {member}")
        z.extractall(dest)
