#!/usr/bin/env bash
# Install cellseg into ./.venv with everything its tests need: Debian packages for the napari GUI on a
# virtual display (when apt-get is available and we may use it), then the package with its extras.
set -euo pipefail
cd "$(dirname "$0")"

APT_PACKAGES="xvfb xauth libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0
  libxcb-xinerama0 libxcb-xfixes0 libxcb-shape0 libxcb-cursor0 libxkbcommon-x11-0 libdbus-1-3 libgl1 libegl1
  libfontconfig1"
if command -v apt-get >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq $APT_PACKAGES >/dev/null
else
  echo "install.sh: no apt-get; install Xvfb and Qt's xcb libraries yourself for the GUI tests" >&2
fi

python3 -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
# torch and torchvision come from the package index as a matched pair (the default Linux build)
python -m pip install -q -e ".[test]"
python -c "import torch, torchvision; print('installed: torch', torch.__version__, 'torchvision', torchvision.__version__)"
