"""The `Dataset` every loader returns, and the reading helpers the loaders share.

Loading happens in two phases. `load()` reads and validates every annotation record eagerly (so a malformed record
fails before any model runs, and `len()` and the sample ids are known); iterating then checks each sample's images
(existence and a readable header, which also gives the image size) lazily, one sample at a time.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from tasks.errors import DatasetFormatError, MissingImageError
from tasks.formats import describe_json, record_kind
from tasks.schema import BenchmarkName, Size, SkippedSample, SkipReason

logger = logging.getLogger(__name__)

S = TypeVar("S", bound=BaseModel)
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class ImageOptions:
    """How a loader treats images.

    check_images: open each image's header while iterating (existence, readability, size). False touches no image:
        sizes are None, Mind2Web `blocks` is empty, and nothing is ever skipped.
    skip_missing: a missing or unreadable image yields a `SkippedSample` instead of raising `MissingImageError`.
    """

    check_images: bool = True
    skip_missing: bool = False


@dataclass(frozen=True)
class Entry(Generic[S]):
    """One sample-to-be: its id and a function that checks its images and builds it."""

    sample_id: str
    build: Callable[[], S | SkippedSample]


class Dataset(Generic[S]):
    """A benchmark's samples in a fixed, documented order (never filesystem order).

    `len()` is the number of items iteration yields (samples plus `SkippedSample`s). Iteration is lazy: each item's
    images are checked when it is reached, so iterating twice checks them twice and yields equal items.
    """

    def __init__(self, name: BenchmarkName, entries: Sequence[Entry[S]]) -> None:
        seen: set[str] = set()
        for entry in entries:
            if entry.sample_id in seen:
                raise ValueError(f"duplicate sample_id {entry.sample_id!r} in the {name} dataset")
            seen.add(entry.sample_id)
        self.name: BenchmarkName = name
        self._entries: tuple[Entry[S], ...] = tuple(entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[S | SkippedSample]:
        for entry in self._entries:
            yield entry.build()

    def __repr__(self) -> str:
        return f"Dataset({self.name!r}, {len(self)} samples)"

    @property
    def sample_ids(self) -> tuple[str, ...]:
        """The ids in iteration order, without touching any image."""
        return tuple(e.sample_id for e in self._entries)

    def subset(self, sample_ids: Iterable[str]) -> Dataset[S]:
        """The samples whose id is in `sample_ids`, in this dataset's order (for resume, shards, `--limit`).

        Raises:
            KeyError: an id is not in this dataset.
        """
        wanted = set(sample_ids)
        unknown = wanted.difference(self.sample_ids)
        if unknown:
            raise KeyError(f"sample ids not in the {self.name} dataset: {sorted(unknown)[:5]}")
        return Dataset(self.name, [e for e in self._entries if e.sample_id in wanted])


# --------------------------------------------------------------------------------------------------------------------
# Reading helpers


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as e:
        raise DatasetFormatError(path, f"cannot read the annotation file ({e.strerror or e})") from e


def _parse_or_none(text: str) -> Any:
    """`json.loads(text)`, or None when it is not JSON (for "what is this file, then?" hints)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def read_json(path: Path) -> Any:
    """Parse a JSON file, raising `DatasetFormatError` (naming the file, line and column) when it is not JSON; a JSON
    Lines file is named as such."""
    text = _read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        first = _parse_or_none(text.split("\n", 1)[0]) if e.msg == "Extra data" else None
        if first is not None:
            raise DatasetFormatError(path, "expected one JSON document, found JSON Lines (one record per line; "
                                           f"the first is {describe_json(first)})") from e
        raise DatasetFormatError(path, f"not valid JSON at line {e.lineno} column {e.colno}: {e.msg}") from e


def read_json_array(path: Path) -> list[Any]:
    """A JSON file that must hold an array of records."""
    data = read_json(path)
    if not isinstance(data, list):
        raise DatasetFormatError(path, f"expected a JSON array of records, found {describe_json(data)}")
    return data


def read_jsonl(path: Path) -> list[tuple[int, Any]]:
    """`(index, record)` for every non-blank line of a JSONL file; `index` is the 0-based line number. A file that is
    one JSON document over several lines is named as such."""
    text = _read_text(path)
    records: list[tuple[int, Any]] = []
    for i, line in enumerate(text.splitlines()):
        if not line.strip():
            continue
        try:
            records.append((i, json.loads(line)))
        except json.JSONDecodeError as e:
            whole = _parse_or_none(text) if not records else None
            if whole is not None:
                raise DatasetFormatError(path, "expected JSON Lines (one record per line), found one JSON document "
                                               f"over several lines: {describe_json(whole)}") from e
            raise DatasetFormatError(path, f"line {i + 1} is not valid JSON: {e.msg}", index=i) from e
    return records


def read_records(path: Path) -> list[tuple[int, Any]]:
    """`(index, record)` pairs of a `.jsonl` file (one per line) or a `.json` file (an array)."""
    if path.suffix == ".jsonl":
        return read_jsonl(path)
    return list(enumerate(read_json_array(path)))


@contextmanager
def format_errors(file: Path, index: int | None, prefix: str = "") -> Iterator[None]:
    """Turn a pydantic `ValidationError` raised inside the block into a `DatasetFormatError`.

    The error names the file, the record index and the dotted path of the first failing field (after `prefix`).
    """
    try:
        yield
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        field = ".".join(p for p in (prefix, loc) if p) or None
        more = f" (and {e.error_count() - 1} more errors)" if e.error_count() > 1 else ""
        raise DatasetFormatError(file, f"{first['msg']}{more}", index=index, field=field) from e


def validate(model: type[M], raw: Any, *, file: Path, index: int | None, prefix: str = "") -> M:
    """`model.model_validate(raw)`, with a `ValidationError` turned into a `DatasetFormatError` (`format_errors`).
    A whole record (no `prefix`) that lacks fields and is recognisably another format's says which it is."""
    try:
        with format_errors(file, index, prefix):
            return model.model_validate(raw)
    except DatasetFormatError as e:
        cause = e.__cause__
        missing = isinstance(cause, ValidationError) and cause.errors()[0]["type"] == "missing"
        if prefix or not missing or record_kind(raw) is None:
            raise
        raise DatasetFormatError(file, f"{e.reason}; found {describe_json(raw)}", index=index, field=e.field) from cause


def claim_id(seen: dict[str, tuple[Path, int]], sample_id: str, *, file: Path, index: int, field: str) -> None:
    """Record `sample_id` in `seen`, raising `DatasetFormatError` if an earlier record already produced it."""
    if sample_id in seen:
        first_file, first_index = seen[sample_id]
        raise DatasetFormatError(
            file, f"duplicate sample id {sample_id!r} (first seen in {first_file} record {first_index})",
            index=index, field=field,
        )
    seen[sample_id] = (file, index)


def require_file(path: Path, what: str) -> Path:
    """`path` if it is a file, else a `DatasetFormatError` saying what was expected there."""
    if not path.is_file():
        raise DatasetFormatError(path, f"not found; expected {what}")
    return path


def require_dir(path: Path, what: str) -> Path:
    """`path` if it is a folder, else a `DatasetFormatError` saying what was expected there."""
    if not path.is_dir():
        raise DatasetFormatError(path, f"not found; expected {what}")
    return path


# --------------------------------------------------------------------------------------------------------------------
# Images


class _ImageProblem(Exception):
    def __init__(self, reason: SkipReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def read_image_size(path: Path) -> Size:
    """(width, height) from the image header (the pixels are not decoded).

    Raises:
        _ImageProblem: missing file, or no readable image header.
    """
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise _ImageProblem("missing_image", "image not found")
    try:
        with Image.open(path) as img:
            width, height = img.size
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise _ImageProblem("unreadable_image", f"image not readable ({e})") from e
    return (int(width), int(height))


@dataclass(frozen=True)
class SampleRef:
    """Where a sample comes from, for skip records and error messages."""

    sample_id: str
    benchmark: BenchmarkName
    source_file: Path
    source_index: int
    field: str


def check_image(path: Path, ref: SampleRef, opts: ImageOptions) -> Size | SkippedSample | None:
    """The image's size, a `SkippedSample` (missing/unreadable with `skip_missing`), or None (`check_images` off).

    Raises:
        MissingImageError: missing or unreadable, and `skip_missing` is off.
    """
    if not opts.check_images:
        return None
    try:
        return read_image_size(path)
    except _ImageProblem as problem:
        if not opts.skip_missing:
            raise MissingImageError(
                ref.source_file, problem.detail, image=path, sample_id=ref.sample_id, index=ref.source_index,
                field=ref.field,
            ) from problem
        logger.debug("skipping %s: %s: %s", ref.sample_id, problem.detail, path)
        return SkippedSample(
            sample_id=ref.sample_id, benchmark=ref.benchmark, reason=problem.reason,
            file=path, detail=problem.detail, source_file=ref.source_file, source_index=ref.source_index,
        )


def as_path(value: str | Path, what: str) -> Path:
    """An absolute path from a user-supplied `str | Path` (a TypeError naming `what` for anything else)."""
    if not isinstance(value, (str, Path)):
        raise TypeError(f"{what} must be a path (str or Path), got {type(value).__name__}: {value!r}")
    return Path(value).absolute()
