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
    ticks = []
    from qtpy.QtCore import QTimer

    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(10)
    run_and_wait(qtbot, widget)
    timer.stop()
    assert len(ticks) >= 3, "the event loop did not run while segmenting"
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
