"""The segmentation dock widget: a thin layer over :class:`cellseg.Segmenter`.

Its controls and their defaults come from :class:`cellseg.options.SegmentOptions`. Inference runs in a
napari ``thread_worker`` over :func:`cellseg.progress.iterate`, which yields the core's progress
events; the widget only forwards them to a napari progress bar (tile batches: per tile on one big
image, per frame on a stack). Cancel goes through the same channel: the core's next progress call
raises ``Cancelled``, within one tile batch, and the layers stay as they were. The result goes to a
Labels layer named after the image, updated in place on later runs, with the image's scale and
translate.
"""

from __future__ import annotations

import threading

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
    create_widget,
)

from cellseg.io import as_frames
from cellseg.options import DEFAULTS, SegmentOptions, option_fields
from cellseg.progress import iterate

DEFAULT = "default (shipped)"
FROM_FILE = "model file..."
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


def _spin(name: str, label: str, **kw) -> SpinBox:
    """A SpinBox for a SegmentOptions field: its default and limits."""
    ((_, default, _, help, lo, hi),) = option_fields([name])
    return SpinBox(
        label=label,
        value=default,
        min=lo if lo is not None else 0,
        max=hi if hi is not None else 1_000_000_000,
        tooltip=help,
        **kw,
    )


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
        self.model = ComboBox(label="Model", choices=[DEFAULT, FROM_FILE], value=DEFAULT)
        self.model_file = FileEdit(label="Model file", mode="r", filter="*.safetensors *.json", visible=False)
        self.device = ComboBox(label="Device", choices=["auto", "cpu", "cuda"], value=DEFAULTS.device)
        self.tile = _spin("tile", "Tile size", step=32)
        self.tta = CheckBox(label="Flip TTA", value=DEFAULTS.tta, tooltip="average over flips (3x slower)")
        self.min_size = _spin("min_size", "Min size (px)")
        ((_, d0, _, d_help, _, _),) = option_fields(["diameter"])
        self.diameter = FloatSpinBox(label="Diameter (px)", value=d0, min=0, max=10_000, step=1, tooltip=d_help)
        self.run_button = PushButton(text="Run")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.status = Label(value="")
        self.extend(
            [
                self.image,
                self.nuclei,
                self.model,
                self.model_file,
                self.device,
                self.tile,
                self.tta,
                self.diameter,
                self.min_size,
                self.run_button,
                self.cancel_button,
                self.status,
            ]
        )
        self.model.changed.connect(lambda v: setattr(self.model_file, "visible", v == FROM_FILE))
        self.run_button.changed.connect(self.run)
        self.cancel_button.changed.connect(self.cancel)
        for event in (napari_viewer.layers.events.inserted, napari_viewer.layers.events.removed):
            event.connect(lambda e: self.reset_choices())
        self.reset_choices()
        self.worker = None
        self._cancel = threading.Event()

    # -- actions ---------------------------------------------------------------------------
    def model_path(self) -> str:
        return DEFAULTS.model if self.model.value == DEFAULT else str(self.model_file.value)

    def options(self) -> SegmentOptions:
        return DEFAULTS.replace(
            model=self.model_path(),
            device=self.device.value,
            tile=self.tile.value,
            tta=self.tta.value,
            diameter=self.diameter.value,
            min_size=self.min_size.value,
        )

    def run(self):
        from napari.qt.threading import create_worker
        from napari.utils import progress
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
        if layer.ndim == 3 and not layer.rgb:
            show_info(
                f"cellseg is 2-D: '{layer.name}' is segmented plane by plane along its first axis "
                "(time or z); labels are not linked between planes"
            )
        elif layer.ndim > 3:
            show_warning(f"cellseg: '{layer.name}' has {layer.ndim} dimensions; use a 2-D or 3-D layer")
            return None
        options = self.options()
        self._cancel.clear()
        bar = progress(total=0, desc=f"cellseg: {layer.name}")

        def job(report):
            labels = _segmenter(options).segment(image, progress=report, name=layer.name, nuclear=nuclear)
            return labels if labels.ndim == 3 else labels[None]  # (T, Y, X) like frames

        worker = create_worker(
            iterate, job, self._cancel, _start_thread=False, _ignore_errors=True
        )  # errors go to on_error

        def on_step(event):
            if bar.total != event.total:
                bar.total = event.total
            bar.n = event.done
            bar.refresh()

        def on_done(labels):
            if labels is None:
                self.status.value = "cancelled: layers unchanged"
                return
            self._show_labels(layer, labels if frames.shape[0] > 1 or layer.ndim == 3 else labels[0])
            self.status.value = f"{int(labels.max())} cells in '{layer.name}'"

        def on_error(e):
            from napari.utils.notifications import show_error

            self.status.value = "error (see notification)"
            show_error(f"cellseg: {e}")

        def on_finished():
            bar.close()
            self.run_button.enabled = True
            self.cancel_button.enabled = False
            self.worker = None

        worker.yielded.connect(on_step)
        worker.returned.connect(on_done)
        worker.errored.connect(on_error)
        worker.finished.connect(on_finished)
        self.run_button.enabled = False
        self.cancel_button.enabled = True
        self.status.value = "running..."
        self.worker = worker
        worker.start()
        return worker

    def cancel(self):
        self._cancel.set()
        self.status.value = "cancelling..."

    def _show_labels(self, image_layer, labels: np.ndarray):
        name = f"{image_layer.name}_labels"
        scale, translate = image_layer.scale[-labels.ndim :], image_layer.translate[-labels.ndim :]
        if name in self.viewer.layers and self.viewer.layers[name]._type_string == "labels":
            target = self.viewer.layers[name]
            target.data = labels
            target.scale, target.translate = scale, translate
        else:
            self.viewer.add_labels(labels, name=name, scale=scale, translate=translate)
