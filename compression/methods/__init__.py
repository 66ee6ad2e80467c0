"""Compression methods and their registry (the key is the file stem and the CLI value)."""

from typing import Dict, Type

from compression.base import CompressionMethod
from compression.methods.full import FullKV
from compression.methods.gui_kv import GUIKV
from compression.methods.pyramidkv import PyramidKV
from compression.methods.random import RandomKV
from compression.methods.recency import RecencyKV
from compression.methods.snapkv import SnapKV
from compression.methods.vlcache import VLCache

METHODS: Dict[str, Type[CompressionMethod]] = {
    "full": FullKV,
    "random": RandomKV,
    "recency": RecencyKV,
    "snapkv": SnapKV,
    "pyramidkv": PyramidKV,
    "vlcache": VLCache,
    "gui_kv": GUIKV,
}

__all__ = ["METHODS", "FullKV", "RandomKV", "RecencyKV", "SnapKV", "PyramidKV", "VLCache", "GUIKV"]
