"""Readers for the layouts users have, yielding :class:`Sample`; typed dataset specs with a readers
registry keyed by layout; a registry of public datasets with their download recipes."""

from .ctc import read_sequence
from .folders import read_folder
from .sample import Sample
from .spec import READERS, DatasetSpec, Part, load_split

__all__ = ["Sample", "read_sequence", "read_folder", "DatasetSpec", "Part", "READERS", "load_split"]
