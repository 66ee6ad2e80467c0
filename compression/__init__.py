"""KV-cache compression for GUI agents on transformers 5.x (GUI-KV and baselines).

Methods are frozen dataclasses (``compression.methods``); ``select`` returns the kept positions per head.
"""

from compression.base import CompressionMethod, LayerInputs, ScoredMethod
from compression.methods import METHODS, GUIKV, FullKV, PyramidKV, RandomKV, RecencyKV, SnapKV, VLCache
from compression.errors import CapacityError, CompressionError, UnsupportedModelError
from compression.hooks import apply
from compression.session import KVSession, StepOutput, StepStats

__all__ = [
    "CompressionMethod",
    "ScoredMethod",
    "LayerInputs",
    "METHODS",
    "FullKV",
    "RandomKV",
    "RecencyKV",
    "SnapKV",
    "PyramidKV",
    "VLCache",
    "GUIKV",
    "apply",
    "KVSession",
    "StepOutput",
    "StepStats",
    "CapacityError",
    "CompressionError",
    "UnsupportedModelError",
]
