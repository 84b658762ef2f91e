"""Cellpose's command-line habits, translated: ``cellseg segment --dir IMAGES --savedir OUT --diameter 30``
works as a Cellpose user types it.

:func:`translate` rewrites Cellpose's flags in an argument list into cellseg's before the parser sees
them, and returns one note per flag whose meaning differs or that has no meaning here (ignored, said in
one line, never an error). :data:`EQUIVALENTS` is the table the README prints.
"""

from __future__ import annotations

import math

#: Cellpose flag -> cellseg flag, same meaning (the value, if any, passes through)
SAME = {
    "--savedir": "--out",
    "--pretrained_model": "--model",
    "--save_png": "--save-png",
    "--save_outlines": "--save-png",
    "--save_rois": "--save-rois",
    "--min_size": "--min-size",
    "--batch_size": "--batch",
    "--bsize": "--tile",
    "--tile_overlap": "--overlap",
}
#: Cellpose flags with no meaning here: name -> (values it takes, why)
IGNORED = {
    "--save_tif": (0, "labels are always written as TIFF"),
    "--no_npy": (0, "cellseg never writes .npy files"),
    "--save_npy": (0, "cellseg writes no .npy files (labels are TIFF; --save-csv for measurements)"),
    "--flow_threshold": (1, "cellseg has no flows (its objects are interiors grown into their boundaries)"),
    "--stitch_threshold": (1, "cellseg is 2-D (segment a stack frame by frame; ctc segment --track links ids)"),
    "--do_3D": (0, "cellseg is 2-D (--planes segments Z-stacks plane by plane)"),
    "--anisotropy": (1, "cellseg is 2-D"),
    "--niter": (1, "cellseg has no flow dynamics"),
    "--no_resample": (0, "cellseg always resizes probabilities back, never labels"),
    "--no_interp": (0, "cellseg has no flow interpolation"),
    "--fast_mode": (0, "cellseg has no slow mode"),
    "--net_avg": (0, "cellseg runs one network"),
    "--resample": (0, "cellseg always resizes probabilities back, never labels"),
    "--exclude_on_edges": (0, "objects touching the border are kept"),
    "--save_ncolor": (0, "not written"),
    "--save_flows": (0, "cellseg has no flows"),
    "--save_txt": (0, "use --save-rois for Fiji or --save-csv"),
    "--save_mpl": (0, "use --save-png"),
    "--in_folders": (0, "outputs go to --out"),
    "--look_one_level_down": (0, "pass each folder instead"),
    "--img_filter": (1, "pass the files to segment instead"),
    "--mask_filter": (1, "not used for segmenting"),
    "--invert": (0, "the model sees intensities as they are"),
    "--all_channels": (0, "use --chan and --chan2"),
    "--no_norm": (0, "images are always normalized (1-99.8 percentiles)"),
    "--norm_percentile": (2, "normalization uses the 1-99.8 percentiles"),
    "--model_type": (1, "cellseg has one generalist model (--model picks another)"),
}
CELLPOSE_MODELS = {"cyto", "cyto2", "cyto3", "nuclei", "tissuenet", "livecell", "cpsam", "tissuenet_cp3"} | {
    "livecell_cp3"
}

#: (Cellpose command, cellseg command) for the README
EQUIVALENTS = [
    ("python -m cellpose --dir IMGS --savedir OUT", "cellseg segment IMGS -o OUT  (or the same flags)"),
    ("--diameter 30", "--diameter 30  (0 = estimate, both)"),
    ("--chan 2 --chan2 3", "--chan 2 --chan2 3  (same numbering)"),
    ("--use_gpu", "--device cuda  (--device auto, the default, takes a GPU when present)"),
    ("--gpu_device 1", "--device cuda:1"),
    ("--pretrained_model PATH", "--model PATH  (Cellpose's own model names mean cellseg's default)"),
    ("--save_png / --save_outlines", "--save-png  (an outline overlay; labels stay TIFF)"),
    ("--save_rois", "--save-rois  (ImageJ/Fiji ROI zip)"),
    ("--save_tif, --no_npy", "nothing: labels are always TIFF, never .npy"),
    ("--min_size 15", "--min-size 15  (plus --max-size)"),
    ("--cellprob_threshold X", "--interior-threshold tanh(X/2)  (0 = 0; negative finds more and larger cells)"),
    ("--flow_threshold X", "no meaning (no flows): ignored with a note"),
    ("--batch_size 8 / --bsize 224 / --tile_overlap 0.1", "--batch 8 / --tile 224 / --overlap 0.1"),
    ("(no measurements)", "--save-csv  (per-cell measurements) and summary.csv"),
]


def translate(argv: list[str]) -> tuple[list[str], list[str]]:
    """(argv in cellseg's flags, notes). Without a subcommand, Cellpose-style arguments mean ``segment``."""
    known = set(SAME) | set(IGNORED) | {"--dir", "--use_gpu", "--gpu_device", "--cellprob_threshold"}
    if argv and argv[0] in known:
        argv = ["segment", *argv]
    if not argv or argv[0] != "segment":
        return argv, []
    out, notes, i = [argv[0]], [], 1
    while i < len(argv):
        arg = argv[i]
        flag, eq, inline = arg.partition("=")
        value = inline if eq else (argv[i + 1] if i + 1 < len(argv) else None)
        step = 1 if eq else 2  # for flags that take one value

        if flag == "--dir":  # Cellpose's input folder: a positional input here
            if value is not None:
                out.append(value)
            i += step
        elif flag == "--use_gpu":
            out += ["--device", "cuda"]
            i += 1
        elif flag == "--gpu_device":
            if value is not None and value.isdigit():
                out += ["--device", f"cuda:{value}"]
            else:
                notes.append(f"--gpu_device {value}: only CUDA devices (a number) have a meaning here; ignored")
            i += step
        elif flag == "--cellprob_threshold":
            try:
                t = math.tanh(float(value) / 2)
            except (TypeError, ValueError):
                out.append(arg)  # the parser reports it
                i += 1
                continue
            out += ["--interior-threshold", f"{t:.4f}"]
            notes.append(f"--cellprob_threshold {value} is --interior-threshold {t:.4f} here")
            i += step
        elif flag == "--pretrained_model" and value in CELLPOSE_MODELS:
            out += ["--model", "default"]
            notes.append(f"--pretrained_model {value}: a Cellpose model; cellseg's generalist (default) is used")
            i += step
        elif flag in SAME:
            out.append(SAME[flag] + (f"={inline}" if eq else ""))
            i += 1
        elif flag in IGNORED:
            n, why = IGNORED[flag]
            taken = 0 if eq else n
            shown = " ".join([arg, *argv[i + 1 : i + 1 + taken]])
            notes.append(f"{shown}: ignored, no meaning here ({why})")
            i += 1 + taken
        else:
            out.append(arg)
            i += 1
    return out, notes
