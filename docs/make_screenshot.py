"""Screenshots of the napari widgets for the README.

xvfb-run -a python docs/make_screenshot.py              # docs/napari_widget.png (needs ../shared/data)
xvfb-run -a python docs/make_screenshot.py --finetune   # docs/napari_finetune.png

Four frames of the shared Fluo-N2DH-SIM+ sequence 01 (simulated HL60 nuclei, CTC), segmented with the
shipped model and "Track over time": labels with ids linked across frames, a Tracks layer, the
measurements dock.
"""

import sys
import time
from pathlib import Path

import napari
import numpy as np
import tifffile
from qtpy.QtWidgets import QApplication

from cellseg.plugin._widget import SegmentWidget

SEQ = Path(__file__).resolve().parents[2] / "shared" / "data" / "ctc" / "Fluo-N2DH-SIM+" / "01"


def wait(widget):
    while widget.worker is not None:  # keep the GUI running until the worker is done
        QApplication.processEvents()
        time.sleep(0.02)


def finetune_shot():
    """The Fine-tune widget after training on three corrected E. coli phase-contrast images (the set's
    ground truth standing in for corrections) and segmenting them with the new model."""
    import os
    import tempfile

    from cellseg.plugin._finetune_widget import FinetuneWidget

    os.environ["CELLSEG_MODELS"] = tempfile.mkdtemp()
    folder = Path(__file__).resolve().parents[2] / "shared" / "data" / "folders" / "ecoli-trpL-phc"
    viewer = napari.Viewer(show=False)
    viewer.window.resize(1500, 950)
    names = []
    for stem in ("t000", "t005", "t010"):
        viewer.add_image(tifffile.imread(folder / "images" / f"{stem}.tif"), name=stem, colormap="gray")
        viewer.add_labels(tifffile.imread(folder / "labels" / f"{stem}.tif"), name=f"{stem}_labels")
        names.append(stem)
    widget = FinetuneWidget(viewer)
    viewer.window.add_dock_widget(widget, name="cellseg: Fine-tune on your cells")
    widget.images.value = names
    widget.minutes.value = 1.0
    widget.name.value = "my-ecoli"
    widget.train()
    wait(widget)
    if widget.model:
        widget.segment()
        wait(widget)
    for layer in viewer.layers:
        layer.visible = layer.name.startswith("t010")
    viewer.layers.selection.active = viewer.layers[-1]
    viewer.screenshot(canvas_only=False, flash=False)
    out = Path(__file__).parent / "napari_finetune.png"
    viewer.screenshot(str(out), canvas_only=False, flash=False)
    print(out, widget.status.value)
    viewer.close()


def main():
    viewer = napari.Viewer(show=False)
    viewer.window.resize(1500, 1000)
    movie = np.stack([tifffile.imread(SEQ / f"t{t:03d}.tif") for t in range(0, 40, 4)])
    layer = viewer.add_image(movie, name="SIM+ 01 (every 4th frame)", colormap="gray")
    widget = SegmentWidget(viewer)
    viewer.window.add_dock_widget(widget, name="cellseg: Segment cells")
    widget.image.value = layer
    widget.device.value = "cpu"
    widget.run()
    wait(widget)
    viewer.layers[1].opacity = 0.5
    viewer.layers[2].tail_length = 40
    viewer.dims.set_current_step(0, len(movie) - 1)
    widget.show_table()
    for _ in range(20):
        QApplication.processEvents()
        time.sleep(0.02)
    viewer.screenshot(canvas_only=False, flash=False)  # lays the window out
    out = Path(__file__).parent / "napari_widget.png"
    viewer.screenshot(str(out), canvas_only=False, flash=False)
    print(out, widget.status.value)
    viewer.close()


if __name__ == "__main__":
    finetune_shot() if "--finetune" in sys.argv else main()
