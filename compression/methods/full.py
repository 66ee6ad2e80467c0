"""FullKV: the no-compression baseline (keeps every entry)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional

import torch

from compression.base import CompressionMethod, Frames

__all__ = ["FullKV"]


@dataclass(frozen=True)
class FullKV(CompressionMethod):
    """Keep the whole cache. ``compresses`` is False, so hooks skip it entirely.

    Parameters
    ----------
    budget : float, default 100.0
        Fixed at 100 in spirit; ``capacity`` always returns ``n_seen``.
    max_tokens : int or None, default None
        With ``budget=None``: a cap on the cache that a full cache can only meet by dropping whole screenshots. An
        incremental ``KVSession`` evicts the oldest frames before each chunk until the cache plus the chunk fit in
        ``max_tokens`` entries (when the chunk alone is larger, only the chunk's own frames stay).
    """

    budget: Optional[float] = 100.0

    compresses: ClassVar[bool] = False

    def capacity(self, n_seen: int, layer_idx: int = 0, num_layers: int = 1) -> int:
        return n_seen

    def select(
        self,
        keys: torch.Tensor,
        queries: torch.Tensor,
        hidden_states: Optional[torch.Tensor] = None,
        frames: Frames = (),
        layer_idx: int = 0,
        num_layers: int = 1,
        n_seen: Optional[int] = None,
        prev_frame_mask: Optional[torch.Tensor] = None,
        frame_ids: Optional[torch.Tensor] = None,
        n_frames: Optional[int] = None,
    ) -> torch.Tensor:
        """Every position for every head: (B, Hkv, T) for "kv", (B, H, T) for "query"."""
        return self._all_positions(keys, queries)
