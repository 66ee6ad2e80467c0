"""Benchmark loaders: the real on-disk formats of the five GUI benchmarks, read into typed samples.

`tasks.load(name, data=PATH, images=PATH, **options)` returns a `Dataset`: `len()`, deterministic iteration (files in
a documented fixed or sorted order, records in file order), `sample_ids`, `subset(ids)`. `synthdesk` is procedural:
its tasks are generated from a seed (`tasks.synthdesk`). Options common to every
loader: `check_images=True`, `skip_missing=False` (see `tasks.dataset.ImageOptions`); the per-loader ones are in each
module's `load` docstring. Paths are taken as given: environment-variable defaults are the CLI's job. Nothing here
scores (that is `eval.metrics`); nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tasks import agentnetbench, androidcontrol, mind2web, screenspot_pro, screenspot_v2, synthdesk
from tasks.dataset import Dataset, ImageOptions
from tasks.errors import DatasetFormatError, MissingImageError, TaskError
from tasks.schema import (
    ITEM_ADAPTER,
    A11yNode,
    AgentNetAction,
    AgentNetEpisode,
    AgentNetStep,
    AndroidControlAction,
    AndroidControlStep,
    AnyItem,
    Box,
    GroundingSample,
    Mind2WebBlock,
    Mind2WebStep,
    Sample,
    SkippedSample,
    SynthdeskStep,
    SynthdeskTask,
)

LOADERS: dict[str, Callable[..., Dataset[Any]]] = {
    "screenspot-v2": screenspot_v2.load,
    "screenspot-pro": screenspot_pro.load,
    "agentnetbench": agentnetbench.load,
    "androidcontrol": androidcontrol.load,
    "mind2web": mind2web.load,
    "synthdesk": synthdesk.load,
}
"""Benchmark name -> loader. Each loader is `load(data, images, **options) -> Dataset`. synthdesk generates its
tasks (options `seed`, `size`, `split`, `kind`) and writes their screenshots under `images`; it reads no `data`."""


def load(name: str, data: str | Path, images: str | Path, **options: Any) -> Dataset[Any]:
    """Load benchmark `name` from the annotation path `data` and the image root `images`.

    Raises:
        ValueError: `name` is not a registered benchmark.
        TypeError: an option the loader does not take.
        DatasetFormatError: a missing or malformed annotation file or record (file, record index and field named).
    """
    try:
        loader = LOADERS[name]
    except KeyError:
        raise ValueError(f"benchmark {name!r} is not one of {sorted(LOADERS)}") from None
    return loader(data, images, **options)


__all__ = [
    "A11yNode", "AgentNetAction", "AgentNetEpisode", "AgentNetStep", "AndroidControlAction", "AndroidControlStep",
    "AnyItem", "Box", "Dataset", "DatasetFormatError", "GroundingSample", "ITEM_ADAPTER", "ImageOptions", "LOADERS",
    "MissingImageError", "Mind2WebBlock", "Mind2WebStep", "Sample", "SkippedSample", "SynthdeskStep", "SynthdeskTask",
    "TaskError", "load",
]
