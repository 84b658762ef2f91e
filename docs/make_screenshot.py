"""Screenshot of the napari widget after a run on the sample, for the README.

xvfb-run -a python docs/make_screenshot.py   # writes docs/napari_widget.png
"""

import time
from pathlib import Path

import napari
from qtpy.QtWidgets import QApplication

from cellseg.plugin._widget import SegmentWidget


def main():
    viewer = napari.Viewer(show=False)
    viewer.window.resize(1400, 900)
    viewer.open_sample("cellseg", "nuclei")
    widget = SegmentWidget(viewer)
    viewer.window.add_dock_widget(widget, name="cellseg: Segment cells")
    widget.device.value = "cpu"
    widget.run()
    while widget.worker is not None:  # keep the GUI running until the worker is done
        QApplication.processEvents()
        time.sleep(0.02)
    viewer.layers[-1].opacity = 0.6
    out = Path(__file__).parent / "napari_widget.png"
    viewer.screenshot(str(out), canvas_only=False)
    print(out, widget.status.value)
    viewer.close()


if __name__ == "__main__":
    main()
