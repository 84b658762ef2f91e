#!/usr/bin/env bash
# Issue 13's GPU session in one command, for a lent machine that has torch, timm, OpenCV and scikit-image but
# not cellseg's other packages, and no network (the device tool's nvidia-h200). Prepare here:
#   python -m cellseg.training.pack training/configs/generalist_v2.yaml .pack     # the data (36.6 MB)
#   pip download the wheels of segmentation-models-pytorch, monai, albumentations (+ albucore, pydantic,
#     pydantic-core, annotated-types, typing-inspection, stringzilla, simsimd) for Python 3.12 into .whl/
#   the Lite0 ImageNet encoder as .init/lite0-imagenet.safetensors (cellseg.pretrained's cache file)
# then run it there with .pack, .whl and .init carried. In parallel, within BUDGET seconds (default 540):
#   - the long run, training/configs/gpu/v2.yaml (304,000 crops), stopped cleanly (SIGTERM) if it overruns;
#   - the short rows one after another: loo_full (also the refinement control), the leave-one-family-out
#     rows, then the refinement arms; a row that would not finish in time is skipped.
# What comes back in $OUT (at most 8 files): the long run's best model (v2.safetensors, v2.json) and
# runs.tgz with every run's log.csv, val_curve.jsonl, val_last.json, its console output and GPU load samples.
# DRY=1 runs every step on the CPU for 2 steps (a rehearsal, here).
set -uo pipefail
cd "$(dirname "$0")/.."
START=$(date +%s)
BUDGET=${BUDGET:-540}
OUT=${OUT:-runs/lent_gpu_out}
mkdir -p "$OUT" runs/logs
left() { echo $((BUDGET - ($(date +%s) - START))); }

if [ -z "${DRY:-}" ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || { echo "wheel install failed"; exit 1; }
  export PYTHONPATH=/tmp/site
  EXTRA=()
else
  EXTRA=(--steps 2 --device cpu)
fi
# cellseg as installed (cellseg.training = training/, ...) without an install: a package folder of links
PKG=$(mktemp -d)
mkdir "$PKG/cellseg"
for f in cellseg/*; do ln -s "$PWD/$f" "$PKG/cellseg/"; done
ln -s "$PWD/training" "$PKG/cellseg/training"
ln -s "$PWD/datasets" "$PKG/cellseg/datasets"
export PYTHONPATH="$PKG${PYTHONPATH:+:$PYTHONPATH}" CELLSEG_CACHE="$PWD/.init" PYTHONUNBUFFERED=1
python3 -P - > runs/logs/env.txt 2>&1 <<'EOF' || { cat runs/logs/env.txt; exit 1; }
import os, torch, timm, segmentation_models_pytorch as smp, monai, albumentations, cv2, skimage
import cellseg.training.trainer
print("torch", torch.__version__, "cuda", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
print("timm", timm.__version__, "smp", smp.__version__, "monai", monai.__version__, "albumentations", albumentations.__version__)
print("cpus", os.cpu_count())
EOF
cat runs/logs/env.txt
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 5 > runs/logs/gpu_load.csv 2>&1 &
  SMI=$!
fi

MAIN=${MAIN-v2}  # MAIN= (empty): no long run
ROWS=${ROWS:-loo_full loo_nuclei loo_wholecells loo_phase loo_he loo_bacteria arm_label_smoothing arm_cutmix arm_mixup loo_dic}
if [ -n "$MAIN" ]; then
  timeout -s TERM $((BUDGET - 25)) python3 -P -m cellseg train training/configs/gpu/$MAIN.yaml "${EXTRA[@]}" \
    > runs/logs/$MAIN.txt 2>&1 &
  PIDS=($!)
fi
row() {
  timeout -s TERM "$2" python3 -P -m cellseg train training/configs/gpu/$1.yaml "${EXTRA[@]}" > runs/logs/$1.txt 2>&1
  echo "$1: exit $? at $(( $(date +%s) - START )) s" | tee -a runs/logs/rows.txt
}
PIDS=(${PIDS[@]+"${PIDS[@]}"})
for r in $ROWS; do
  t=$(left)
  if [ -n "${PARALLEL:-}" ]; then row "$r" $((t - 15)) & PIDS+=($!); continue; fi  # PARALLEL=1: every row at once
  if [ "$t" -lt 70 ]; then echo "skipped $r: ${t} s left" | tee -a runs/logs/skipped.txt; continue; fi
  row "$r" $((t - 25))
done
[ ${#PIDS[@]} -gt 0 ] && wait "${PIDS[@]}"
[ -n "${SMI:-}" ] && kill "$SMI"

if [ -n "$MAIN" ]; then
  cp runs/gpu_$MAIN/best/model.safetensors "$OUT/$MAIN.safetensors"
  cp runs/gpu_$MAIN/best/config.json "$OUT/$MAIN.json"
fi
tar czf "$OUT/runs.tgz" runs/logs runs/gpu_*/log.csv runs/gpu_*/val_curve.jsonl runs/gpu_*/val_last.json \
  runs/gpu_*/best/config.json 2>/dev/null
ls -la "$OUT"
