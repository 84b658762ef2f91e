"""The bad-input and fault catalogue of the safety issue, run through the real CLI, one row per case.

    python benchmarks/safety_catalogue.py            # the installed cellseg
    PYTHONPATH=/path/to/old/checkout python benchmarks/safety_catalogue.py   # run from outside the clone

Each case builds its inputs in a temp folder, runs ``python -m cellseg ...`` (or a short Python
snippet) in a child process, and prints what happened: exit code, the first line of the message, and
the property that matters (input bytes unchanged, dtype, seconds, peak memory...). Uses a tiny
untrained model, so it needs no data and runs in about a minute.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
import tifffile

ROWS = []
TMP = Path(tempfile.mkdtemp(prefix="cellseg-catalogue-"))


def cli(*args, cwd=None, timeout=300):
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out:
        p = subprocess.Popen([sys.executable, "-m", "cellseg", *map(str, args)], stdout=out, stderr=out, cwd=cwd)
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    peak = usage.ru_maxrss
    lines = [ln for ln in text.splitlines() if ln.strip() and "%|" not in ln]
    msg = next((ln.strip() for ln in lines if "Traceback" in ln), None)
    listed = [ln.strip() for ln in lines if ln.startswith("  ") and ": " in ln]  # the per-file failure list
    if msg:
        msg = "TRACEBACK: " + lines[-1].strip()
    elif listed:
        msg = listed[-1]
    else:
        msg = next(
            (ln.strip() for ln in lines if "error" in ln.lower() or "fail" in ln.lower() or ":" in ln and "/" in ln),
            lines[-1].strip() if lines else "",
        )
    msg = msg.replace(str(TMP), "")
    return p.returncode, msg[:200], time.perf_counter() - t0, peak


def py(code, cwd=None, timeout=300):
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, timeout=timeout)
    out = (p.stdout.strip().splitlines() or [""])[-1]
    err = (p.stderr.strip().splitlines() or [""])[-1]
    return p.returncode, (out if p.returncode == 0 else err).replace(str(TMP), "")


def row(case, outcome):
    ROWS.append((case, outcome))
    print(f"| {case} | {outcome} |", flush=True)


def blobs(shape=(96, 120)):
    from skimage.draw import disk

    img = np.full(shape, 10, np.uint16)
    for y, x in [(25, 25), (25, 60), (60, 40), (70, 95)]:
        img[disk((y, x), 12, shape=shape)] = 200
    return img


def tiny_model(folder: Path) -> Path:
    code = (
        "import torch; from cellseg.model import build_model; from cellseg.modelfile import save_model; "
        "torch.manual_seed(0); "
        "m = build_model(encoder='resnet18', encoder_depth=3, decoder_channels=(16, 16, 8)); "
        f"save_model(m, {str(folder)!r})"
    )
    rc, msg = py(code)
    assert rc == 0, msg
    return folder


def digest(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def main() -> None:
    tmp = TMP
    model = tiny_model(tmp / "model")
    img = blobs()
    src = tmp / "in"
    src.mkdir()
    for name in ("a", "b"):
        tifffile.imwrite(src / f"{name}.tif", img)
    print("| case | outcome |\n|---|---|")

    # 1. inputs never overwritten
    before = digest(src)
    rc, msg, *_ = cli("segment", src, "-o", src, "--model", model, "-q")
    row("segment DIR -o DIR", f"exit {rc}; inputs {'unchanged' if digest(src) == before else 'OVERWRITTEN'}; {msg}")
    for name in ("a", "b"):
        tifffile.imwrite(src / f"{name}.tif", img)
    for kind, make in (("symlink", os.symlink), ("hard link", os.link)):
        out = tmp / f"out-{kind[0]}"
        out.mkdir()
        make(src / "a.tif", out / "a.tif")
        before = digest(src)
        rc, msg, *_ = cli("segment", src, "-o", out, "--model", model, "-q")
        state = "unchanged" if digest(src) == before else "OVERWRITTEN"
        row(f"output a {kind} to an input", f"exit {rc}; input {state}")
        for name in ("a", "b"):
            tifffile.imwrite(src / f"{name}.tif", img)
    ds = tmp / "DS"
    (ds / "01").mkdir(parents=True)
    for t in range(2):
        tifffile.imwrite(ds / "01" / f"t{t:03d}.tif", img)
    (ds / "01_RES").mkdir()
    os.link(ds / "01" / "t000.tif", ds / "01_RES" / "mask000.tif")
    before = digest(ds / "01")
    rc, msg, *_ = cli("ctc", "segment", ds, "--seq", "01", "--overwrite", "--model", model, "-q")
    row(
        "ctc segment, mask000.tif a hard link to t000.tif",
        f"exit {rc}; raw frame {'unchanged' if digest(ds / '01') == before else 'OVERWRITTEN'}",
    )
    w = tmp / "w"
    w.mkdir()
    raw = w / "raw.tif"
    tifffile.imwrite(raw, img)
    (w / "res").mkdir()
    os.symlink(raw, w / "res" / "mask000.tif")
    before = raw.read_bytes()
    rc, msg = py(
        "import numpy as np; from cellseg.plugin._writer import write_ctc; "
        f"write_ctc({str(w / 'res')!r}, np.ones((96, 120), np.uint16), {{}})"
    )
    row(
        "napari CTC writer onto a symlinked mask",
        f"{'refused' if rc else 'written'}; linked file {'unchanged' if raw.read_bytes() == before else 'OVERWRITTEN'}",
    )

    # 3. no silent wrap
    rc, msg = py(
        "import numpy as np, tifffile; from cellseg.postprocess import classes_to_labels; "
        "from cellseg.io import write_labels; c = np.zeros((540, 540), np.uint8); c[::2, ::2] = 1; "
        "lab = classes_to_labels(c, min_size=0); "
        f"write_labels({str(tmp / 'many.tif')!r}, lab); "
        f"b = tifffile.imread({str(tmp / 'many.tif')!r}); "
        "print(lab.dtype, int(lab.max()), b.dtype, int(b.max()))"
    )
    row("72,900 objects in one image (post-processing, then write)", msg if rc == 0 else f"error: {msg}")

    # 4. hostile sizes
    h = tmp / "hostile"
    h.mkdir()
    side = 84_000
    tiles = (np.zeros((1024, 1024), np.uint8) for _ in range(((side + 1023) // 1024) ** 2))
    tifffile.imwrite(h / "bomb.tif", tiles, shape=(side, side), dtype=np.uint8, tile=(1024, 1024), compression="zlib")
    mb = (h / "bomb.tif").stat().st_size / 1e6
    rc, msg, s, peak = cli("segment", h / "bomb.tif", "-o", tmp / "o-bomb", "--model", model, "-q", timeout=120)
    row(
        f"{mb:.1f} MB zlib TIFF decoding to 7.06 GB",
        f"exit {rc} in {s:.1f} s, peak RSS {peak / 2**20:.2f} GiB; {msg[-110:]}",
    )
    ihdr = struct.pack(">IIBBBBB", 90_000, 90_000, 16, 2, 0, 0, 0)
    (h / "huge.png").write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", 13)
        + b"IHDR"
        + ihdr
        + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
        + b"\0" * 64
    )
    rc, msg, s, _ = cli("segment", h / "huge.png", "-o", tmp / "o-png", "--model", model, "-q", timeout=120)
    row("PNG header claiming 90000x90000 RGB16", f"exit {rc} in {s:.1f} s; {msg[-90:]}")
    tifffile.imwrite(h / "gt.tif", shape=(100_000, 100_000), dtype=np.uint16)
    tifffile.imwrite(h / "pred.tif", np.zeros((8, 8), np.uint16))
    rc, msg, s, _ = cli("evaluate", h / "gt.tif", h / "pred.tif", timeout=120)
    row("evaluate a label file claiming 100000x100000", f"exit {rc} in {s:.1f} s; {msg[-90:]}")
    for change, label in (
        ({"decoder_channels": [10**9, 16, 8]}, "decoder_channels 1e9"),
        ({"encoder": "no-such-encoder"}, "unknown encoder"),
        (None, 'config without its "model" section'),
        ({"__norm__": {"kind": "percentile", "low": 99, "high": 1}}, "normalization low > high"),
    ):
        m = tmp / f"m-{len(ROWS)}"
        shutil.copytree(model, m)
        cfg = json.loads((m / "config.json").read_text())
        if change is None:
            cfg.pop("model")
        elif "__norm__" in change:
            cfg["normalization"] = change["__norm__"]
        else:
            cfg["model"].update(change)
        (m / "config.json").write_text(json.dumps(cfg))
        rc, msg, s, _ = cli("segment", src / "a.tif", "-o", tmp / f"o-{len(ROWS)}", "--model", m, timeout=120)
        row(f"model config: {label}", f"exit {rc} in {s:.1f} s; {msg[-100:]}")

    # 5. one bad file never stops a batch
    out = tmp / "o-dir"
    (out / "a.tif").mkdir(parents=True)
    rc, msg, *_ = cli("segment", src, "-o", out, "--model", model, "-q")
    row(
        "a folder where output a.tif should go (batch of 2)",
        f"exit {rc}; b.tif written: {(out / 'b.tif').is_file()}; {msg[-90:]}",
    )
    for opt in (["--batch", "0"], ["--tile", "-5"], ["--device", "tpu"]):
        rc, msg, *_ = cli("segment", src, "-o", tmp / "o-opt", "--model", model, *opt)
        row(f"segment {' '.join(opt)}", f"exit {rc}; {msg[-90:]}")

    # 6. metadata axes
    two = np.stack([img, img[::-1]])
    ax = tmp / "axes"
    ax.mkdir()
    tifffile.imwrite(ax / "ij_cyx.tif", two, imagej=True, metadata={"axes": "CYX"})
    tifffile.imwrite(ax / "ome_cyx.tif", two, ome=True, metadata={"axes": "CYX"})
    tifffile.imwrite(ax / "yxc.tif", np.moveaxis(two, 0, -1), photometric="minisblack", metadata={"axes": "YXC"})
    tifffile.imwrite(ax / "zyx.tif", np.stack([img] * 4), metadata={"axes": "ZYX"})
    for name in ("ij_cyx", "ome_cyx", "yxc", "zyx"):
        rc, msg, *_ = cli("segment", ax / f"{name}.tif", "-o", tmp / "o-axes", "--model", model, "-q")
        res = tmp / "o-axes" / f"{name}.tif"
        shape = tifffile.imread(res).shape if res.is_file() else None
        row(
            f"{name.upper().replace('_', ' ')} 2-channel/4-plane TIFF, 96x120",
            f"exit {rc}; output shape {shape}" + ("" if rc == 0 else f"; {msg[-80:]}"),
        )
        res.unlink(missing_ok=True)
    cmap = np.zeros((3, 256), np.uint16)
    cmap[1, 1] = 65535
    tifffile.imwrite(ax / "pal.tif", (img > 100).astype(np.uint8), photometric="palette", colormap=cmap)
    cmyk = np.zeros((*img.shape, 4), np.uint8)
    cmyk[..., 3] = np.where(img > 100, 255, 0)
    tifffile.imwrite(ax / "cmyk.tif", cmyk, photometric="separated")
    import imageio.v3 as iio

    iio.imwrite(ax / "deep.png", (img.astype(np.uint16) * 300))
    for name, expect in (
        ("pal.tif", "cells bright (green 65535 -> luminance)"),
        ("cmyk.tif", "cells dark (K ink)"),
        ("deep.png", "max 60000"),
    ):
        rc, msg = py(
            "from cellseg.io import read_image; import numpy as np; "
            f"f = read_image({str(ax / name)!r}); print(f.shape, f.dtype, 'min', f.min(), 'max', f.max())"
        )
        row(f"read {name} ({expect})", msg)

    # 7. CTC safety
    cwd = tmp / "cwd"
    cwd.mkdir()
    rc, msg, *_ = cli(
        "ctc", "package", tmp / "sub", "--dataset", "X$(touch PWNED)", "--model", model, "--no-wheel", cwd=cwd
    )
    script = tmp / "sub" / "SW" / "X$(touch PWNED)-01.sh"
    if script.is_file():
        subprocess.run(
            ["bash", str(script)],
            cwd=script.parent,
            capture_output=True,
            timeout=120,
            env={**os.environ, "CELLSEG_PYTHON": "/bin/true"},
        )
    pwned = (cwd / "PWNED").exists() or (script.parent / "PWNED").exists()
    row(
        "ctc package --dataset 'X$(touch PWNED)', then run its script",
        f"exit {rc}; script written: {script.is_file()}; command ran: {pwned}",
    )
    ds2 = tmp / "DS2"
    (ds2 / "01").mkdir(parents=True)
    for t in range(2):
        tifffile.imwrite(ds2 / "01" / f"t{t:03d}.tif", img)
    cli("ctc", "segment", ds2, "--seq", "01", "--track", "--model", model, "-q")
    rc, *_ = cli("ctc", "segment", ds2, "--seq", "01", "--overwrite", "--model", model, "-q")
    row(
        "ctc segment --overwrite (no --track) after a tracked run",
        f"exit {rc}; stale res_track.txt left: {(ds2 / '01_RES' / 'res_track.txt').exists()}",
    )

    # 8. training labels
    for kind, lab in (("float32", img.astype(np.float32) / 200), ("negative", img.astype(np.int32) - 11)):
        f = tmp / f"train-{kind}"
        (f / "images").mkdir(parents=True)
        (f / "labels").mkdir()
        tifffile.imwrite(f / "images" / "x.tif", img)
        tifffile.imwrite(f / "labels" / "x.tif", lab)
        rc, msg = py(
            f"from cellseg.datasets import read_folder; s = read_folder({str(f)!r}); "
            "print('accepted; label values', sorted(set(s[0].labels.ravel().tolist()))[:4])"
        )
        row(f"training labels: {kind}", msg[-110:])
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
