"""The fine-tuning dock widget: segment, correct the labels with napari's brush and eraser, train, segment again.

Pick image layers; each trains with the Labels layer named ``<image>_labels`` (what the Segment widget
made and you corrected). Training is :func:`cellseg.training.finetune.finetune` in a napari worker, its
progress bar showing the loss and the validation SEG; Cancel stops it and keeps the best model so far
(a model is saved only when it beats the base model on the held-out part of your images). "Segment with
it" then segments the same layers with the new model into ``<image>_labels_<model>`` layers, leaving your
corrected labels as they are. Only napari's public API is used.
"""

from __future__ import annotations

import re
import threading

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, FloatSpinBox, Label, LineEdit, PushButton, Select

from cellseg.training.finetune import LR, MINUTES


def _model_names() -> list[str]:
    from cellseg.modelfile import list_models

    return [name for name, _ in list_models()]


def layer_samples(image_layer, labels_layer, rgb: str = "luminance") -> list:
    """Samples from an image layer and its labels: one per frame that holds labelled cells."""
    from cellseg.datasets.sample import Sample
    from cellseg.io import as_frames

    data = np.asarray(image_layer.data)
    frames = as_frames(data[..., :3] if image_layer.rgb else data, image_layer.name, rgb=rgb)
    labels = np.asarray(labels_layer.data)
    labels = labels[None] if labels.ndim == 2 else labels
    if labels.shape != frames.shape:
        raise ValueError(
            f"labels '{labels_layer.name}' {labels.shape} do not match '{image_layer.name}' {frames.shape}"
        )
    name = image_layer.name
    return [
        Sample(f, lab.astype(np.int32), "napari", f"{name}" if len(frames) == 1 else f"{name} t{t}")
        for t, (f, lab) in enumerate(zip(frames, labels))
        if lab.max() > 0
    ]


class FinetuneWidget(Container):
    def __init__(self, napari_viewer):
        super().__init__(labels=True)
        from cellseg.plugin._widget import _hide_triton_without_cuda

        _hide_triton_without_cuda()
        self.viewer = napari_viewer
        self.images = Select(label="Images (with <image>_labels)", choices=self._image_names, allow_multiple=True)
        self.base = ComboBox(label="Start from", choices=_model_names(), value="default")
        self.minutes = FloatSpinBox(label="Minutes", value=MINUTES, min=0.1, max=600, step=1)
        self.name = LineEdit(label="New model name", value="my-cells")
        self.train_encoder = CheckBox(
            label="Train encoder too", value=False, tooltip="default: frozen (less forgetting)"
        )
        self.sparse = CheckBox(
            label="Only some cells labelled",
            value=False,
            tooltip="cells the base model finds where you drew no label are ignored, not taught as background",
        )
        self.train_button = PushButton(text="Train")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.segment_button = PushButton(text="Segment with it", enabled=False)
        self.status = Label(value="")
        self.extend(
            [
                self.images,
                self.base,
                self.minutes,
                self.name,
                self.train_encoder,
                self.sparse,
                self.train_button,
                self.cancel_button,
                self.segment_button,
                self.status,
            ]
        )
        self.train_button.changed.connect(self.train)
        self.cancel_button.changed.connect(self.cancel)
        self.segment_button.changed.connect(self.segment)
        for event in (napari_viewer.layers.events.inserted, napari_viewer.layers.events.removed):
            event.connect(lambda e: self.refresh())
        self.refresh()
        self.worker = None
        self.model: str | None = None  # the last model trained here (its name or folder)
        self.lr = LR  # peak learning rate (the CLI's --lr)
        self._cancel = threading.Event()

    def _image_names(self, widget=None) -> list[str]:
        from napari.layers import Image

        return [layer.name for layer in self.viewer.layers if isinstance(layer, Image)]

    def refresh(self) -> None:
        self.images.reset_choices()

    def _pairs(self):
        """(image layer, labels layer) of each chosen image, or None after a one-line notice."""
        from napari.layers import Labels
        from napari.utils.notifications import show_warning

        if not self.images.value:
            show_warning("cellseg: choose the image layers to train on")
            return None
        out = []
        for name in self.images.value:
            labels = f"{name}_labels"
            if labels not in self.viewer.layers or not isinstance(self.viewer.layers[labels], Labels):
                show_warning(f"cellseg: no labels layer '{labels}': segment '{name}', correct the labels, then train")
                return None
            out.append((self.viewer.layers[name], self.viewer.layers[labels]))
        return out

    def _launch(self, job, on_done, desc: str):
        from cellseg.plugin._worker import launch

        def after():
            self.segment_button.enabled = self.model is not None

        busy = [self.train_button, self.segment_button]
        return launch(self, job, on_done, desc, busy, describe="finetune", after=after)

    def train(self):
        from napari.utils.notifications import show_warning

        from cellseg.training.finetune import output_folder

        pairs = self._pairs()
        if pairs is None:
            return None
        name = self.name.value.strip()
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
            show_warning("cellseg: a model name is letters, digits, '-', '_' or '.'")
            return None
        try:
            folder = output_folder(name)
            from cellseg.modelfile import read_model_config

            rgb = read_model_config(self.base.value).get("input", {}).get("rgb", "luminance")
            samples = [s for image, labels in pairs for s in layer_samples(image, labels, rgb)]
        except Exception as e:  # one line: a name in use, shapes that do not match
            show_warning(f"cellseg: {e}")
            return None
        base, minutes, encoder, lr = self.base.value, self.minutes.value, self.train_encoder.value, self.lr
        sparse = self.sparse.value
        self.status.value = "training..."
        warnings: list[str] = []  # finetune's warnings, shown on the main thread when it ends

        def job(report):
            from cellseg.training.finetune import finetune

            return finetune(
                samples,
                folder,
                base,
                minutes=minutes,
                train_encoder=encoder,
                sparse=sparse,
                lr=lr,
                progress=report,
                log=lambda line: warnings.append(line) if line.startswith("warning:") else None,
            )

        def done(result):
            for line in warnings:
                show_warning(f"cellseg: {line}")
            if result is None:  # cancelled: the best model so far, if one beat the base, is on disk
                kept = folder.is_dir() and (folder / "config.json").is_file()
                self.model = name if kept else None
                self.status.value = f"cancelled; {'best model so far kept as ' + name if kept else 'nothing saved'}"
                return
            line = f"validation SEG {result.before:.3f} -> {result.after:.3f} in {result.minutes:.1f} min"
            if result.saved is None:
                self.model = None
                self.status.value = f"{line}: no better than {base}, nothing saved"
                return
            self.model = name
            self.status.value = f"{line}: saved as '{name}'"
            self.base.choices = _model_names()

        return self._launch(job, done, f"cellseg: fine-tune {name}")

    def segment(self):
        """Segment the chosen image layers with the new model into ``<image>_labels_<model>`` layers."""
        if self.model is None:
            return None
        layers = [self.viewer.layers[n] for n in self.images.value if n in self.viewer.layers]
        model = self.model

        def job(report):
            from cellseg.options import DEFAULTS
            from cellseg.plugin._widget import _segmenter

            seg = _segmenter(DEFAULTS.replace(model=model))
            out = []
            for layer in layers:
                data = np.asarray(layer.data)
                out.append((layer, seg.segment(data[..., :3] if layer.rgb else data, progress=report, name=layer.name)))
            return out

        def done(results):
            if results is None:
                self.status.value = "cancelled: layers unchanged"
                return
            for layer, labels in results:
                name = f"{layer.name}_labels_{model}"
                scale, translate = layer.scale[-labels.ndim :], layer.translate[-labels.ndim :]
                if name in self.viewer.layers:
                    self.viewer.layers[name].data = labels
                else:
                    self.viewer.add_labels(labels, name=name, scale=scale, translate=translate)
            self.status.value = f"segmented {len(results)} layer(s) with '{model}'"

        return self._launch(job, done, f"cellseg: segment with {model}")

    def cancel(self):
        self._cancel.set()
        self.status.value = "cancelling..."
