"""The ``cellseg`` command: segment, evaluate, train, datasets, ctc.

Inference options come from :class:`cellseg.options.SegmentOptions` (flags, defaults, help and limits);
progress comes from the core as :class:`cellseg.progress.ProgressEvent`s, which :class:`_Bars` only
renders as tqdm bars.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from pathlib import Path

from .errors import CellsegError, InputError
from .options import PRECISIONS, SegmentOptions, option_fields
from .progress import ProgressEvent

#: SegmentOptions fields that are flags of ``segment`` and of ``ctc segment`` (the block margin stays internal)
SEGMENT_FLAGS = [
    "model",
    "device",
    "precision",
    "onnx",
    "tile",
    "overlap",
    "batch",
    "tta",
    "diameter",
    "size_refine",
    "min_size",
    "chan",
    "chan2",
    "planes",
    "max_pixels",
    "max_size",
    "interior_threshold",
    "fill_holes",
    "large",
    "block",
]
CTC_FLAGS = [f for f in SEGMENT_FLAGS if f not in ("planes", "large")]


class _Bars:
    """Renders progress events as tqdm bars, one per stage (a bar closes when its stage is done); when
    stderr is not a terminal (a log file, a pipe), as plain lines at every tenth of a stage instead,
    with no carriage returns."""

    def __init__(self, quiet: bool, units: dict[str, str], plain: bool | None = None):
        self.quiet, self.units, self.bars = quiet, units, {}
        self.plain = (not sys.stderr.isatty()) if plain is None else plain
        self.shown: dict[str, tuple] = {}  # plain mode: stage -> (item, total, tenths shown)

    def __call__(self, event: ProgressEvent) -> None:
        if self.quiet:
            return
        desc = event.item if event.stage == "tiles" and event.item else event.stage
        if self.plain:
            tenth = 10 * event.done // max(event.total, 1)
            key = (desc, event.total)
            if self.shown.get(event.stage, (None, None, -1))[:2] != key or tenth > self.shown[event.stage][2]:
                if event.done or event.stage != "tiles":
                    extra = f" ({event.item})" if event.item and desc != event.item else ""
                    unit = self.units.get(event.stage, "it")
                    print(f"{desc}: {event.done}/{event.total} {unit}{extra}", file=sys.stderr)
                self.shown[event.stage] = (*key, tenth)
            return
        from tqdm import tqdm

        bar = self.bars.get(event.stage)
        if bar is None or bar.total != event.total or event.done < bar.n:
            if bar is not None:
                bar.close()
            bar = self.bars[event.stage] = tqdm(
                total=event.total, desc=desc, unit=self.units.get(event.stage, "it"), leave=event.stage != "tiles"
            )
        bar.update(event.done - bar.n)
        if event.done >= event.total:
            bar.close()
            del self.bars[event.stage]

    def write(self, line: str) -> None:
        if self.quiet:
            return
        if self.plain:
            print(line, flush=True)
            return
        from tqdm import tqdm

        tqdm.write(line)


def _options(args, names: list[str]) -> SegmentOptions:
    return SegmentOptions(**{n: getattr(args, n) for n in names})


def _segment(args) -> int:
    from .batch import dask_client, guarded, is_large, plan_batch, run_batch, segment_file, segment_files_on_dask
    from .outputs import OutputOptions

    out = Path(args.out)
    outputs = OutputOptions(png=args.save_png, csv=args.save_csv, rois=args.save_rois)
    opts = _options(args, SEGMENT_FLAGS)
    plan = plan_batch(args.inputs, out, args.suffix, outputs, opts.max_pixels)  # exit 2 before any write
    files, targets = plan.files, plan.targets
    if not files:
        plan.summary.write()
        return _report(plan, out)
    bars = _Bars(args.quiet, {"images": "img", "tiles": "tile", "blocks": "block"})

    def report(path: Path, r) -> None:
        if isinstance(r, InputError):
            return
        size = f", diameter {r.diameter:.1f} px" if r.diameter else ""
        bars.write(f"{path} -> {targets[path]} ({r.cells} cells{size})")
        if args.verbose:
            median = f"median cell diameter {r.median_diameter:.1f} px, " if r.median_diameter else ""
            bars.write(f"  {median}{r.seconds:.1f} s" + "".join(f"; {x}" for x in r.extras))
        if r.note:
            bars.write(f"  {path.name}: {r.note}")

    if args.verbose:
        bars.write(f"model {opts.model}, device {opts.device}, precision {opts.precision}; {len(files)} input(s)")
    if args.dask:  # files spread over the workers of a Dask cluster, each loading the model once
        client = dask_client(args.dask)
        finished = 0

        def tick(path, result):
            nonlocal finished
            plan.record(path, result)
            report(path, result)
            finished += 1
            bars(ProgressEvent("images", finished, len(files)))

        try:
            large = [f for f in files if guarded(lambda f=f: is_large(f, opts), f)]
            bars(ProgressEvent("images", 0, len(files)))
            small = {f: targets[f] for f in files if f not in large}
            segment_files_on_dask(client, small, opts, tick, outputs)
            if large:  # one at a time from here, their blocks spread over the workers
                from .inference import Segmenter

                seg = Segmenter(options=opts)
                for f in large:
                    try:
                        tick(f, guarded(lambda f=f: segment_file(seg, f, targets[f], bars, outputs, client), f))
                    except InputError as e:
                        tick(f, e)
        finally:
            client.close()
        return _report(plan, out)
    from .inference import Segmenter

    run_batch(Segmenter(options=opts), plan, outputs, bars, report)
    return _report(plan, out)


def _export(args) -> int:
    from .export import calibration_tiles, export_onnx, quantize_int8

    diff = export_onnx(args.model, args.onnx, args.tile)
    print(f"{args.onnx}: network for {args.tile}x{args.tile} tiles; onnxruntime vs PyTorch max |logit| diff {diff:.2e}")
    if args.int8:
        if not args.calibrate:
            raise CellsegError("--int8 needs --calibrate IMAGE... (a few real images to calibrate on)")
        from .inference import Segmenter

        seg = Segmenter(args.model, device="cpu")
        tiles = calibration_tiles(seg, [Path(p) for p in args.calibrate], args.tile)
        quantize_int8(args.onnx, args.int8, tiles)
        print(f"{args.int8}: int8 (static QDQ, per-channel weights), calibrated on {len(tiles)} tiles")
    return 0


def _report(plan, out: Path) -> int:
    done, failed = plan.done, plan.failed
    print(f"segmented {done} of {done + len(failed)} inputs; labels in {out.resolve()}", file=sys.stderr)
    if failed:
        print(f"{len(failed)} input(s) failed:", file=sys.stderr)
        for e in failed:
            print(f"  {e}", file=sys.stderr)
        return 1
    return 0


def _evaluate(args) -> int:
    from .io import IMAGE_SUFFIXES, read_labels
    from .metrics import evaluate_pair, pool

    gt, pred = Path(args.gt), Path(args.pred)
    if gt.is_dir() != pred.is_dir():
        raise CellsegError(f"{gt} and {pred} must both be files or both be folders")
    if gt.is_dir():
        pairs = []
        for g in sorted(f for f in gt.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES):
            p = _prediction_for(g, pred)
            if p is None:
                raise InputError(pred, f"no prediction for {g.name}")
            pairs.append((g, p))
        if not pairs:
            raise InputError(gt, "folder holds no label images")
    else:
        pairs = [(gt, pred)]
    rows = []
    for g, p in pairs:
        ref, res = read_labels(g, args.max_pixels), read_labels(p, args.max_pixels)
        if ref.shape != res.shape:
            raise InputError(p, f"shape {res.shape} differs from ground truth {g} {ref.shape}")
        rows.append((g.name, evaluate_pair(ref, res)))
    overall = pool([r for _, r in rows])
    keys = ("SEG", "DET", "AP50", "F1_50", "n_ref", "n_res")
    if args.json:
        print(
            json.dumps(
                {"images": {n: {k: r[k] for k in keys} for n, r in rows}, "overall": {k: overall[k] for k in keys}},
                indent=1,
            )
        )
    else:
        print(f"{'image':<32}" + "".join(f"{k:>8}" for k in keys))
        for n, r in rows + [("OVERALL", overall)]:
            print(f"{n:<32}" + "".join(f"{r[k]:>8.4f}" if isinstance(r[k], float) else f"{r[k]:>8}" for k in keys))
    return 0


def _prediction_for(gt_file: Path, pred_dir: Path) -> Path | None:
    """Prediction with the same name, or for a CTC man_segNNN file the CTC mask (maskNNN) or the
    output of ``cellseg segment`` on the raw frame (tNNN)."""
    candidates = [pred_dir / gt_file.name, pred_dir / f"{gt_file.stem}.tif"]
    if gt_file.stem.startswith("man_seg"):
        candidates += [pred_dir / f"mask{gt_file.stem[7:]}.tif", pred_dir / f"t{gt_file.stem[7:]}.tif"]
    return next((c for c in candidates if c.is_file()), None)


def _finetune(args) -> int:
    from .training.finetune import finetune, pairs

    bars = _Bars(args.quiet, {"finetune": "step"})
    r = finetune(
        pairs(args.images, args.labels),
        args.out,
        base=args.base,
        minutes=args.minutes,
        steps=args.steps,
        train_encoder=args.train_encoder,
        replay=args.replay,
        sparse=args.sparse,
        lr=args.lr,
        device=args.device,
        progress=bars,
        log=(lambda line: None) if args.quiet else print,
    )
    line = f"validation SEG {r.before:.4f} -> {r.after:.4f} after {r.steps} steps, {r.minutes:.1f} min ({r.split})"
    if r.saved is None:
        print(f"{line}; no model beat {args.base}: nothing saved, keep using {args.base}", file=sys.stderr)
        return 1
    print(f"{line}; saved {r.saved}  (use it: cellseg segment IMAGES -o OUT --model {args.out})")
    return 0


def _models(args) -> int:
    from .modelfile import list_models, read_model_config, user_models_dir

    for name, folder in list_models():
        try:
            meta = read_model_config(folder)
        except CellsegError as e:
            print(f"{name:<24} (unreadable: {e})")
            continue
        tuned = meta.get("finetune")
        what = (
            f"fine-tuned from {tuned['base']} on {len(tuned['images'])} image(s), validation SEG "
            f"{tuned['val_seg_before']} -> {tuned['val_seg_after']}"
            if tuned
            else "built in"
        )
        print(f"{name:<24} {what}  [{folder}]")
    print(f"(user models live in {user_models_dir()})")
    return 0


def _train(args) -> int:
    from .training.trainer import train

    best = train(args.config, out=args.out, steps=args.steps, device=args.device, init=args.init, stop_at=args.stop_at)
    if os.environ.get("RANK", "0") == "0":  # under torchrun, rank 0 speaks for the job
        print(f"best validation SEG {best:.4f}")
    return 0


def _datasets(args) -> int:
    from .datasets import recipes, registry

    if args.action == "list":
        for d in registry.DATASETS.values():
            print(f"{d.name:<20} {d.layout:<6} {d.modality:<45} {d.url}  ({d.licence})")
        for r in recipes.RECIPES.values():
            print(f"{r.name:<20} recipe {r.modality}  https://github.com/{r.repo}  ({r.licence})")
        return 0
    if args.action == "build":
        for name in args.names:
            path = recipes.build(name, args.dest if args.dest != "data" else None, args.source, args.force)
            print(f"{name} -> {path}")
        return 0
    for name in args.names:
        path = registry.download(name, args.dest, url=args.url, force=args.force)
        print(f"{name} -> {path}")
    return 0


def _ctc_segment(args) -> int:
    from .ctc import segment_sequence

    progress = _Bars(args.quiet, {"segment": "frame", "track": "frame"})
    res = segment_sequence(
        args.dataset_dir,
        args.seq,
        _options(args, CTC_FLAGS),
        track=args.track,
        overwrite=args.overwrite,
        progress=progress,
    )
    print(f"wrote {res}", file=sys.stderr)
    return 0


def _ctc_evaluate(args) -> int:
    from .ctc import evaluate_sequence

    r = evaluate_sequence(args.dataset_dir, args.seq)
    if args.json:
        print(json.dumps(r, indent=1))
        return 0
    theirs = r.get("ctcmetrics", {})
    print(f"{r['sequence']}: {r.get('seg_frames', 0)} SEG frames, {r.get('seg_objects', 0)} objects")
    print(f"{'measure':<8}{'cellseg':>10}{'py-ctcmetrics':>16}")
    for k in ("SEG", "DET", "TRA", "OP_CSB", "OP_CTB"):
        ours = r.get(k)
        print(
            f"{k:<8}{'' if ours is None else f'{ours:.4f}':>10}"
            f"{'' if theirs.get(k) is None else f'{theirs[k]:.4f}':>16}"
        )
    return 0


def _ctc_package(args) -> int:
    from .ctc import package

    sw = package(args.output, args.dataset, args.model, wheelhouse=args.wheelhouse, wheel=not args.no_wheel)
    print(f"wrote {sw}")
    return 0


class _Help(argparse.HelpFormatter):
    """Help that shows each option's default (where it has a meaningful one)."""

    def _get_help_string(self, action):
        help = action.help or ""
        default = action.default
        if "%(default)" in help or default is None or default is False or default is argparse.SUPPRESS or default == "":
            return help
        if action.option_strings or action.nargs in (argparse.OPTIONAL, argparse.ZERO_OR_MORE):
            help += " (default: %(default)s)"
        return help


def _device(text: str) -> str:
    if text in ("auto", "cpu", "cuda") or (text.startswith("cuda:") and text[5:].isdigit()):
        return text
    raise argparse.ArgumentTypeError(f"unknown device {text!r}; use auto, cpu, cuda or cuda:N")


def _suffix(text: str) -> str:
    if "/" in text or "\\" in text or text in (".", ".."):
        raise argparse.ArgumentTypeError(f"suffix {text!r} must not contain a path separator")
    return text


def _number(kind, lowest, highest):
    """argparse type: a number of ``kind`` within limits (bad values exit 2 with the parser's usage line)."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {'whole ' if kind is int else ''}number") from None
        if lowest is not None and value < lowest:
            raise argparse.ArgumentTypeError(f"{value} is below {lowest}")
        if highest is not None and value > highest:
            raise argparse.ArgumentTypeError(f"{value} is above {highest}")
        return value

    parse.__name__ = "whole number" if kind is int else "number"
    return parse


def _add_options(p: argparse.ArgumentParser, names: list[str]) -> None:
    """One flag per SegmentOptions field: its default, help and limits come from the dataclass."""
    for name, default, typ, help, lo, hi in option_fields(names):
        flag = "--" + name.replace("_", "-")
        if typ == "bool":
            action = argparse.BooleanOptionalAction if default else "store_true"
            p.add_argument(flag, action=action, default=default, help=help)
        elif name == "device":
            p.add_argument(flag, type=_device, default=default, help=help)
        elif name == "precision":
            p.add_argument(flag, choices=PRECISIONS, default=default, help=help)
        elif typ in ("int", "int | None"):
            p.add_argument(flag, type=_number(int, lo, hi), default=default, help=help)
        elif typ == "float":
            p.add_argument(flag, type=_number(float, lo, hi), default=default, help=help)
        else:
            p.add_argument(flag, default=default, help=help)


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    p = argparse.ArgumentParser(
        prog="cellseg",
        description="Universal cell instance segmentation. Cellpose's flags (--dir, --savedir, --use_gpu, "
        "--pretrained_model, ...) are understood too.",
        formatter_class=_Help,
    )
    p.add_argument("--version", action="version", version=f"cellseg {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser = functools.partial(sub.add_parser, formatter_class=_Help)

    s = sub.add_parser(
        "segment",
        help="segment images into uint16 instance label TIFFs",
        description="Segment files and folders of images (tif, tiff, png, jpg). Writes OUT/<stem>.tif. "
        "Colour images become grayscale as the model was trained (luminance, or hematoxylin for stained slides); "
        "multi-frame TIFFs (T, Y, X) give label stacks.",
    )
    s.add_argument("inputs", nargs="+", help="image files or folders")
    s.add_argument("-o", "--out", "--savedir", required=True, help="output folder")
    s.add_argument(
        "--suffix",
        default="",
        type=_suffix,
        help="added to each output name: OUT/<stem><suffix>.tif (e.g. _labels, to write beside the images)",
    )
    _add_options(s, SEGMENT_FLAGS)
    s.add_argument("--save-png", action="store_true", help="also write <stem>_outlines.png: outlines over the image")
    s.add_argument(
        "--save-csv",
        action="store_true",
        help="also write <stem>_cells.csv: per-cell area, centroid, bounding box, equivalent diameter, eccentricity, "
        "solidity, mean and max intensity per channel",
    )
    s.add_argument("--save-rois", action="store_true", help="also write <stem>_rois.zip: ImageJ/Fiji ROIs")
    s.add_argument(
        "--dask",
        metavar="ADDRESS",
        help="spread the files over a Dask cluster: a scheduler address (tcp://host:8786), or local / local:N "
        "to start N worker processes here",
    )
    talk = s.add_mutually_exclusive_group()
    talk.add_argument("-q", "--quiet", action="store_true", help="no progress and no per-file lines")
    talk.add_argument("-v", "--verbose", action="store_true", help="also the settings, seconds and files per image")
    s.set_defaults(func=_segment)

    e = sub.add_parser("evaluate", help="SEG, DET, AP@0.5, F1@0.5 of predictions against ground truth")
    e.add_argument("gt", help="ground-truth label file or folder")
    e.add_argument("pred", help="predicted label file or folder (same names; for man_segNNN also maskNNN or tNNN)")
    e.add_argument("--json", action="store_true", help="print JSON")
    _add_options(e, ["max_pixels"])
    e.set_defaults(func=_evaluate)

    t = sub.add_parser("train", help="train a model from a YAML config (resumes when interrupted)")
    t.add_argument("config")
    t.add_argument("--out", help="run folder (overrides the config)")
    t.add_argument("--steps", type=_number(int, 1, None), help="total optimizer steps (overrides the config)")
    t.add_argument("--device", type=_device, help="auto, cpu or cuda (overrides the config)")
    t.add_argument(
        "--stop-at",
        type=_number(int, 1, None),
        help="end this run at this step (the schedule stays; run again to go on)",
    )
    t.add_argument("--init", help="start from this model's weights: a folder, file or 'default' (overrides the config)")
    t.set_defaults(func=_train)

    f = sub.add_parser(
        "finetune",
        help="fine-tune a model on a few of your own annotated images (CPU, minutes)",
        description="Fine-tune a model on your own images and their corrected labels. A quarter of the images "
        "(a band of a single image) is held out for validation; the model is saved only if it beats the base "
        "model there (exit 1 otherwise, nothing written). Ctrl-C keeps the best model so far.",
    )
    f.add_argument("images", help="an image file, a folder of images, or a CTC sequence folder")
    f.add_argument("labels", help="its label file, or the folder of label files (same names, NAME_labels, "
                   "NAME_masks...; a CTC ..._GT/SEG folder)")  # fmt: skip
    from .training.finetune import LR as FINETUNE_LR
    from .training.finetune import MINUTES as FINETUNE_MINUTES

    f.add_argument("-o", "--out", required=True, help="model folder, or a NAME (kept in your data directory)")
    f.add_argument("--from", dest="base", default="default", help="the model to start from: a name, folder or file")
    f.add_argument(
        "--minutes",
        type=_number(float, 0.05, None),
        default=FINETUNE_MINUTES,
        help="minutes for the whole run (reading, scoring, training)",
    )
    f.add_argument("--steps", type=_number(int, 1, None), help="stop after this many steps (before the minutes)")
    f.add_argument(
        "--train-encoder", action="store_true", help="also train the encoder (default: frozen, against forgetting)"
    )
    f.add_argument("--replay", nargs="*", default=[], metavar="DATASET", help="also train on these registered "
                   "datasets (names from training/configs/generalist_v2.yaml; data under CELLSEG_DATA)")  # fmt: skip
    f.add_argument(
        "--sparse",
        action="store_true",
        help="your labels mark only some cells: cells the base model finds where there is no label are ignored "
        "in training instead of taught as background",
    )
    f.add_argument("--lr", type=_number(float, 1e-7, 1.0), default=FINETUNE_LR, help="peak learning rate")
    f.add_argument("--device", type=_device, default="auto", help="auto, cpu, cuda or cuda:N")
    f.add_argument("-q", "--quiet", action="store_true")
    f.set_defaults(func=_finetune)

    m = sub.add_parser("models", help="list the built-in models and your named models")
    m.set_defaults(func=_models)

    x = sub.add_parser("export", help="export a model's network to ONNX (optionally int8) for onnxruntime")
    x.add_argument("model", help="model folder, .safetensors file or 'default'")
    x.add_argument("--onnx", required=True, help="output .onnx file")
    x.add_argument("--tile", type=_number(int, 32, 8192), default=512, help="tile size the network is exported for")
    x.add_argument("--int8", help="also write an int8 quantized network here")
    x.add_argument("--calibrate", nargs="*", default=[], help="images to calibrate the int8 network on")
    x.set_defaults(func=_export)

    c = sub.add_parser("ctc", help="Cell Tracking Challenge: segment (+track) sequences, evaluate, package")
    csub = c.add_subparsers(dest="ctc_command", required=True)
    cs = csub.add_parser("segment", help="write DATASET_DIR/<seq>_RES/maskNNN.tif for every raw frame")
    cs.add_argument("dataset_dir")
    cs.add_argument("--seq", required=True, help="sequence, e.g. 01")
    cs.add_argument("--track", action="store_true", help="link cells over time; write res_track.txt")
    cs.add_argument("--overwrite", action="store_true", help="segment frames whose mask already exists")
    _add_options(cs, CTC_FLAGS)
    cs.add_argument("-q", "--quiet", action="store_true")
    cs.set_defaults(func=_ctc_segment)
    ce = csub.add_parser("evaluate", help="SEG, DET, TRA, OP_CSB, OP_CTB against <seq>_GT")
    ce.add_argument("dataset_dir")
    ce.add_argument("--seq", required=True)
    ce.add_argument("--json", action="store_true")
    ce.set_defaults(func=_ctc_evaluate)
    cp = csub.add_parser("package", help="build a submission tree OUTPUT/SW")
    cp.add_argument("output")
    cp.add_argument("--dataset", required=True, help="CTC dataset name, e.g. Fluo-N2DH-GOWT1")
    cp.add_argument("--model", default="default")
    cp.add_argument("--wheelhouse", help="folder of dependency wheels to include for offline setup")
    cp.add_argument("--no-wheel", action="store_true", help="do not build the cellseg wheel into SW/wheels")
    cp.set_defaults(func=_ctc_package)

    d = sub.add_parser("datasets", help="public training datasets: list, download, build (recipes)")
    d.add_argument("action", choices=["list", "download", "build"])
    d.add_argument("names", nargs="*", help="dataset names (see 'list')")
    d.add_argument("--dest", default="data", help="folder to unpack into (build: default the data cache, .data)")
    d.add_argument("--source", help="build: a local clone, git directory or folder of the recipe's repository")
    d.add_argument("--url", help="download from this URL instead (a mirror or a local file:// archive)")
    d.add_argument("--force", action="store_true", help="download again even if present")
    d.set_defaults(func=_datasets)
    return p


def main(argv: list[str] | None = None) -> int:
    from .cellpose_flags import translate

    argv, notes = translate(list(sys.argv[1:] if argv is None else argv))
    args = build_parser().parse_args(argv)
    if not getattr(args, "quiet", False):
        for note in notes:
            print(f"cellseg: note: {note}", file=sys.stderr)
    try:
        return args.func(args)
    except CellsegError as e:
        print(f"cellseg: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cellseg: cancelled", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
