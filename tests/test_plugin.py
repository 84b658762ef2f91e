"""The napari plugin in a real napari viewer (run under a virtual display: xvfb-run -a)."""

import os

import numpy as np
import pytest

napari = pytest.importorskip("napari")
pytestmark = pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run -a")

from cellseg.plugin._widget import FROM_FILE, SegmentWidget  # noqa: E402

TIMEOUT = 120_000


@pytest.fixture()
def viewer_widget(make_napari_viewer, tiny_model_dir):
    viewer = make_napari_viewer()
    widget = SegmentWidget(viewer)
    viewer.window.add_dock_widget(widget, name="cellseg")
    widget.model.value = FROM_FILE
    widget.model_file.value = tiny_model_dir
    widget.device.value = "cpu"
    return viewer, widget


def run_and_wait(qtbot, widget):
    widget.run()
    assert not widget.run_button.enabled  # disabled while running
    qtbot.waitUntil(lambda: widget.worker is None, timeout=TIMEOUT)
    assert widget.run_button.enabled


def test_sample_run_rerun_scale(viewer_widget, qtbot):
    viewer, widget = viewer_widget
    viewer.open_sample("cellseg", "nuclei")
    image = viewer.layers[0]
    assert image.data.shape == (512, 512)
    image.scale = (0.5, 0.25)
    image.translate = (10, 20)
    widget.image.value = image
    import time

    from qtpy.QtCore import QTimer

    ticks = []  # while segmenting: showing the result (adding the layer) is main-thread work by design

    def tick():
        if f"{image.name}_labels" not in viewer.layers:
            ticks.append(time.perf_counter())

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(10)
    run_and_wait(qtbot, widget)
    timer.stop()
    assert len(ticks) >= 3, "the event loop did not run while segmenting"
    assert np.diff(ticks).max() < 0.5, "the main thread was blocked for more than 0.5 s while segmenting"
    labels = viewer.layers[f"{image.name}_labels"]
    assert labels.data.shape == (512, 512) and labels.data.dtype == np.uint16
    assert tuple(labels.scale) == (0.5, 0.25) and tuple(labels.translate) == (10, 20)
    widget.min_size.value = 100000  # drop everything: the same layer must change
    run_and_wait(qtbot, widget)
    assert len(viewer.layers) == 2
    assert viewer.layers[f"{image.name}_labels"].data.max() == 0


def test_stack_rgb_and_note(viewer_widget, qtbot, monkeypatch):
    viewer, widget = viewer_widget
    notes = []
    monkeypatch.setattr("napari.utils.notifications.show_info", lambda m: notes.append(m))
    rng = np.random.default_rng(0)
    stack = viewer.add_image(rng.random((3, 64, 80)).astype(np.float32), name="stack")
    widget.image.value = stack
    widget.track.value = False  # planes, not a time-lapse: a note says they are not linked
    run_and_wait(qtbot, widget)
    assert viewer.layers["stack_labels"].data.shape == (3, 64, 80)
    assert any("plane by plane" in n for n in notes)
    rgb = viewer.add_image((rng.random((64, 80, 3)) * 255).astype(np.uint8), name="rgb", rgb=True)
    widget.image.value = rgb
    run_and_wait(qtbot, widget)
    assert viewer.layers["rgb_labels"].data.shape == (64, 80)


def test_nuclei_layer_reaches_the_model(viewer_widget, qtbot, monkeypatch):
    viewer, widget = viewer_widget
    errors, warnings = [], []
    monkeypatch.setattr("napari.utils.notifications.show_error", lambda m: errors.append(m))
    monkeypatch.setattr("napari.utils.notifications.show_warning", lambda m: warnings.append(m))
    rng = np.random.default_rng(0)
    cells = viewer.add_image(rng.random((64, 80)).astype(np.float32), name="cells")
    small = viewer.add_image(rng.random((32, 80)).astype(np.float32), name="small")
    widget.image.value, widget.nuclei.value = cells, small
    assert widget.run() is None and "does not match" in warnings[-1]  # refused before any work
    nuclei = viewer.add_image(rng.random((64, 80)).astype(np.float32), name="nuclei")
    widget.image.value, widget.nuclei.value = cells, nuclei
    run_and_wait(qtbot, widget)  # the tiny model takes one channel: one clear error, no layer
    assert errors and "takes one channel" in errors[-1] and "cells_labels" not in viewer.layers
    widget.nuclei.value = None
    run_and_wait(qtbot, widget)
    assert viewer.layers["cells_labels"].data.shape == (64, 80)


def test_cancel_leaves_layers_unchanged(viewer_widget, qtbot):
    viewer, widget = viewer_widget
    viewer.add_image(np.random.default_rng(1).random((1024, 1024)).astype(np.float32), name="big")
    widget.tile.value = 64  # ~ 400 tiles: plenty of time to cancel
    widget.run()
    qtbot.waitUntil(lambda: widget.status.value == "running..." and widget.worker is not None, timeout=TIMEOUT)
    qtbot.wait(300)
    widget.cancel_button.changed.emit(True)
    qtbot.waitUntil(lambda: widget.worker is None, timeout=TIMEOUT)
    assert widget.status.value.startswith("cancelled")
    assert [layer.name for layer in viewer.layers] == ["big"]


def test_bad_model_file_shows_error(viewer_widget, qtbot, monkeypatch, tmp_path):
    viewer, widget = viewer_widget
    errors = []
    monkeypatch.setattr("napari.utils.notifications.show_error", lambda m: errors.append(m))
    bad = tmp_path / "bad.safetensors"
    bad.write_text("not a model")
    widget.model_file.value = bad
    viewer.add_image(np.zeros((32, 32), np.float32), name="img")
    run_and_wait(qtbot, widget)
    assert errors and "not a cellseg model" in errors[0]
    assert [layer.name for layer in viewer.layers] == ["img"]


def test_ctc_writer_through_napari(make_napari_viewer, tmp_path):
    import tifffile

    viewer = make_napari_viewer()
    labels = np.zeros((2, 32, 32), np.uint16)
    labels[0, 2:8, 2:8] = 1
    layer = viewer.add_labels(labels, name="cells")
    written = napari.save_layers(str(tmp_path / "01_RES"), [layer], plugin="cellseg")
    assert sorted(os.path.basename(p) for p in written) == ["mask000.tif", "mask001.tif"]
    assert tifffile.imread(tmp_path / "01_RES" / "mask000.tif").dtype == np.uint16


def test_manifest():
    from npe2 import PluginManifest

    pm = PluginManifest.from_distribution("cellseg")
    assert pm.contributions.menus["napari/layers/segment"][0].command == "cellseg.segment"
    assert pm.contributions.sample_data[0].key == "nuclei"


@pytest.mark.slow
def test_fresh_napari_process_does_not_crash(tiny_model_dir, tmp_path):
    """As a user meets it: napari (Qt + OpenGL) is up before the plugin loads torch's model stack."""
    import subprocess
    import sys
    import textwrap

    script = tmp_path / "run_plugin.py"
    script.write_text(
        textwrap.dedent(f"""
        import time
        import napari
        from qtpy.QtWidgets import QApplication
        viewer = napari.Viewer(show=False)
        viewer.open_sample("cellseg", "nuclei")
        from cellseg.plugin._widget import FROM_FILE, SegmentWidget
        w = SegmentWidget(viewer)
        w.model.value = FROM_FILE
        w.model_file.value = {str(tiny_model_dir)!r}
        w.device.value = "cpu"
        w.run()
        while w.worker is not None:
            QApplication.processEvents()
            time.sleep(0.02)
        print("LAYERS", [layer.name for layer in viewer.layers])
        viewer.close()
    """)
    )
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "nuclei (BBBC038v1)_labels" in proc.stdout


def test_tracks_data_links_a_division():
    from cellseg.ctc.track import track_frames
    from cellseg.outputs import measurements
    from cellseg.plugin._widget import tracks_data

    frames = np.zeros((3, 40, 60), np.uint16)
    frames[0, 10:30, 10:30] = 1  # one cell...
    frames[1, 10:30, 10:30] = 5
    frames[2, 10:19, 10:30] = 2  # ...divides into two
    frames[2, 21:30, 10:30] = 7
    labels, tracks = track_frames(frames)
    data, graph = tracks_data(labels, measurements(labels), tracks)
    assert data.shape == (4, 4) and sorted(set(data[:, 0])) == [1, 2, 3]
    assert graph == {2: [1], 3: [1]}  # both daughters have the mother as parent


@pytest.fixture()
def shipped_widget(make_napari_viewer):
    viewer = make_napari_viewer()
    widget = SegmentWidget(viewer)
    viewer.window.add_dock_widget(widget, name="cellseg")
    widget.device.value = "cpu"
    return viewer, widget


def test_time_lapse_gets_linked_ids_and_a_tracks_layer(shipped_widget, qtbot):
    import tifffile

    from .conftest import data_path

    viewer, widget = shipped_widget
    seq = data_path("ctc", "Fluo-N2DH-SIM+", "01")
    movie = np.stack([tifffile.imread(seq / f"t{t:03d}.tif") for t in range(4)])
    layer = viewer.add_image(movie, name="movie", scale=(1, 0.5, 0.5))
    widget.image.value = layer
    assert widget.track.value  # on by default
    run_and_wait(qtbot, widget)
    labels = viewer.layers["movie_labels"].data
    tracks = viewer.layers["movie_tracks"]
    assert labels.shape == movie.shape and tuple(tracks.scale) == (1, 0.5, 0.5)
    per_frame = [set(np.unique(f)) - {0} for f in labels]
    assert min(len(s) for s in per_frame) > 10
    kept = per_frame[0] & per_frame[1] & per_frame[2] & per_frame[3]
    assert len(kept) >= 0.8 * len(per_frame[0])  # most cells keep their id through the movie
    for k in list(kept)[:5]:  # and a kept id is the same cell (it moves little)
        ys = [np.argwhere(f == k)[:, 0].mean() for f in labels]
        assert max(ys) - min(ys) < 15
    assert set(tracks.data[:, 0].astype(int)) == set().union(*per_frame)
    assert "tracks in 'movie'" in widget.status.value


def test_measurements_are_features_a_table_and_a_csv(shipped_widget, qtbot, tmp_path):
    import csv

    viewer, widget = shipped_widget
    viewer.open_sample("cellseg", "nuclei")
    widget.image.value = viewer.layers[0]
    run_and_wait(qtbot, widget)
    labels = viewer.layers[-1]
    n = int(labels.data.max())
    assert "diameter" in widget.status.value and f"{n} cells" in widget.status.value
    features = labels.features
    assert len(features) == n and list(features["index"]) == list(range(1, n + 1))
    assert (features["area"].to_numpy() == np.bincount(labels.data.ravel())[1:]).all()
    table = widget.show_table()
    assert table is not None and table.shape[0] == n
    widget.csv_file.value = tmp_path / "cells.csv"
    widget.export_measurements()
    with open(tmp_path / "cells.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == n and "mean_intensity_ch1" in rows[0]


def test_estimate_fills_the_diameter(shipped_widget, qtbot):
    viewer, widget = shipped_widget
    viewer.open_sample("cellseg", "nuclei")
    widget.image.value = viewer.layers[0]
    widget.estimate()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=TIMEOUT)
    assert 5 < widget.diameter.value < 60 and widget.status.value.startswith("estimated diameter")
    first = widget.diameter.value
    widget.size_refine.value, widget.diameter.value = True, 0  # the CLI's --size-refine: a second stage
    assert widget.options().size_refine
    widget.estimate()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=TIMEOUT)
    assert 5 < widget.diameter.value < 60 and widget.diameter.value != first


def test_a_folder_from_the_gui_gives_the_files_of_the_cli(viewer_widget, qtbot, tmp_path, blobs):
    import tifffile

    from cellseg.cli import main

    viewer, widget = viewer_widget
    img, _ = blobs
    src = tmp_path / "in"
    src.mkdir()
    for k in range(3):
        tifffile.imwrite(src / f"img{k}.tif", np.roll(img, 9 * k, axis=1).astype(np.uint16))
    widget.folder_in.value, widget.folder_out.value = src, tmp_path / "gui"
    widget.run_folder()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=TIMEOUT)
    assert widget.status.value == "folder: 3 of 3 images segmented"
    cli = ["segment", str(src), "-o", str(tmp_path / "cli"), "--model", str(widget.model_file.value)]
    assert main([*cli, "--device", "cpu", "--save-png", "--save-csv", "-q"]) == 0
    gui = sorted(p.name for p in (tmp_path / "gui").iterdir())
    assert gui == sorted(p.name for p in (tmp_path / "cli").iterdir()) and "summary.csv" in gui
    for k in range(3):
        for name in (f"img{k}.tif", f"img{k}_cells.csv"):
            assert (tmp_path / "gui" / name).read_bytes() == (tmp_path / "cli" / name).read_bytes()


def test_results_folder_opens_with_its_labels(make_napari_viewer, tmp_path):
    from cellseg.cli import main

    sample = os.path.join(os.path.dirname(__file__), "..", "cellseg", "samples", "nuclei_dsb2018.tif")
    assert main(["segment", sample, "-o", str(tmp_path), "--save-csv", "-q"]) == 0
    viewer = make_napari_viewer()
    layers = viewer.open(str(tmp_path / "summary.csv"), plugin="cellseg")
    assert [layer.name for layer in layers] == ["nuclei_dsb2018", "nuclei_dsb2018_labels"]
    assert len(layers[1].features) == int(layers[1].data.max()) > 50


def test_screenshot_shows_the_labels_over_the_image(shipped_widget, qtbot):
    viewer, widget = shipped_widget
    viewer.open_sample("cellseg", "nuclei")
    widget.image.value = viewer.layers[0]
    run_and_wait(qtbot, widget)
    labels = viewer.layers[-1]

    viewer.window.resize(1200, 800)
    viewer.screenshot(canvas_only=False, flash=False)  # the first picture lays the window out
    shown = viewer.screenshot(canvas_only=False, flash=False)[..., :3].astype(int)  # the window, as a user sees it
    labels.visible = False
    qtbot.wait(100)
    hidden = viewer.screenshot(canvas_only=False, flash=False)[..., :3].astype(int)
    changed = np.abs(shown - hidden).sum(-1) > 60  # what the labels layer adds to the picture
    assert changed.mean() > 0.01
    added = shown[changed]
    colourful = added[added.max(-1) - added.min(-1) > 60]
    assert len(colourful) > 0.5 * len(added)  # mostly coloured cells over a grey image
    assert len(np.unique(colourful // 32, axis=0)) > 20  # in many colours: one per cell


@pytest.fixture()
def finetune_widget(make_napari_viewer, tiny_model_dir, tmp_path, monkeypatch, blobs):
    import shutil

    from cellseg.plugin._finetune_widget import FinetuneWidget

    monkeypatch.setenv("CELLSEG_MODELS", str(tmp_path / "models"))
    shutil.copytree(tiny_model_dir, tmp_path / "models" / "tiny")
    viewer = make_napari_viewer()
    img, lab = blobs
    viewer.add_image(np.tile(img, (2, 2)), name="cells")
    viewer.add_labels(
        np.block([[lab, lab + 10 * (lab > 0)], [lab + 20 * (lab > 0), lab + 30 * (lab > 0)]]), name="cells_labels"
    )
    widget = FinetuneWidget(viewer)
    viewer.window.add_dock_widget(widget, name="cellseg fine-tune")
    widget.images.value = ["cells"]
    widget.base.value = "tiny"
    widget.train_encoder.value = True
    widget.lr = 3e-3
    return viewer, widget


def test_finetune_widget_trains_saves_and_segments_with_the_new_model(finetune_widget, qtbot, tmp_path, monkeypatch):
    import time

    from qtpy.QtCore import QTimer

    viewer, widget = finetune_widget
    widget.minutes.value = 0.3
    errors = []
    monkeypatch.setattr("napari.utils.notifications.show_error", lambda m: errors.append(m))
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start(10)
    widget.train()
    assert not widget.train_button.enabled and widget.cancel_button.enabled
    qtbot.waitUntil(lambda: widget.worker is None, timeout=TIMEOUT)
    timer.stop()
    assert np.diff(ticks).max() < 0.5, "the main thread was blocked for more than 0.5 s"
    assert "saved as 'my-cells'" in widget.status.value, (widget.status.value, errors)
    assert (tmp_path / "models" / "my-cells" / "config.json").is_file()
    assert "my-cells" in widget.base.choices
    widget.segment()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=TIMEOUT)
    new = viewer.layers["cells_labels_my-cells"]
    assert new.data.shape == viewer.layers["cells"].data.shape and new.data.max() > 0
    assert viewer.layers["cells_labels"].data.max() == 34  # the corrected labels are left as they were


def test_finetune_widget_cancel_and_missing_labels(finetune_widget, qtbot, monkeypatch):
    viewer, widget = finetune_widget
    warnings, told = [], []
    monkeypatch.setattr("napari.utils.notifications.show_warning", lambda m: warnings.append(m))

    def unlabelled_cells(seg, train, sparse, log):  # finetune's sparse-label step, as if the labels were sparse
        told.append(sparse)
        log("warning: cells: 8 of the 12 objects the base model finds there have no label")
        return train

    monkeypatch.setattr("cellseg.training.finetune._unlabelled_cells", unlabelled_cells)
    widget.sparse.value = True
    viewer.add_image(np.zeros((64, 64), np.float32), name="unlabelled")
    widget.images.value = ["unlabelled"]
    assert widget.train() is None and "no labels layer 'unlabelled_labels'" in warnings[-1]
    widget.images.value = ["cells"]
    widget.minutes.value = 5
    widget.train()
    qtbot.waitUntil(lambda: widget.status.value.startswith("step"), timeout=TIMEOUT)
    widget.cancel_button.changed.emit(True)
    qtbot.waitUntil(lambda: widget.worker is None, timeout=TIMEOUT)
    assert widget.status.value.startswith("cancelled")
    assert told == [True] and "8 of the 12 objects" in warnings[-1]  # the box reaches finetune; its warning, the user
