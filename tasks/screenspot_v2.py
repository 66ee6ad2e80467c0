"""ScreenSpot-v2 loader (format: spec-benchmarks.md §5.1, §10.1).

Two schemas are read, detected per record:

* **official** (OS-Atlas v2 files, SeeClick/UGround v1): `{img_filename | image, bbox [x, y, w, h] px, instruction,
  data_type text|icon, data_source}`; UGround's v1 copy adds `platform` (desktop/mobile/web), `scale`, `description`.
  The box is converted to xyxy `[x, y, x + w, y + h]`.
* **converted** (GUI-Actor / CANL): `{img_filename, bbox [x1, y1, x2, y2] px, instruction, img_size [w, h],
  platform (= data_source), ui_type (= data_type), group (= desktop/mobile/web)}`.

A record with `ui_type` is read as converted, one with `data_type` as official (force with `schema=`). Unknown keys
are ignored. `data` is a folder holding `screenspot_{split}_v2.json` (or `.jsonl`) for each split, read in the
reference's order mobile, desktop, web, or a single annotation file (`.json` array or `.jsonl`). Records keep their
file order. Images are at `<images>/<img_filename>` (the official image folder is flat).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from tasks.dataset import (
    Dataset, Entry, ImageOptions, SampleRef, as_path, check_image, claim_id, format_errors, read_records,
    require_dir, validate,
)
from tasks.errors import DatasetFormatError
from tasks.formats import describe_json
from tasks.schema import Box, GroundingSample, Size, SkippedSample, XyxyBox

BENCHMARK: Final = "screenspot-v2"
SPLITS: tuple[str, ...] = ("mobile", "desktop", "web")
Schema = Literal["auto", "official", "converted"]
_SPLIT_IN_NAME = re.compile(r"(?:^|_)(mobile|desktop|web)(?:_|$)")


class _Official(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    img_filename: str = Field(validation_alias=AliasChoices("img_filename", "image"))
    bbox: Box
    instruction: str
    data_type: Literal["text", "icon"]
    data_source: str | None = None
    platform: str | None = None

    @field_validator("bbox")
    @classmethod
    def _xywh(cls, v: Box) -> Box:
        if v[2] < 0 or v[3] < 0:
            raise ValueError(f"bbox={list(v)!r} is not [x, y, w, h] with w >= 0 and h >= 0")
        return v


class _Converted(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    img_filename: str = Field(validation_alias=AliasChoices("img_filename", "image"))
    bbox: XyxyBox
    instruction: str
    ui_type: Literal["text", "icon"]
    platform: str | None = None
    group: str | None = None
    img_size: Size | None = None


_Record = _Official | _Converted


def _parse(raw: Any, schema: Schema, file: Path, index: int) -> _Record:
    if schema == "auto":
        if not isinstance(raw, dict):
            raise DatasetFormatError(file, f"expected a JSON object, found {describe_json(raw)}", index=index)
        if "ui_type" in raw:
            schema = "converted"
        elif "data_type" in raw:
            schema = "official"
        else:
            raise DatasetFormatError(
                file, "expected a ScreenSpot-v2 record: neither 'data_type' (official schema) nor 'ui_type' "
                f"(converted schema) is present; found {describe_json(raw)}", index=index, field="data_type",
            )
    model: type[_Record] = _Converted if schema == "converted" else _Official
    return validate(model, raw, file=file, index=index)


def _split_of(rec: _Record, file: Path, index: int) -> str:
    match = _SPLIT_IN_NAME.search(file.stem)
    if match:
        return match.group(1)
    value, field = (rec.group, "group") if isinstance(rec, _Converted) else (rec.platform, "platform")
    if value in SPLITS:
        return value
    raise DatasetFormatError(
        file, f"cannot tell the split: the file name names none of {SPLITS} and the record's {field} is {value!r}",
        index=index, field=field,
    )


def _build(rec: _Record, *, sample_id: str, split: str, file: Path, index: int, image: Path,
           image_size: Size | None) -> GroundingSample:
    fmt: Literal["official", "converted"]
    if isinstance(rec, _Official):
        x, y, w, h = rec.bbox
        bbox: Box = (x, y, x + w, y + h)
        annotated, ui_type, platform, fmt = None, rec.data_type, rec.data_source, "official"
    else:
        bbox, annotated, ui_type, platform, fmt = rec.bbox, rec.img_size, rec.ui_type, rec.platform, "converted"
    size = image_size or annotated
    norm = None if size is None else (bbox[0] / size[0], bbox[1] / size[1], bbox[2] / size[0], bbox[3] / size[1])
    return GroundingSample(
        sample_id=sample_id, benchmark=BENCHMARK, image=image, image_size=image_size, annotated_size=annotated,
        instruction=rec.instruction, bbox=bbox, bbox_norm=norm, ui_type=ui_type, split=split, platform=platform,
        source_format=fmt, source_file=file, source_index=index,
    )


def _make(rec: _Record, sample_id: str, split: str, file: Path, index: int, image: Path, opts: ImageOptions
          ) -> GroundingSample | SkippedSample:
    size = check_image(image, SampleRef(sample_id, BENCHMARK, file, index, "img_filename"), opts)
    if isinstance(size, SkippedSample):
        return size
    return _build(rec, sample_id=sample_id, split=split, file=file, index=index, image=image, image_size=size)


def annotation_files(data: Path, splits: Sequence[str]) -> list[Path]:
    """The files a `data` path stands for: the file itself, or `screenspot_{split}_v2.json[l]` per split, in order."""
    if data.is_file():
        return [data]
    require_dir(data, "a folder with screenspot_{mobile,desktop,web}_v2.json, or one annotation file")
    files = []
    for split in splits:
        if split not in SPLITS:
            raise ValueError(f"splits: {split!r} is not one of {SPLITS}")
        candidates = [data / f"screenspot_{split}_v2{ext}" for ext in (".json", ".jsonl")]
        found = [p for p in candidates if p.is_file()]
        if not found:
            raise DatasetFormatError(candidates[0], f"not found; expected the official {split} annotation file")
        files.append(found[0])
    return files


def load(data: str | Path, images: str | Path, *, splits: Sequence[str] = SPLITS, schema: Schema = "auto",
         check_images: bool = True, skip_missing: bool = False) -> Dataset[GroundingSample]:
    """Load ScreenSpot-v2 (or v1) annotations into `GroundingSample`s (ids: `<file stem>/<record index>`).

    Args:
        data: a folder with the per-split files, or one annotation file (`.json` array or `.jsonl`).
        images: the flat image folder (`<images>/<img_filename>`).
        splits: which per-split files to read from a folder, in this order (ignored for a single file).
        schema: `"auto"` (per record), `"official"` (xywh) or `"converted"` (xyxy).
        check_images, skip_missing: see `tasks.dataset.ImageOptions`.

    Raises:
        DatasetFormatError: missing or malformed annotation file or record.
    """
    if schema not in ("auto", "official", "converted"):
        raise ValueError(f"schema: {schema!r} is not one of 'auto', 'official', 'converted'")
    opts = ImageOptions(check_images=check_images, skip_missing=skip_missing)
    image_root = as_path(images, "images")
    entries: list[Entry[GroundingSample]] = []
    seen: dict[str, tuple[Path, int]] = {}
    for file in annotation_files(as_path(data, "data"), splits):
        for index, raw in read_records(file):
            rec = _parse(raw, schema, file, index)
            split = _split_of(rec, file, index)
            sample_id = f"{file.stem}/{index}"
            claim_id(seen, sample_id, file=file, index=index, field="img_filename")
            image = image_root / rec.img_filename
            with format_errors(file, index):  # validate the sample now, not while iterating
                _build(rec, sample_id=sample_id, split=split, file=file, index=index, image=image, image_size=None)
            entries.append(Entry(sample_id, functools.partial(_make, rec, sample_id, split, file, index, image, opts)))
    return Dataset(BENCHMARK, entries)
