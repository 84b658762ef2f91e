"""Screenshot of the napari widget after a tracked run on a time-lapse, for the README.

xvfb-run -a python docs/make_screenshot.py   # writes docs/napari_widget.png (needs ../shared/data)

Four frames of the shared Fluo-N2DH-SIM+ sequence 01 (simulated HL60 nuclei, CTC), segmented with the
shipped model and "Track over time": labels with ids linked across frames, a Tracks layer, the
measurements dock.
"""

import time
from pathlib import Path

import napari
import numpy as np
import tifffile
from qtpy.QtWidgets import QApplication

from cellseg.plugin._widget import SegmentWidget

SEQ = Path(__file__).resolve().parents[2] / "shared" / "data" / "ctc" / "Fluo-N2DH-SIM+" / "01"


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
    while widget.worker is not None:  # keep the GUI running until the worker is done
        QApplication.processEvents()
        time.sleep(0.02)
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
    main()
