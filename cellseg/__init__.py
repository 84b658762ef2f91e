"""cellseg: universal cell instance segmentation for microscopy.

Public API: :class:`Segmenter` (image -> labels), :func:`build_model` / :class:`ModelConfig`
(the network), :func:`load_model` / :func:`save_model` (safetensors + JSON model files),
:func:`evaluate_pair` (SEG, DET, AP50, F1), :func:`read_image` / :func:`write_labels`.
"""

__version__ = "0.1.0"

from .inference import Segmenter
from .io import read_image, write_labels
from .metrics import evaluate_pair
from .model import ModelConfig, build_model
from .modelfile import load_model, save_model

__all__ = ["Segmenter", "ModelConfig", "build_model", "load_model", "save_model", "evaluate_pair",
           "read_image", "write_labels", "__version__"]
