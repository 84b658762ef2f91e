"""Training never lies about its state: bad labels are refused by name, and a run killed with SIGKILL
at any moment resumes from one consistent step with no step logged twice."""

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile
import yaml

from cellseg.datasets import read_folder
from cellseg.errors import InputError


def blob_folder(root: Path, n: int = 5, seed: int = 0) -> Path:
    from skimage.draw import disk

    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for i in range(n):
        img = rng.normal(20, 3, (128, 128)).astype(np.float32)
        lab = np.zeros((128, 128), np.uint16)
        for k in range(1, 9):
            rr, cc = disk(tuple(rng.integers(12, 116, 2)), int(rng.integers(6, 11)), shape=img.shape)
            img[rr, cc] = 150
            lab[rr, cc] = k
        tifffile.imwrite(root / "images" / f"im{i}.tif", img.astype(np.uint16))
        tifffile.imwrite(root / "labels" / f"im{i}.tif", lab)
    return root


@pytest.mark.parametrize(
    "bad, problem",
    [
        (lambda lab: lab.astype(np.int32) - 1, "must be >= 0"),
        (lambda lab: lab.astype(np.float32), "integer image"),
        (lambda lab: lab.astype(np.float32) + 0.5, "integer image"),
    ],
)
def test_bad_training_labels_are_refused_by_name(tmp_path, bad, problem):
    root = blob_folder(tmp_path / "set", n=2)
    lab = tifffile.imread(root / "labels" / "im1.tif")
    tifffile.imwrite(root / "labels" / "im1.tif", bad(lab))
    with pytest.raises(InputError, match=problem) as e:
        read_folder(root)
    assert "im1.tif" in str(e.value) and "labels" in str(e.value)


def config(tmp_path: Path, steps: int) -> Path:
    blob_folder(tmp_path / "data" / "blobs")
    cfg = {
        "data_root": str(tmp_path / "data"),
        "out": str(tmp_path / "run"),
        "steps": steps,
        "batch": 2,
        "crop": 96,
        "warmup": 2,
        "val_every": 10,
        "val_max_frames": 1,
        "save_every": 1,
        "workers": 0,
        "device": "cpu",
        "threads": 1,
        "model": {"encoder": "resnet18", "encoder_depth": 3, "decoder_channels": [16, 16, 8]},
        "datasets": [{"name": "blobs", "kind": "folder", "path": "blobs", "val_every": 5, "val_offset": 4}],
    }
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def logged_steps(run: Path) -> list[int]:
    if not (run / "log.csv").is_file():
        return []
    with open(run / "log.csv", newline="") as f:
        return [int(r["step"]) for r in csv.DictReader(f) if r.get("step", "").isdigit()]


@pytest.mark.slow
def test_sigkill_at_any_moment_resumes_consistently(tmp_path):
    import torch
    from safetensors.torch import load_file

    steps = 60
    cfg = config(tmp_path, steps)
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "cellseg", "train", str(cfg)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    rng = np.random.default_rng(1)
    kills = 0
    for _ in range(3):  # killed after a few steps, then at random moments, then runs to the end
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        start = len(logged_steps(run))
        deadline = time.time() + 120
        want = start + int(rng.integers(2, 8))
        while time.time() < deadline and proc.poll() is None and len(logged_steps(run)) < want:
            time.sleep(0.01)
        time.sleep(float(rng.uniform(0, 0.05)))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        (run / ".state.pt.12345.tmp").write_bytes(b"leftover of a killed run")
    assert kills >= 2, "the run finished before it could be killed: make it longer"
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "resumed from" in done.stdout
    assert logged_steps(run) == list(range(1, steps + 1)), "a step was logged twice or lost"
    state = torch.load(run / "state.pt", weights_only=True)
    assert int(state["step"]) == steps
    last = load_file(str(run / "last" / "model.safetensors"))
    assert all(torch.equal(state["model"][k].float(), v.float()) for k, v in last.items())
    assert not [p for p in run.rglob(".*") if p.name.endswith(".tmp")], "temp files left behind"
    assert (run / "best" / "config.json").is_file() and not (run / "best.new").exists()
