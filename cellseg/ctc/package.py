"""``cellseg ctc package``: a Cell Tracking Challenge submission tree.

OUTPUT/SW/<Dataset>-01.sh, <Dataset>-02.sh   run from inside SW/: read ../<Dataset>/<seq>/,
                                             write ../<Dataset>/<seq>_RES/ (masks + res_track.txt)
OUTPUT/SW/model/                             the model (safetensors + JSON)
OUTPUT/SW/wheels/                            the cellseg wheel (+ a wheelhouse, if given)
OUTPUT/SW/setup.sh, README.md                how to install it once, offline from wheels/
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from ..errors import CellsegError
from ..modelfile import model_paths, read_model_config

RUN = """#!/usr/bin/env bash
# Cell Tracking Challenge executable for {dataset} sequence {seq}. Run from inside SW/:
#   ./{dataset}-{seq}.sh        reads ../{dataset}/{seq}/t*.tif, writes ../{dataset}/{seq}_RES/
set -euo pipefail
cd "$(dirname "$0")"
PY="${{CELLSEG_PYTHON:-./venv/bin/python}}"
"$PY" -m cellseg ctc segment {data_dir} --seq {seq_arg} --track --model model --device auto --overwrite
"""

SETUP = """#!/usr/bin/env bash
# One-time setup, no network needed when wheels/ holds every dependency (see README.md).
set -euo pipefail
cd "$(dirname "$0")"
python3 -m venv venv
if ./venv/bin/pip install --no-index --find-links wheels cellseg; then
  echo "installed offline from wheels/"
else
  echo "wheels/ lacks some dependencies: installing them from the package index" >&2
  ./venv/bin/pip install --find-links wheels cellseg
fi
"""

README = """# cellseg submission for {dataset}

Segmentation with the universal cellseg model in `model/` ({encoder}), tracking by overlap
(Hungarian assignment, one-frame gap closing, divisions).

## Set up once

    bash setup.sh

creates `venv/` and installs cellseg from `wheels/`. Without a network this needs every dependency as
a wheel in `wheels/` (PyTorch, torchvision, segmentation-models-pytorch, timm, MONAI, ...); make it on
a machine with a network with

    pip download -d wheels cellseg

(or pass `--wheelhouse DIR` to `cellseg ctc package`). With a network, `setup.sh` fetches what is missing.

## Run

From inside this folder: `./{dataset}-01.sh` and `./{dataset}-02.sh`. Each reads
`../{dataset}/<seq>/t*.tif` and writes `../{dataset}/<seq>_RES/maskNNN.tif` and `res_track.txt`.
A GPU is used when PyTorch sees one; otherwise the CPU.
"""


def _project_root() -> Path | None:
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() else None


def build_wheel(dest: Path) -> Path:
    root = _project_root()
    if root is None:
        raise CellsegError("cannot build the cellseg wheel: no source tree (install cellseg from a clone)")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dest), str(root)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise CellsegError(f"building the cellseg wheel failed: {proc.stderr.strip().splitlines()[-1:]}")
    return next(dest.glob("cellseg-*.whl"))


#: CTC dataset names: letters, digits and . _ + - (Fluo-N2DH-SIM+, PhC-C2DL-PSC, BF-C2DL-HSC...)
DATASET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,99}")
SEQ_NAME = re.compile(r"[0-9]{2,3}")


def check_names(dataset: str, seqs) -> None:
    if not DATASET_NAME.fullmatch(dataset) or ".." in dataset:
        raise CellsegError(
            f"--dataset {dataset!r} is not a CTC dataset name (letters, digits and . _ + -, e.g. Fluo-N2DH-GOWT1)"
        )
    for seq in seqs:
        if not SEQ_NAME.fullmatch(seq):
            raise CellsegError(f"sequence {seq!r} is not a CTC sequence number (01, 02...)")


def package(
    output: str | Path,
    dataset: str,
    model: str = "default",
    seqs=("01", "02"),
    wheelhouse: str | Path | None = None,
    wheel: bool = True,
) -> Path:
    check_names(dataset, seqs)  # these go into shell scripts: validated here, quoted there
    meta = read_model_config(model)  # fails early with a clear error for a bad model
    sw = Path(output) / "SW"
    if sw.exists():
        raise CellsegError(f"{sw}: already exists; choose an empty output folder")
    tmp = Path(output) / ".SW.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "model").mkdir(parents=True)
    weights, config = model_paths(model)
    shutil.copy(weights, tmp / "model" / "model.safetensors")
    shutil.copy(config, tmp / "model" / "config.json")
    wheels = tmp / "wheels"
    wheels.mkdir()
    if wheelhouse:
        for f in Path(wheelhouse).glob("*.whl"):
            shutil.copy(f, wheels)
    if wheel:
        build_wheel(wheels)
    for seq in seqs:
        script = tmp / f"{dataset}-{seq}.sh"
        script.write_text(
            RUN.format(dataset=dataset, seq=seq, data_dir=shlex.quote(f"../{dataset}"), seq_arg=shlex.quote(seq))
        )
        script.chmod(0o755)
    (tmp / "setup.sh").write_text(SETUP)
    (tmp / "setup.sh").chmod(0o755)
    (tmp / "README.md").write_text(README.format(dataset=dataset, encoder=meta["model"]["encoder"]))
    tmp.rename(sw)
    return sw
