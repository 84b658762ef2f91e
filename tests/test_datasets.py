"""Readers for CTC sequences (gold, silver, ERR_SEG; sparse frames) and image/label folders; registry."""

import io
import zipfile

import numpy as np
import pytest

from cellseg.cli import main
from cellseg.datasets import read_folder, read_sequence, registry
from cellseg.datasets.ctc import sparse_ignore
from cellseg.errors import CellsegError, InputError

from .conftest import data_path


def test_sparse_gold_frames_ignore_unlabelled_cells():
    gowt1 = data_path("ctc/Fluo-N2DH-GOWT1")
    samples = {s.name.split("/")[-1]: s for s in read_sequence(gowt1, "01", "gold")}
    assert len(samples) == 30
    sparse = samples["t002"]  # 2 labelled cells of 23
    assert len(np.unique(sparse.labels)) - 1 == 2
    assert sparse.ignore is not None and sparse.ignore.sum() > 20 * 1000
    assert not (sparse.ignore & (sparse.labels > 0)).any()
    for full in ("t021", "t031", "t033", "t039"):  # fully annotated per the data README
        assert samples[full].complete, full
    assert sparse.image.dtype == np.float32 and sparse.image.shape == sparse.labels.shape


def test_ignore_region_covers_each_unmatched_marker():
    labels = np.zeros((60, 60), np.int32)
    labels[5:15, 5:15] = 1
    markers = np.zeros_like(labels)
    markers[8:12, 8:12] = 1  # matched
    markers[40:44, 40:44] = 2  # nobody labelled this cell
    ign = sparse_ignore(labels, markers)
    assert ign[42, 42] and ign[38, 42] and not ign[10, 10] and not ign[25, 25]
    assert sparse_ignore(labels, np.where(markers == 1, 1, 0)) is None


def test_error_masks_and_gold_of_hela():
    hela = data_path("ctc/Fluo-N2DL-HeLa")
    err = read_sequence(hela, "02", "error")
    assert len(err) == 20 and all(s.quality == "error" for s in err)
    gold = read_sequence(hela, "01", "auto")
    assert [s.name for s in gold] == [f"Fluo-N2DL-HeLa/01/t{i:03d}" for i in (13, 52, 75, 79)]
    assert all(s.quality == "gold" for s in gold)
    with pytest.raises(InputError, match="no gold labels for sequence 02"):
        read_sequence(hela, "02", "gold")


def test_sequence_without_labels(tmp_path):
    (tmp_path / "Fluo-Test" / "02").mkdir(parents=True)
    with pytest.raises(InputError, match="no labels for sequence 02"):
        read_sequence(tmp_path / "Fluo-Test", "02")
    with pytest.raises(InputError, match="sequence folder not found"):
        read_sequence(tmp_path / "Fluo-Test", "01")


def test_silver_truth_layout(tmp_path):
    import tifffile

    ds = tmp_path / "Fluo-Test"
    (ds / "01").mkdir(parents=True)
    (ds / "01_ST" / "SEG").mkdir(parents=True)
    img = np.random.default_rng(0).random((32, 32)).astype(np.float32)
    lab = np.zeros((32, 32), np.uint16)
    lab[4:12, 4:12] = 1
    tifffile.imwrite(ds / "01" / "t000.tif", img)
    tifffile.imwrite(ds / "01_ST" / "SEG" / "man_seg000.tif", lab)
    (s,) = read_sequence(ds, "01")
    assert s.quality == "silver" and s.labels.max() == 1


def test_image_label_folders():
    root = data_path("folders/dsb2018-stage1-test")
    samples = read_folder(root)
    assert len(samples) == 65
    assert all(s.image.ndim == 2 and s.labels.shape == s.image.shape for s in samples)  # RGB -> luminance
    ecoli = read_folder(data_path("folders/ecoli-trpL-phc"))
    assert len(ecoli) == 20 and ecoli[0].dataset == "ecoli-trpL-phc"


def _zip_dataset(tmp_path, name):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(f"{name}/01/t000.tif", b"fake")
        z.writestr(f"{name}/01_GT/SEG/man_seg000.tif", b"fake")
    path = tmp_path / f"{name}.zip"
    path.write_bytes(buf.getvalue())
    return path


def test_registry_lists_and_downloads_offline(tmp_path, capsys):
    assert main(["datasets", "list"]) == 0
    listed = capsys.readouterr().out
    assert "Fluo-N2DH-GOWT1" in listed and "celltrackingchallenge" in listed
    assert len(registry.DATASETS) >= 10
    archive = _zip_dataset(tmp_path, "DIC-C2DH-HeLa")
    dest = tmp_path / "data"
    assert main(["datasets", "download", "DIC-C2DH-HeLa", "--dest", str(dest), "--url", archive.as_uri()]) == 0
    assert (dest / "DIC-C2DH-HeLa" / "01_GT" / "SEG" / "man_seg000.tif").is_file()
    assert [p.name for p in dest.iterdir()] == ["DIC-C2DH-HeLa"]  # no temp files left


def test_registry_rejects_bad_archives(tmp_path):
    bad = tmp_path / "bad.zip"
    bad.write_text("not a zip")
    with pytest.raises(CellsegError, match="not a zip"):
        registry.download("PhC-C2DH-U373", tmp_path / "d", url=bad.as_uri())
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("../evil.txt", b"x")
    evil = tmp_path / "evil.zip"
    evil.write_bytes(buf.getvalue())
    with pytest.raises(CellsegError, match="unsafe path"):
        registry.download("PhC-C2DH-U373", tmp_path / "d", url=evil.as_uri())
    assert not (tmp_path / "evil.txt").exists()
    assert not (tmp_path / "d" / "PhC-C2DH-U373").exists()
    with pytest.raises(CellsegError, match="download failed"):
        registry.download("PhC-C2DH-U373", tmp_path / "d", url=(tmp_path / "nope.zip").as_uri())
    with pytest.raises(CellsegError, match="unknown dataset"):
        registry.download("Nope", tmp_path)


def test_dataset_specs_and_readers_registry(tmp_path):
    from pathlib import Path

    import tifffile

    from cellseg.datasets import READERS, DatasetSpec, Part, load_split

    assert set(READERS) == {"ctc", "folder"}
    spec = DatasetSpec.from_dict(
        {
            "name": "s",
            "kind": "ctc",
            "path": "x",
            "train": [{"seq": "01", "frames": "0-2"}],
            "val": [{"seq": 2, "frames": [5]}],
        }
    )
    assert spec.layout == "ctc" and spec.train == (Part("01", "auto", (0, 1, 2)),) and spec.val[0].seq == "2"
    with pytest.raises(CellsegError, match="unknown layout 'zarr'"):
        DatasetSpec.from_dict({"name": "s", "layout": "zarr", "path": "x"})
    with pytest.raises(CellsegError, match="unknown keys"):
        DatasetSpec.from_dict({"name": "s", "path": "x", "vall": []})
    # a folder dataset split by the reader its layout names: every 5th image (offset 4) held out
    root = tmp_path / "data"
    for d in ("images", "labels"):
        (root / "f" / d).mkdir(parents=True)
    for i in range(7):
        tifffile.imwrite(root / "f" / "images" / f"i{i}.tif", np.full((16, 16), i, np.uint8))
        tifffile.imwrite(root / "f" / "labels" / f"i{i}.tif", np.ones((16, 16), np.uint16))
    train, val = load_split({"name": "f", "layout": "folder", "path": "f"}, root)
    assert [s.name for s in val] == ["f/i4"] and len(train) == 6
    assert all(s.ignore is None for s in train)
    # a set whose annotators skipped edge slivers: unlabelled pixels near the border teach nothing
    tifffile.imwrite(root / "f" / "labels" / "i0.tif", np.pad(np.ones((10, 10), np.uint16), 3))
    train, _ = load_split({"name": "f", "layout": "folder", "path": "f", "ignore_border": 2}, root)
    ign = train[0].ignore
    assert ign[0].all() and ign[:, -2:].all() and not ign[2:-2, 2:-2].any() and not ign[3:13, 3:13].any()
    # the shipped configs name modality and licence for every dataset
    configs = Path(__file__).resolve().parents[1] / "training" / "configs"
    from cellseg.training.trainer import TrainConfig

    for cfg in configs.rglob("*.yaml"):  # a config's datasets may come from its base
        for s in TrainConfig.from_yaml(cfg).dataset_specs():
            assert s.modality and s.licence, (cfg.name, s.name)


def test_dsb2018_train_recipe_builds_the_folder_layout(tmp_path, monkeypatch, capsys):
    """A miniature of the source repository (RGBA image, one binary PNG per nucleus, two overlapping)
    becomes images/ + labels/ in the data cache, with the source and licence recorded."""
    import json

    from skimage.io import imsave

    from cellseg.datasets import DatasetSpec, load_split

    src = tmp_path / "repo" / "stage1_train"
    for n, stem in enumerate(["aaa", "bbb", "ccc", "ddd", "eee"]):
        (src / stem / "images").mkdir(parents=True)
        (src / stem / "masks").mkdir()
        img = np.zeros((40, 50, 4), np.uint8)
        img[..., 3] = 255
        img[5:15, 5:15, :3] = 200
        img[20:30, 10:22, :3] = 150 + n
        imsave(src / stem / "images" / f"{stem}.png", img, check_contrast=False)
        a, b = np.zeros((40, 50), np.uint8), np.zeros((40, 50), np.uint8)
        a[5:15, 5:15] = 255
        b[12:30, 10:22] = 255  # overlaps a on rows 12-14, columns 10-14
        imsave(src / stem / "masks" / "m1.png", a, check_contrast=False)
        imsave(src / stem / "masks" / "m2.png", b, check_contrast=False)
    monkeypatch.setenv("CELLSEG_DATA_CACHE", str(tmp_path / "cache"))
    assert main(["datasets", "build", "dsb2018-stage1-train", "--source", str(tmp_path / "repo")]) == 0
    out = tmp_path / "cache" / "dsb2018-stage1-train"
    record = json.loads((out / "SOURCE.json").read_text())
    assert "CC0" in record["licence"] and "30354551" in record["source"]
    assert record["counts"] == {"images": 5, "nuclei": 10, "colour": 0, "overlap_pixels": 5 * 15, "skipped": 0}
    spec = DatasetSpec.from_dict(
        {"name": "dsb-train", "layout": "folder", "path": "dsb2018-stage1-train", "root": "cache"}
    )
    train, val = load_split(spec, tmp_path / "elsewhere")
    assert len(train) == 4 and len(val) == 1
    s = train[0]
    assert s.image.shape == (40, 50) and s.labels.dtype.kind in "iu"
    assert set(np.unique(s.labels)) == {0, 1, 2} and (s.labels == 1).sum() == 100  # the first mask keeps overlaps
    missing = DatasetSpec.from_dict({"name": "x", "layout": "folder", "path": "nothing", "root": "cache"})
    with pytest.raises(CellsegError, match="cellseg datasets build nothing"):
        load_split(missing, tmp_path)
    assert main(["datasets", "list"]) == 0 and "dsb2018-stage1-train" in capsys.readouterr().out


def _git(repo, *args):
    import subprocess

    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env).stdout


def test_monuseg_recipe_from_a_snapshot_that_lacks_its_largest_files(tmp_path, monkeypatch):
    """MoNuSeg's layout (tissue_image/*.tif + annotations/*.xml polygons) in a git snapshot whose largest blob is
    absent: the pairs it holds become instance labels (overlaps to the first polygon), the absent pair is named,
    and a test image is never converted, even when it sits among the training files."""
    import json
    import os

    import tifffile

    from cellseg.datasets import recipes

    repo = tmp_path / "repo"
    train, test = repo / "data" / "MoNuSegTrainData", repo / "data" / "MoNuSegTestData"
    for d in (train / "tissue_image", train / "annotations", test / "tissue_image"):
        d.mkdir(parents=True)

    def square(x, y, s):
        return "".join(f'<Vertex X="{a}" Y="{b}"/>' for a, b in [(x, y), (x + s, y), (x + s, y + s), (x, y + s)])

    xml = "<Annotations><Annotation><Regions>{}</Regions></Annotation></Annotations>"
    regions = "".join(
        f"<Region><Vertices>{square(*v)}</Vertices></Region>" for v in [(2, 2, 10), (8, 8, 10), (30, 5, 6)]
    )
    for stem in ("TCGA-A", "TCGA-B", "TCGA-T"):
        tifffile.imwrite(train / "tissue_image" / f"{stem}.tif", np.full((40, 50, 3), 120, np.uint8))
        (train / "annotations" / f"{stem}.xml").write_text(xml.format(regions))
    tifffile.imwrite(test / "tissue_image" / "TCGA-T.tif", np.zeros((4, 4, 3), np.uint8))
    (test / "annotations").mkdir()
    (test / "annotations" / "TCGA-U.xml").write_text(xml.format(""))  # a test image known by its XML alone
    tifffile.imwrite(train / "tissue_image" / "TCGA-U.tif", np.full((40, 50, 3), 120, np.uint8))
    (train / "annotations" / "TCGA-U.xml").write_text(xml.format(regions))
    (train / "annotations" / "TCGA-B.xml").write_text(xml.format(regions) + " " * 1000)  # the largest file
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "data")
    sha = _git(repo, "rev-parse", "HEAD").strip()
    blob = _git(repo, "rev-parse", "HEAD:data/MoNuSegTrainData/annotations/TCGA-B.xml").strip()
    os.remove(repo / ".git" / "objects" / blob[:2] / blob[2:])  # what the snapshot tool leaves out
    recipe = recipes.RECIPES["monuseg-2018-train"]
    monkeypatch.setitem(recipes.RECIPES, recipe.name, recipes.Recipe(**{**recipe.__dict__, "commit": sha}))
    out = recipes.build("monuseg-2018-train", tmp_path / "cache", source=repo / ".git")
    counts = json.loads((out / "SOURCE.json").read_text())["counts"]
    assert counts["images"] == 1 and counts["missing"] == ["TCGA-B"] and counts["test_left_out"] == ["TCGA-T", "TCGA-U"]
    labels = tifffile.imread(out / "labels" / "TCGA-A.tif")
    assert tifffile.imread(out / "images" / "TCGA-A.tif").shape == (40, 50, 3)
    assert set(np.unique(labels)) == {0, 1, 2, 3} and counts["nuclei"] == 3
    assert labels[9, 9] == 1 and labels[15, 15] == 2  # the overlap stays with the first polygon
    assert sorted(p.name for p in (out / "images").iterdir()) == ["TCGA-A.tif"]
