"""Readers for the layouts users have, yielding :class:`Sample`; a registry of public datasets."""

from .ctc import read_sequence
from .folders import read_folder
from .sample import Sample

__all__ = ["Sample", "read_sequence", "read_folder"]
