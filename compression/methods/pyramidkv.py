"""PyramidKV (arXiv 2406.02069): SnapKV scores with a pyramid of per-layer capacities."""

from __future__ import annotations

from dataclasses import dataclass

from compression.methods.snapkv import SnapKV

__all__ = ["PyramidKV"]


@dataclass(frozen=True)
class PyramidKV(SnapKV):
    """SnapKV whose capacity shrinks linearly from the first to the last layer.

    The allocation is the reference's (``PyramidKVCluster.update_kv`` in Zefan-Cai/KVCache-Factory, copied
    unchanged into SalesforceAIResearch/GUI-KV), with ``C = capacity`` of the budget, ``W = window``,
    ``n = n_seen`` and ``L = num_layers``:

    * ``n < 2 (C - W)``: every layer keeps ``C`` (uniform, as the reference's middle branch);
    * otherwise ``min = (C - W) // beta``, ``max = 2 (C - W) - min``; if ``max >= n - W`` then ``max = n - W``
      and ``min = 2 (C - W) - max``; ``step = (max - min) // (L - 1)``; layer ``l`` keeps
      ``max - l * step`` scored entries plus the ``W`` window.

    With ``num_layers == 1`` the capacity is uniform. Layer capacities average to about ``C``. With ``max_tokens``
    (``C = max_tokens``) every layer is clamped at ``max_tokens``, so the pyramid keeps its lower layers' share only.

    Parameters
    ----------
    beta : int, default 20
        Ratio between the mean and the smallest per-layer scored capacity (reference default).
    """

    beta: int = 20

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.beta, bool) or not isinstance(self.beta, int) or self.beta < 1:
            raise ValueError(f"beta must be an int >= 1, got beta={self.beta!r}")

    def capacity(self, n_seen: int, layer_idx: int = 0, num_layers: int = 1) -> int:
        c = self.base_capacity(n_seen)
        w = self.window
        if num_layers <= 1 or c <= w or n_seen < 2 * (c - w):
            return c  # never above max_tokens: base_capacity honours it
        min_num = (c - w) // self.beta
        max_num = 2 * (c - w) - min_num
        if max_num >= n_seen - w:
            max_num = n_seen - w
            min_num = 2 * (c - w) - max_num
        step = (max_num - min_num) // (num_layers - 1)
        return self._capped(min(max_num - layer_idx * step + w, n_seen))
