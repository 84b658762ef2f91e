"""The segmentation dock widget: a thin layer over :class:`cellseg.Segmenter` and :mod:`cellseg.batch`.

Its controls and their defaults come from :class:`cellseg.options.SegmentOptions`. Every job (segment
a layer, estimate the diameter, segment a folder) runs in a napari ``thread_worker`` over
:func:`cellseg.progress.iterate`, which yields the core's progress events to a napari progress bar;
Cancel goes through the same channel (the core's next progress call raises ``Cancelled``, within one
tile batch) and leaves the layers as they were. Results: a Labels layer named after the image (updated
in place on later runs, with the image's scale and translate) whose ``features`` are the per-cell
measurements; for a time-lapse with "Track over time", ids linked across frames and a Tracks layer
with divisions. Only napari's public API is used.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    FloatSpinBox,
    Label,
    PushButton,
    SpinBox,
    Table,
    create_widget,
)

from cellseg.io import as_frames
from cellseg.options import DEFAULTS, SegmentOptions, option_fields

DEFAULT = "default (shipped)"
FROM_FILE = "model file..."
TABLE_ROWS = 2000  # rows shown in the measurements dock (the CSV export has them all)
_CACHE: dict = {}  # (model, device) -> Segmenter: a model is loaded once per session


def _hide_triton_without_cuda() -> None:
    """torch imports triton lazily; triton's bundled LLVM segfaults the process once Qt has loaded
    Mesa's LLVM-based OpenGL (napari on a machine without a GPU driver). Without CUDA triton does
    nothing for us, so make ``import triton`` fail and torch treat it as absent."""
    import sys

    import torch

    if "triton" not in sys.modules and not torch.cuda.is_available():
        sys.modules["triton"] = None


def _segmenter(options: SegmentOptions):
    """The cached segmenter of this model and device, set to these options."""
    from cellseg.inference import Segmenter

    key = (options.model, options.device)
    if key not in _CACHE:
        _CACHE[key] = Segmenter(options=options)
    seg = _CACHE[key]
    seg.options = options
    return seg


def _option(name: str, label: str, **kw) -> CheckBox | SpinBox | FloatSpinBox:
    """The widget of a SegmentOptions field (a CheckBox, SpinBox or FloatSpinBox by its type), with its
    default, limits and help."""
    ((_, default, kind, help, lo, hi),) = option_fields([name])
    kind = getattr(kind, "__name__", kind)  # a type, or its name under postponed annotations
    if kind == "bool":
        return CheckBox(label=label, value=default, tooltip=help, **kw)
    floating = kind == "float"
    return (FloatSpinBox if floating else SpinBox)(
        label=label,
        value=default,
        min=lo if lo is not None else 0,
        max=hi if hi is not None else (10_000 if floating else 1_000_000_000),
        tooltip=help,
        **kw,
    )


def tracks_data(labels: np.ndarray, table: dict, tracks) -> tuple[np.ndarray, dict]:
    """napari Tracks layer data ((N, 4): track id, frame, y, x at each cell's centroid) and graph
    ({daughter: [mother]}) from tracked labels' measurements and :func:`cellseg.ctc.track.track_frames` tracks."""
    data = np.stack([table["label"], table["frame"], table["centroid_y"], table["centroid_x"]], axis=1)
    data = data[np.lexsort((data[:, 1], data[:, 0]))] if len(data) else np.zeros((0, 4))
    graph = {t.label: [t.parent] for t in tracks if t.parent}
    return data.astype(float), graph


class SegmentWidget(Container):
    def __init__(self, napari_viewer):
        super().__init__(labels=True)
        _hide_triton_without_cuda()
        import monai.inferers  # noqa: F401  (import the model stack on the main thread)
        import segmentation_models_pytorch  # noqa: F401

        self.viewer = napari_viewer
        self.image = create_widget(annotation="napari.layers.Image", label="Image")
        self.nuclei = create_widget(
            annotation="napari.layers.Image",
            label="Nuclei (optional)",
            options={"nullable": True, "tooltip": "a nuclear-stain layer of the same shape, for two-channel models"},
        )
        self.model = ComboBox(label="Model", choices=self.model_choices(), value=DEFAULT)
        self.model_file = FileEdit(label="Model file", mode="r", filter="*.safetensors *.json", visible=False)
        self.device = ComboBox(label="Device", choices=["auto", "cpu", "cuda"], value=DEFAULTS.device)
        self.diameter = _option("diameter", "Diameter (px)", step=1)
        self.estimate_button = PushButton(text="Estimate diameter")
        self.size_refine = _option("size_refine", "Refine the estimate")
        self.threshold = _option("interior_threshold", "Interior threshold", step=0.05)
        self.min_size = _option("min_size", "Min size (px)")
        self.max_size = _option("max_size", "Max size (px, 0: none)")
        self.fill_holes = _option("fill_holes", "Fill holes")
        self.tile = _option("tile", "Tile size", step=32)
        self.tta = _option("tta", "Flip TTA")
        self.track = CheckBox(
            label="Track over time",
            value=True,
            tooltip="for a time-lapse (T, Y, X): link cell ids across frames and add a Tracks layer with divisions",
        )
        self.run_button = PushButton(text="Run")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.status = Label(value="")
        self.table_button = PushButton(text="Show measurements", enabled=False)
        self.csv_file = FileEdit(label="Measurements CSV", mode="w", filter="*.csv")
        self.export_button = PushButton(text="Export measurements", enabled=False)
        self.folder_in = FileEdit(label="Folder: images", mode="d")
        self.folder_out = FileEdit(label="Folder: results", mode="d")
        self.save_png = CheckBox(label="Outline PNGs", value=True)
        self.save_csv = CheckBox(label="Measurement CSVs", value=True)
        self.save_rois = CheckBox(label="Fiji ROIs", value=False)
        self.folder_button = PushButton(text="Segment folder")
        self.extend(
            [
                self.image,
                self.nuclei,
                self.model,
                self.model_file,
                self.device,
                self.diameter,
                self.estimate_button,
                self.size_refine,
                self.threshold,
                self.min_size,
                self.max_size,
                self.fill_holes,
                self.tile,
                self.tta,
                self.track,
                self.run_button,
                self.cancel_button,
                self.status,
                self.table_button,
                self.csv_file,
                self.export_button,
                self.folder_in,
                self.folder_out,
                self.save_png,
                self.save_csv,
                self.save_rois,
                self.folder_button,
            ]
        )
        self.model.changed.connect(lambda v: setattr(self.model_file, "visible", v == FROM_FILE))
        self.run_button.changed.connect(self.run)
        self.estimate_button.changed.connect(self.estimate)
        self.folder_button.changed.connect(self.run_folder)
        self.cancel_button.changed.connect(self.cancel)
        self.table_button.changed.connect(self.show_table)
        self.export_button.changed.connect(self.export_measurements)
        for event in (napari_viewer.layers.events.inserted, napari_viewer.layers.events.removed):
            event.connect(lambda e: (self.reset_choices(), self.refresh_models()))
        self.reset_choices()
        self.worker = None
        self.measurements: dict | None = None  # of the last segmented layer
        self._cancel = threading.Event()

    # -- settings ----------------------------------------------------------------------------
    @staticmethod
    def model_choices() -> list[str]:
        """The shipped model, the user's named models (``cellseg finetune``), a file."""
        from cellseg.modelfile import list_models

        return [DEFAULT, *(name for name, _ in list_models() if name != "default"), FROM_FILE]

    def refresh_models(self) -> None:
        self.model.choices = self.model_choices()

    def model_path(self) -> str:
        if self.model.value == DEFAULT:
            return DEFAULTS.model
        return str(self.model_file.value) if self.model.value == FROM_FILE else self.model.value

    def options(self) -> SegmentOptions:
        return DEFAULTS.replace(
            model=self.model_path(),
            device=self.device.value,
            tile=self.tile.value,
            tta=self.tta.value,
            diameter=self.diameter.value,
            size_refine=self.size_refine.value,
            interior_threshold=self.threshold.value,
            min_size=self.min_size.value,
            max_size=self.max_size.value,
            fill_holes=self.fill_holes.value,
        )

    def _inputs(self):
        """(layer, image array, nuclear frames or None), or None after a one-line notice."""
        from napari.utils.notifications import show_info, show_warning

        layer = self.image.value
        if layer is None:
            show_info("cellseg: choose an image layer first")
            return None
        data = np.asarray(layer.data)
        image = data[..., :3] if layer.rgb else data
        nuclei_layer = self.nuclei.value if self.nuclei.value is not layer else None
        nuclear = None
        try:
            frames = as_frames(image, layer.name)
            if nuclei_layer is not None:
                nuclear = as_frames(np.asarray(nuclei_layer.data), nuclei_layer.name)
                if nuclear.shape != frames.shape:
                    raise ValueError(
                        f"nuclei layer '{nuclei_layer.name}' {nuclear.shape[1:]} does not match '{layer.name}' "
                        f"{frames.shape[1:]}"
                    )
        except Exception as e:  # InputError: a one-line message
            show_warning(f"cellseg: {e}")
            return None
        if layer.ndim > 3:
            show_warning(f"cellseg: '{layer.name}' has {layer.ndim} dimensions; use a 2-D or 3-D layer")
            return None
        return layer, image, nuclear

    # -- jobs ---------------------------------------------------------------------------------
    def _launch(self, job, on_done, desc: str, stage: str = "tiles"):
        """Run ``job(progress)`` in a worker (:func:`cellseg.plugin._worker.launch`), the bar over ``stage``
        events; ``on_done(result)`` on the main thread unless cancelled."""
        from cellseg.plugin._worker import launch

        def returned(result):
            if result is None:
                self.status.value = "cancelled: layers unchanged"
                return
            on_done(result)

        self.status.value = "running..."
        return launch(self, job, returned, desc, [self.run_button, self.estimate_button, self.folder_button], stage)

    def run(self):
        """Segment the chosen layer (a time-lapse frame by frame, tracked when asked)."""
        from napari.utils.notifications import show_info

        picked = self._inputs()
        if picked is None:
            return None
        layer, image, nuclear = picked
        stack = layer.ndim == 3 and not layer.rgb
        track = stack and self.track.value and image.shape[0] > 1
        if stack and not track:
            show_info(
                f"cellseg is 2-D: '{layer.name}' is segmented plane by plane along its first axis "
                "(time or z); labels are not linked between planes (tick 'Track over time' for a time-lapse)"
            )
        options = self.options()

        def job(report):
            from cellseg.outputs import measurements

            seg = _segmenter(options)
            labels = seg.segment(image, progress=report, name=layer.name, nuclear=nuclear)
            tracks = None
            if track:
                from cellseg.ctc.track import track_frames

                labels, tracks = track_frames(labels)
            return {
                "labels": labels,
                "table": measurements(labels, image),
                "tracks": tracks,
                "diameter": seg.last_diameter,
            }

        def done(result):
            labels, table = result["labels"], result["table"]
            target = self._show_labels(layer, labels)
            self.measurements = table
            if labels.ndim == 2:  # napari shows a cell's features under the cursor
                target.features = {"index": table["label"], **table} if table else {}
            if result["tracks"] is not None:
                self._show_tracks(layer, *tracks_data(labels, table, result["tracks"]))
            n = len(result["tracks"]) if result["tracks"] is not None else int(labels.max())
            what = f"{n} tracks" if result["tracks"] is not None else f"{n} cells"
            d = result["diameter"]
            self.status.value = f"{what} in '{layer.name}'" + (f"; diameter {d:.1f} px" if d else "")
            self.table_button.enabled = self.export_button.enabled = True

        return self._launch(job, done, f"cellseg: {layer.name}")

    def estimate(self):
        """Estimate the diameter of the chosen layer's (first) frame and put it in the Diameter box."""
        picked = self._inputs()
        if picked is None:
            return None
        layer, image, nuclear = picked
        options = self.options()

        def job(report):
            d = _segmenter(options).estimate(image, nuclear, layer.name)
            return {"diameter": d}

        def done(result):
            d = result["diameter"]
            if d is None:
                self.status.value = "no diameter estimate (this model has no size handling, or no cells found)"
                return
            self.diameter.value = round(d, 1)
            self.status.value = f"estimated diameter {d:.1f} px"

        return self._launch(job, done, f"cellseg: diameter of {layer.name}")

    def run_folder(self):
        """Segment every image of the input folder into the results folder, with the CLI's outputs."""
        from napari.utils.notifications import show_info

        from cellseg.outputs import OutputOptions

        src, dst = Path(str(self.folder_in.value)), Path(str(self.folder_out.value))
        if not src.is_dir() or str(self.folder_out.value) in ("", "."):
            show_info("cellseg: choose a folder of images and a results folder")
            return None
        options = self.options()
        outputs = OutputOptions(png=self.save_png.value, csv=self.save_csv.value, rois=self.save_rois.value)

        def job(report):
            from cellseg.batch import plan_batch, run_batch

            plan = plan_batch([src], dst, "", outputs, options.max_pixels)
            return run_batch(_segmenter(options) if plan.files else None, plan, outputs, report)

        def done(plan):
            failed = f"; {len(plan.failed)} failed (see summary.csv)" if plan.failed else ""
            self.status.value = f"folder: {plan.done} of {plan.done + len(plan.failed)} images segmented{failed}"

        return self._launch(job, done, f"cellseg: folder {src.name}", stage="images")

    def cancel(self):
        self._cancel.set()
        self.status.value = "cancelling..."

    # -- results ------------------------------------------------------------------------------
    def show_table(self):
        """The last measurements in a dock (the first TABLE_ROWS rows; the CSV export has all)."""
        if not self.measurements:
            self.status.value = "no cells measured"
            return None
        rows = {k: v[:TABLE_ROWS].tolist() for k, v in self.measurements.items()}
        table = Table(value=rows)
        self.viewer.window.add_dock_widget(table, name="cellseg measurements", area="bottom")
        return table

    def export_measurements(self):
        from cellseg.outputs import write_csv

        path = str(self.csv_file.value)
        if self.measurements is None or path in ("", "."):
            self.status.value = "choose a CSV file first"
            return None
        written = write_csv(Path(path).with_suffix(".csv"), self.measurements)
        self.status.value = f"measurements written to {written}"
        return written

    def _show_labels(self, image_layer, labels: np.ndarray):
        from napari.layers import Labels

        name = f"{image_layer.name}_labels"
        scale, translate = image_layer.scale[-labels.ndim :], image_layer.translate[-labels.ndim :]
        if name in self.viewer.layers and isinstance(self.viewer.layers[name], Labels):
            target = self.viewer.layers[name]
            target.data = labels
            target.scale, target.translate = scale, translate
            return target
        return self.viewer.add_labels(labels, name=name, scale=scale, translate=translate)

    def _show_tracks(self, image_layer, data: np.ndarray, graph: dict):
        from napari.layers import Tracks

        name = f"{image_layer.name}_tracks"
        scale, translate = image_layer.scale[-3:], image_layer.translate[-3:]
        if name in self.viewer.layers and isinstance(self.viewer.layers[name], Tracks):
            self.viewer.layers.remove(name)
        if len(data):
            self.viewer.add_tracks(data, graph=graph, name=name, scale=scale, translate=translate)
