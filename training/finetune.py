"""Fine-tune a model on a few of the user's own annotated images, on a CPU, in minutes.

>>> result = finetune(pairs("images/", "labels/"), "my-cells", minutes=10)   # -> FinetuneResult

The recipe is the trainer's (:class:`cellseg.training.trainer.Trainer`: the same crops, augmentation,
rescaling to the model's object diameter, loss and warmup + cosine schedule) with guards against
forgetting: the encoder is frozen by default (its features, and the size regression read from them, stay
the base model's; ``train_encoder`` unfreezes it at the same low learning rate) and any registered
dataset the user has can be replayed beside their images. Part of the user's images is held out for
validation (with one image, a band of it, and the result says so); SEG on it is measured before
training and at intervals, and a model is written only when it beats the base model there and finds
cells: each improvement replaces the output folder atomically, so an interruption (Ctrl-C, napari's
cancel) leaves the best model so far, and a run that never beats the base writes nothing.
"""

from __future__ import annotations

import shutil
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cellseg.errors import CellsegError, InputError
from cellseg.io import IMAGE_SUFFIXES
from cellseg.progress import ProgressEvent

#: label file names that go with image ``STEM``: the same stem, the suffixes Cellpose and cellseg write, or CTC
LABEL_STEMS = ("{}", "{}_labels", "{}_masks", "{}_cp_masks", "{}_seg", "{}_label", "{}_mask")
USER = "your images"
#: peak learning rate of the decoder and head (the encoder frozen). Chosen on training frames only
#: (``python benchmarks/finetune.py --protocol dev``, 3 images, 5 min): 1e-3 beat 2e-4 on Usiigaci
#: (0.404 vs 0.352 SEG, base 0.280) and MSC (0.465 vs 0.443, base 0.338); a trained encoder lost (0.208, 0.381).
LR = 1e-3
#: training time (minutes) of a fine-tuning run unless told otherwise
MINUTES = 10.0
#: crops a step
BATCH = 8


@dataclass
class FinetuneResult:
    saved: Path | None  # the model folder written, or None when nothing beat the base model
    before: float  # validation SEG of the base model
    after: float  # validation SEG of the saved model (or the best reached)
    steps: int
    minutes: float
    split: str  # how the images were split into training and validation
    history: list = field(default_factory=list)  # (step, loss, validation SEG or None)


def pairs(images: str | Path, labels: str | Path) -> list[tuple[Path, Path]]:
    """(image, label) files: one file each, or two folders paired by name (``STEM`` with ``STEM``,
    ``STEM_labels``, ``STEM_masks``, ``STEM_cp_masks``...), or a CTC sequence folder with its ``..._GT/SEG``
    (``tNNN`` with ``man_segNNN``)."""
    images, labels = Path(images), Path(labels)
    for p in (images, labels):
        if not p.exists():
            raise InputError(p, "no such file or folder")
    if images.is_file() != labels.is_file():
        raise InputError(labels, "give two files or two folders (images and their labels)")
    if images.is_file():
        return [(images, labels)]
    found = {f.stem: f for f in labels.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES}
    out = []
    for img in sorted(f for f in images.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES):
        names = [t.format(img.stem) for t in LABEL_STEMS]
        if img.stem.startswith("t") and img.stem[1:].isdigit():  # CTC: tNNN -> man_segNNN
            names.append(f"man_seg{img.stem[1:]}")
        match = next((found[n] for n in names if n in found and found[n] != img), None)
        if match is not None:
            out.append((img, match))
    if not out:
        raise InputError(labels, f"no label file matches an image of {images} (same name, or NAME_labels / _masks)")
    return out


def read_pairs(found: list[tuple[Path, Path]], rgb: str = "luminance", planes: bool = False):
    """Samples (first frame of each image) from image/label files; one clear error per bad pair."""
    from cellseg.datasets.sample import Sample
    from cellseg.io import read_image, read_labels

    samples = []
    for img, lab in found:
        image = read_image(img, rgb=rgb, planes=planes)[0]
        labels = read_labels(lab)
        labels = labels[0] if labels.ndim == 3 else labels
        if labels.shape != image.shape:
            raise InputError(lab, f"labels {labels.shape} differ in shape from the image {img.name} {image.shape}")
        if labels.max() == 0:
            raise InputError(lab, "holds no labelled cell")
        samples.append(Sample(image, labels.astype(np.int32), USER, img.name))
    return samples


def _band(s, keep: float = 0.7) -> tuple:
    """(the first ``keep`` of a sample along its long side, the rest, "rows" or "columns"); cut cells stay cells."""
    from cellseg.datasets.sample import Sample

    axis = 0 if s.image.shape[0] >= s.image.shape[1] else 1
    cut = int(s.image.shape[axis] * keep)
    parts = []
    for sl in (slice(0, cut), slice(cut, None)):
        index = (sl, slice(None)) if axis == 0 else (slice(None), sl)
        parts.append(Sample(s.image[index].copy(), s.labels[index].copy(), USER, s.name))
    return parts[0], parts[1], "rows" if axis == 0 else "columns"


def split(samples: list, holdout: str = "images") -> tuple[list, list, str]:
    """(training, validation, what was done). ``holdout`` "images": a quarter of the images (at least one, evenly
    spread) is held out; "bands": the last 30% of every image (along its long side), so that the guard sees
    each image and training sees part of each. A single image is always cut in two that way."""
    if holdout not in ("images", "bands"):
        raise ValueError(f"holdout: 'images' or 'bands', not {holdout!r}")
    n = len(samples)
    if n == 1 or holdout == "bands":
        cuts = [_band(s) for s in samples]
        train, val = [c[0] for c in cuts], [c[1] for c in cuts]
        if n == 1:
            return train, val, f"one image: trained on its first 70% of {cuts[0][2]}, validated on the rest"
        how = f"validated on the last 30% of each of your {n} images (along its long side), trained on the rest"
        return train, val, how
    k = max(1, round(n / 4))
    held = set(np.linspace(n - 1, 0, k).round().astype(int).tolist()) if k > 1 else {n - 1}
    val = [s for i, s in enumerate(samples) if i in held]
    train = [s for i, s in enumerate(samples) if i not in held]
    return (
        train,
        val,
        f"validated on {len(val)} of your {n} images ({', '.join(s.name for s in val)}), trained on the rest",
    )


def _score(seg, val: list, given_size: bool = True) -> tuple[float, int]:
    """(pooled SEG on the validation samples, objects found), each image segmented at its labels'
    median diameter (what the network does, not how well the diameter was guessed), or with
    ``given_size`` False at the diameter the model estimates, as ``segment`` runs."""
    from .validate import validate

    scores = validate(seg, {USER: val}, given_size=given_size)[USER]
    return float(scores["SEG"]), int(scores.get("n_res", 0))


def at_pipeline_scale(seg, samples: list, channels: int) -> list:
    """The samples as ``segment`` shows them to the network: each rescaled by the factor the segmenter
    applies to that image (its estimated diameter brought to the size the model segments at), ready for
    the crop stream (:class:`.data.Prepared`; the augmentation's scale jitter comes on top). Training there
    fits the network to the user's cells at the size it will see them, whatever the estimate's error."""
    from .data import Prepared, normalized, scaled

    out = []
    for s in samples:
        d = seg.estimate(s.image, s.nuclear, s.name)
        f = seg.scale_of(d) if d else 1.0
        out.append(Prepared(*scaled(*normalized(s, channels), f)))
    return out


def _write(model, folder: Path, meta: dict) -> None:
    """Replace ``folder`` with this model, atomically: written beside it, then swapped in."""
    from cellseg.modelfile import save_model

    new, old = folder.with_name(f".{folder.name}.new"), folder.with_name(f".{folder.name}.old")
    shutil.rmtree(new, ignore_errors=True)
    save_model(model, new, **meta)
    if folder.exists():
        shutil.rmtree(old, ignore_errors=True)
        folder.rename(old)
    new.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


def output_folder(out: str | Path) -> Path:
    """A path, or a bare name: a user model in the user's data directory (``cellseg models`` lists them).
    An existing model there is never replaced."""
    from cellseg.modelfile import is_name, user_models_dir

    folder = user_models_dir() / str(out) if is_name(str(out)) and "/" not in str(out) else Path(out)
    if folder.exists() and any(folder.iterdir()):
        raise CellsegError(f"{folder}: already holds files; choose another name or folder (models are never replaced)")
    folder.parent.mkdir(parents=True, exist_ok=True)
    return folder


def finetune(
    found: list[tuple[Path, Path]],
    out: str | Path,
    base: str = "default",
    minutes: float = MINUTES,
    steps: int | None = None,
    train_encoder: bool = False,
    replay: list[str] | None = None,
    sparse: bool = False,
    lr: float = LR,
    batch: int = BATCH,
    diameter: float | str | None = None,
    holdout: str = "images",
    device: str = "cpu",
    seed: int = 0,
    progress=None,
    log=print,
) -> FinetuneResult:
    """Fine-tune ``base`` on image/label files ``found`` (:func:`pairs`; or Samples already in memory) into
    the model folder ``out`` (a path or a name, :func:`output_folder`) for ``minutes`` or ``steps``,
    whichever ends first. ``sparse``: the labels mark only some cells; the cells the base model finds
    where there is no label are ignored in training, not taught as background (:mod:`.unlabelled`).
    ``diameter``: the object diameter training crops are rescaled to (None: the base's ``object_diameter``,
    the size it was trained at; "segment": its ``segment_diameter``, the size it segments at; "pipeline":
    each image at the scale ``segment`` would give it, from the estimated diameter, and validated as
    ``segment`` runs, sizes estimated: :func:`at_pipeline_scale`; neither is the default: on training frames
    "segment" gained within the noise and "pipeline" lost, ``docs/experiments.md``). ``holdout``: what the guard
    validates on (:func:`split`; "bands" lost to "images" on training frames, ``docs/experiments.md``).
    ``progress`` gets "finetune" events (steps); raising from it (napari's cancel) stops like Ctrl-C."""
    from cellseg.datasets.sample import Sample
    from cellseg.inference import Segmenter, read_segment_diameter
    from cellseg.modelfile import read_model_config, resolve_model

    from .trainer import TrainConfig, Trainer

    t0 = time.perf_counter()  # ``minutes`` counts the whole call: reading, scoring and training
    folder = output_folder(out)
    meta = read_model_config(base)
    given = [f for f in found if isinstance(f, Sample)]  # arrays already in memory (napari layers)
    samples = given or read_pairs(found, meta.get("input", {}).get("rgb", "luminance"))
    train, val, how = split(samples, holdout)
    log(f"{len(samples)} image(s): {how}")
    spec = {"name": USER, "layout": "folder", "path": "-", "objects": "nuclei"}
    replay_specs = _replay_specs(replay or [])
    budget = steps or 100_000
    segment_diameter = read_segment_diameter(meta, base)  # validated, at the size `segment` uses
    pipeline = diameter == "pipeline"
    if diameter == "segment":
        diameter = segment_diameter
    elif pipeline:
        diameter = None  # the user's images come rescaled (at_pipeline_scale); replayed sets at object_diameter
    cfg = TrainConfig(
        datasets=[spec, *replay_specs],
        init=str(base),
        out=str(folder.with_name(f".{folder.name}.run")),
        steps=budget,
        batch=batch,
        lr=lr,
        warmup=min(10, budget),
        val_every=10**9,
        device=device,
        seed=seed,
        object_diameter=diameter or meta.get("object_diameter"),
        rgb=meta.get("input", {}).get("rgb", "luminance"),
        workers=0,
        size_views=0,
    )
    trainer = Trainer(cfg, samples={USER: (train, [])})
    model = trainer.model
    if not train_encoder:
        for p in model.unet.encoder.parameters():
            p.requires_grad_(False)
    seg = Segmenter(model, device=str(trainer.device))
    seg.model_diameter, seg.rgb = meta.get("object_diameter"), cfg.rgb
    seg.segment_diameter = segment_diameter
    scored = time.perf_counter()
    train = _unlabelled_cells(seg, train, sparse, log)
    if pipeline:
        train = at_pipeline_scale(seg, train, model.config.in_channels)
    trainer.train_sets[USER] = train
    before, _ = _score(seg, val, given_size=not pipeline)
    deadline = minutes * 60 - (time.perf_counter() - scored)  # the last validation has to fit in too
    log(f"validation SEG of {base} before: {before:.4f}")
    best, history, saved = before, [], None
    keep = {k: v for k, v in meta.items() if k not in ("format", "version", "model", "input", "normalization")}
    images = [s.name for s in samples]
    loaders = trainer.loaders()
    stop = {"now": False}
    main = threading.current_thread() is threading.main_thread()  # a napari worker thread cannot take signals
    catch = (signal.SIGINT, signal.SIGTERM) if main else ()
    old = {s: signal.signal(s, lambda *_: stop.update(now=True)) for s in catch}
    step, every = 0, 10
    try:
        while step < budget and not stop["now"]:
            loss = float(np.mean(list(trainer.train_step(loaders).values())))
            step += 1
            trainer.step = step
            elapsed = time.perf_counter() - t0
            if step == 1:
                first = elapsed  # the first step also builds the crop streams: not the pace
            if not steps and (step == 5 or (step > 5 and step % every == 0)):
                # the schedule fits the time left: steps at the pace so far (validations included), set
                # at step 5 and again at each validation so that the run ends near its deadline
                pace = max((elapsed - first) / (step - 1), 1e-3)
                budget = cfg.steps = max(step + 1, step + int((deadline - elapsed) / pace))
                if step == 5:
                    every = max(5, budget // 12)
            last = step >= budget or elapsed >= deadline
            score = None
            if step % every == 0 or last:
                score, found_cells = _score(seg, val, given_size=not pipeline)
                better = score > best and found_cells > 0
                log(f"step {step}: validation SEG {score:.4f}" + (" (best so far: saved)" if better else ""))
                if better:
                    best = score
                    info = {
                        "base": str(base),
                        "base_path": str(resolve_model(base)),
                        "images": images,
                        "split": how,
                        "steps": step,
                        "crops": step * batch * len(loaders),
                        "minutes": round(elapsed / 60, 2),
                        "encoder": "trained" if train_encoder else "frozen",
                        "replay": [s["name"] for s in replay_specs],
                        "sparse": sparse,
                        "lr": lr,
                        "train_diameter": "pipeline" if pipeline else cfg.object_diameter,
                        "val_seg_before": round(before, 4),
                        "val_seg_after": round(score, 4),
                    }
                    _write(model, folder, {**keep, "rgb": cfg.rgb, "finetune": info})
                    saved = folder
                model.train()
            history.append((step, loss, score))
            if progress is not None:
                progress(ProgressEvent("finetune", step, budget, f"loss {loss:.3f}, validation SEG {best:.3f}"))
            if last:
                break
    except KeyboardInterrupt:
        pass
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        shutil.rmtree(cfg.out, ignore_errors=True)
    return FinetuneResult(saved, before, best, step, (time.perf_counter() - t0) / 60, how, history)


def _unlabelled_cells(seg, train: list, sparse: bool, log) -> list:
    """The training samples, their unlabelled cells ignored when ``sparse``; else a warning where the base
    model finds many cells without a label (labels that mark only some cells teach the rest as background)."""
    from . import unlabelled

    found = unlabelled.check(seg, train)
    if sparse:
        log(
            f"sparse labels: ignoring {sum(u.count for u in found)} unlabelled cell(s) the base model finds "
            f"in {len(train)} training image(s)"
        )
        return [unlabelled.ignore_unlabelled(s, u) for s, u in zip(train, found)]
    for u in found:
        if u.sparse:
            log(
                f"warning: {u.name}: {u.count} of the {u.total} objects the base model finds there have no label "
                "and will be taught as background. Right if they are its false detections; if they are cells you "
                "did not label, label them or use --sparse (napari: 'Only some cells labelled')"
            )
    return train


def _replay_specs(names: list[str]) -> list[dict]:
    """Dataset entries of the shipped generalist config, by name (data under CELLSEG_DATA)."""
    if not names:
        return []
    from .trainer import TrainConfig

    config = Path(__file__).parent / "configs" / "generalist_v2.yaml"
    specs = {s.name: s for s in TrainConfig.from_yaml(config).all_specs()}
    unknown = [n for n in names if n not in specs]
    if unknown:
        raise CellsegError(f"--replay: unknown dataset(s) {unknown}; known: {', '.join(sorted(specs))}")
    out = []
    for n in names:
        d = {k: v for k, v in specs[n].__dict__.items() if k not in ("train", "val", "extra")}
        d["train"] = [{"seq": p.seq, "source": p.source, "frames": p.frames} for p in specs[n].train]
        d["val"] = []
        out.append(d)
    return out
