"""Which channels the network sees: the signal to segment and an optional nuclear channel.

Channel choice follows Cellpose, so its users need nothing new: ``chan`` picks the signal
(0 = grayscale, 1 = red / first channel, 2 = green / second, 3 = blue / third, k = the k-th channel
of a multi-channel TIFF), ``chan2`` the nuclear channel (0 = none; the network then gets zeros there).

Grayscale (``chan`` 0) of a colour image depends on what the model was trained on (``rgb`` in its
JSON): ``"luminance"`` (ITU-R 601 weights, older models) or ``"hematoxylin"``: a colour image that is
light overall (a stained brightfield slide such as H&E) becomes its hematoxylin optical
density (:func:`skimage.color.rgb2hed`, Ruifrok and Johnston's stain vectors), so stained nuclei are
bright on dark as in fluorescence; every other colour image (fluorescence composites, grey stored as
RGB) still becomes luminance.
"""

from __future__ import annotations

import numpy as np

from .errors import InputError

RGB_WEIGHTS = np.array([0.299, 0.587, 0.114], np.float32)
RGB_MODES = ("luminance", "hematoxylin")
#: a colour image counts as a stained brightfield slide when its median luminance is above this
#: fraction of its range (a light slide, not a dark fluorescence background: H&E tiles measured here
#: lie at 0.37-0.92, packed tissue included) and its channels differ (not grey stored as RGB)
BRIGHT_BACKGROUND = 0.3
MIN_COLOUR = 0.02  # mean |R - G| + |G - B| as a fraction of the range


def looks_stained(rgb: np.ndarray) -> bool:
    """A bright-background colour image (H&E and other brightfield stains), from a strided sample."""
    step = max(1, int(np.sqrt(rgb[..., 0].size / 250_000)))
    sample = rgb[..., ::step, ::step, :3].astype(np.float32)
    top = float(sample.max()) or 1.0
    lum = sample @ RGB_WEIGHTS
    colour = float(np.mean(np.abs(sample[..., 0] - sample[..., 1]) + np.abs(sample[..., 1] - sample[..., 2])))
    return float(np.median(lum)) > BRIGHT_BACKGROUND * top and colour > MIN_COLOUR * top


def hematoxylin(rgb: np.ndarray) -> np.ndarray:
    """Hematoxylin optical density of RGB frames (..., Y, X, 3) as float32 (..., Y, X)."""
    from skimage.color import rgb2hed

    top = float(np.iinfo(rgb.dtype).max) if np.issubdtype(rgb.dtype, np.integer) else max(float(rgb.max()), 1.0)
    out = np.empty(rgb.shape[:-1], np.float32)
    flat_in, flat_out = rgb.reshape(-1, *rgb.shape[-3:]), out.reshape(-1, *rgb.shape[-3:-1])
    for i in range(len(flat_in)):  # frame by frame: rgb2hed works in float64
        flat_out[i] = rgb2hed(flat_in[i, ..., :3].astype(np.float32) / top)[..., 0]
    return out


def _cmyk_to_rgb(fyxc: np.ndarray) -> np.ndarray:
    top = float(np.iinfo(fyxc.dtype).max) if np.issubdtype(fyxc.dtype, np.integer) else 1.0
    cmy, k = fyxc[..., :3].astype(np.float32), fyxc[..., 3:4].astype(np.float32)
    return (top - cmy) * (top - k) / top


def grayscale(fyxc: np.ndarray, color: str, rgb: str = "luminance") -> np.ndarray:
    """(F, Y, X, C) -> float32 (F, Y, X): luminance or hematoxylin of colour images, else the channel mean."""
    n = fyxc.shape[-1]
    if n == 1:
        return fyxc[..., 0].astype(np.float32, copy=False)
    if color == "cmyk" and n >= 4:
        fyxc, color, n = _cmyk_to_rgb(fyxc), "rgb", 3
    if color in ("rgb", "palette") and n in (3, 4):
        if rgb == "hematoxylin" and looks_stained(fyxc):
            return hematoxylin(fyxc)
        return fyxc[..., :3].astype(np.float32) @ RGB_WEIGHTS
    return fyxc.astype(np.float32).mean(axis=-1)


def pick(fyxc: np.ndarray, k: int, path, flag: str) -> np.ndarray:
    """The k-th channel (1-based, Cellpose numbering) of (F, Y, X, C) frames as float32 (F, Y, X)."""
    n = fyxc.shape[-1]
    if not 1 <= k <= n:
        names = " (1 = red, 2 = green, 3 = blue)" if n in (3, 4) else ""
        raise InputError(path, f"{flag} {k} asked for, but the image has {n} channel(s): use 1 to {n}{names} or 0")
    return fyxc[..., k - 1].astype(np.float32)


def select(
    fyxc: np.ndarray, color: str, path, chan: int = 0, chan2: int = 0, rgb: str = "luminance"
) -> tuple[np.ndarray, np.ndarray | None]:
    """(signal (F, Y, X), nuclear (F, Y, X) or None) of (F, Y, X, C) frames, Cellpose numbering."""
    signal = grayscale(fyxc, color, rgb) if chan == 0 else pick(fyxc, chan, path, "--chan")
    nuclear = None if chan2 == 0 else pick(fyxc, chan2, path, "--chan2")
    return signal, nuclear
