"""Typed benchmark samples: what `tasks.load(...)` yields, one model per benchmark.

Every sample is a frozen pydantic model (`extra="forbid"`) whose JSON round trip is its on-disk form. All of them carry

* `sample_id`: stable and unique within a dataset; results rows, resume and sharding key on it. It is derived from
  the source data only (ids, file stems, record indices), never from the filesystem order or the run.
* `benchmark`: the registry name (`"screenspot-v2"`, `"screenspot-pro"`, `"agentnetbench"`, `"androidcontrol"`,
  `"mind2web"`).
* `source_file` / `source_index`: the annotation file and the 0-based record index in it (JSON array element or
  JSONL line), so any sample can be traced back to its record.

Ground truth keeps the **units of the source** (named below per field) plus the normalised form the metrics need.
Box layouts are in the field name or docstring: `xyxy` = (x1, y1, x2, y2), `xywh` = (x, y, width, height).
Image sizes are `(width, height)` in pixels. `image_size` is read from the image file's header at iteration time;
it is `None` only when the dataset was loaded with `check_images=False` (or for a skipped AgentNetBench step).

A sample whose image is missing or unreadable is yielded as a `SkippedSample` when the dataset was loaded with
`skip_missing=True` (never silently dropped); otherwise iteration raises `tasks.MissingImageError`. AgentNetBench is
the exception: its episode is still yielded, and the step carries the `SkippedSample` in `AgentNetStep.skipped`.
Nothing here scores: the metrics live in `eval.metrics`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, field_validator

Box = tuple[float, float, float, float]
"""Four numbers; the layout (xyxy or xywh) and the space (pixels or normalised) are named by the field."""
Size = tuple[int, int]
"""(width, height) in pixels."""
Point = tuple[float, float]
"""(x, y); the space is named by the field."""

BenchmarkName = Literal[
    "screenspot-v2", "screenspot-pro", "agentnetbench", "androidcontrol", "mind2web", "synthdesk"
]
SkipReason = Literal["missing_image", "unreadable_image"]


class _Sample(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _check_xyxy(value: Box, field: str) -> Box:
    x1, y1, x2, y2 = value
    if x2 < x1 or y2 < y1:
        raise ValueError(f"{field}={value!r} is not an (x1, y1, x2, y2) box with x1 <= x2 and y1 <= y2")
    return value


#: A `bbox` given as (x1, y1, x2, y2), validated to have x1 <= x2 and y1 <= y2 (for annotation records).
XyxyBox = Annotated[Box, AfterValidator(lambda v: _check_xyxy(v, "bbox"))]


def _check_xywh(value: Box, field: str) -> Box:
    if value[2] < 0 or value[3] < 0:
        raise ValueError(f"{field}={value!r} is not an (x, y, w, h) box with w >= 0 and h >= 0")
    return value


class SkippedSample(_Sample):
    """A sample that could not be used because an image is missing or unreadable (only with `skip_missing=True`).

    The runner records it as skipped in the results; it is never dropped silently.

    Fields:
        sample_id: the id the sample would have had.
        benchmark: registry name.
        reason: `"missing_image"` (no such file) or `"unreadable_image"` (exists, but no image header could be read).
        file: the image path at fault.
        detail: the error in words.
        source_file, source_index: the annotation record the sample comes from.
    """

    kind: Literal["skipped"] = "skipped"
    sample_id: str
    benchmark: BenchmarkName
    reason: SkipReason
    file: Path
    detail: str
    source_file: Path
    source_index: int


# --------------------------------------------------------------------------------------------------------------------
# ScreenSpot-v2 / ScreenSpot-Pro


class GroundingSample(_Sample):
    """One grounding instruction on one screenshot (ScreenSpot-v2, ScreenSpot-Pro). Spec: benchmarks §5, §6, §10.1-2.

    Fields:
        sample_id: ScreenSpot-Pro: the record's `id` (e.g. `autocad_windows_0`). ScreenSpot-v2:
            `<annotation file stem>/<record index>` (e.g. `screenspot_web_v2/17`); the v2 files have no id.
        benchmark: `"screenspot-v2"` or `"screenspot-pro"`.
        image: absolute path of the screenshot (`<images>/<img_filename>`).
        image_size: (w, h) of the image file; None when loaded with `check_images=False`.
        annotated_size: the record's `img_size` (w, h) when the format has one (Pro, converted v2), else None.
        instruction: the English instruction.
        instruction_cn: Pro's `instruction_cn` (unused by the reference), else None.
        bbox: target box, **xyxy in screenshot pixels** (official v2 `[x, y, w, h]` is converted to
            `[x, y, x + w, y + h]`).
        bbox_norm: the same box **xyxy normalised to [0, 1]**, divided by the size the reference divides by:
            ScreenSpot-Pro by `annotated_size` (the annotation's `img_size`), ScreenSpot-v2 by `image_size` (the real
            file). Falls back to the other size when that one is unknown; None when neither is known.
        ui_type: `"text"` or `"icon"` (official v2 `data_type`, converted v2 / Pro `ui_type`).
        split: ScreenSpot-v2: `"mobile"`, `"desktop"` or `"web"` (from the file name, else the record's
            `group`/`platform`). ScreenSpot-Pro: the annotation file stem (the reference's `task_filename`).
        platform: v2: the official `data_source` (= converted `platform`): ios, android, windows, macos, shop, tool,
            forum, gitlab. Pro: `platform` (windows, macos, linux).
        application: Pro `application` (e.g. autocad); None for v2.
        group: Pro `group` (CAD, Dev, Creative, Scientific, Office, OS); None for v2 (use `split`).
        source_format: `"official"` (v2 xywh + data_type/data_source, or the Pro annotation schema) or
            `"converted"` (GUI-Actor/CANL v2 conversion: xyxy + ui_type/platform/group/img_size).
        source_file, source_index: annotation file and 0-based record index.
    """

    kind: Literal["grounding"] = "grounding"
    sample_id: str
    benchmark: Literal["screenspot-v2", "screenspot-pro"]
    image: Path
    image_size: Size | None
    annotated_size: Size | None
    instruction: str
    instruction_cn: str | None = None
    bbox: Box
    bbox_norm: Box | None
    ui_type: Literal["text", "icon"]
    split: str
    platform: str | None
    application: str | None = None
    group: str | None = None
    source_format: Literal["official", "converted"]
    source_file: Path
    source_index: int

    @field_validator("bbox", "bbox_norm")
    @classmethod
    def _xyxy(cls, v: Box | None, info: Any) -> Box | None:
        return None if v is None else _check_xyxy(v, info.field_name)


# --------------------------------------------------------------------------------------------------------------------
# AgentNetBench


class AgentNetAction(_Sample):
    """One AgentNetBench ground-truth action (`ground_truth_actions[i]` or an alternative). Spec §2.1, §2.4, §10.3.

    Fields:
        type: the file's `type` as written (case kept: `click`, `doubleClick`, `moveTo`, `dragTo`, `write`, `press`,
            `hotkey`, `scroll`, `terminate`, ...). Scorers lowercase it.
        position: `params.position` (x, y) **normalised 0-1**; None when absent (the reference then uses 0).
        text: `params.text`, else `params.content` (write); None when neither is present.
        keys: `params.keys` (press / hotkey) as written; None when absent.
        status: `params.status` (terminate); None when absent.
        amount: `params.amount` (scroll, e.g. -3); None when absent.
        boxes: `metadata.bboxes[].rel_bbox`, **xywh normalised 0-1**, in file order.
        abs_boxes: `metadata.bboxes[].abs_bbox`, **xywh in pixels of the stored image** (not of
            `meta_info.screen_resolution`); same order as `boxes`, None where a box has no `abs_bbox`.
        params: the raw `params` dict, verbatim.
    """

    type: str
    position: Point | None = None
    text: str | None = None
    keys: tuple[str, ...] | None = None
    status: str | None = None
    amount: float | None = None
    boxes: tuple[Box, ...] = ()
    abs_boxes: tuple[Box | None, ...] = ()
    params: dict[str, Any] = Field(default_factory=dict)


class AgentNetStep(_Sample):
    """One step of an AgentNetBench trajectory.

    Fields:
        sample_id: `<task_id>/<step_idx>`.
        step_idx: 0-based index in the trajectory's `steps` list (the reference numbers steps `step_idx + 1`).
        step_num: the file's `step_num` (not contiguous, need not start at 1; image names use it).
        image: `<images>/<step.image>`.
        image_size: (w, h) of the stored image; None when loaded with `check_images=False` or when skipped.
        skipped: None when the image is usable; otherwise why not (only with `skip_missing=True`). The reference
            skips such a step but counts it in `total_steps` and the trajectory denominator, and later steps use its
            inner monologue as history text.
        milestone: the step's `milestone` flag (False when absent).
        ground_truth: `ground_truth_actions`, in order (the reference scores only `[0]`).
        alternatives: `alternative_options`: a tuple of alternative action lists (the reference uses each `[0]`).
        action_code: the step's `action` pyautogui string (normalised coordinates), "" when absent.
        observation, thought, low_level_instruction: `inner_monologue` texts ("" when absent).
        source_file, source_index: the trajectory file and 0 (the trajectory is the file's only record; the step is
            its `steps[step_idx]`, the field path errors name).
    """

    kind: Literal["agentnet_step"] = "agentnet_step"
    sample_id: str
    benchmark: Literal["agentnetbench"] = "agentnetbench"
    episode_id: str
    step_idx: int
    step_num: int | None
    image: Path
    image_size: Size | None
    skipped: SkippedSample | None = None
    milestone: bool
    ground_truth: tuple[AgentNetAction, ...]
    alternatives: tuple[tuple[AgentNetAction, ...], ...] = ()
    action_code: str = ""
    observation: str = ""
    thought: str = ""
    low_level_instruction: str = ""
    source_file: Path
    source_index: int


class AgentNetEpisode(_Sample):
    """One AgentNetBench trajectory (one JSON file): the unit a dataset yields, because steps share history.

    Fields:
        sample_id: the trajectory's `task_id` (= `episode_id`).
        instruction: what the reference prompts with: `high_level_task_description` if the key exists, else
            `user_task_description`, else "".
        user_task_description, high_level_task_description: the file's texts (None when absent).
        steps: the steps in file order.
        system: `meta_info.system` (e.g. Windows, Darwin), None when absent.
        screen_resolution: `meta_info.screen_resolution` (w, h) of the recording screen, None when absent.
        meta_info: the raw `meta_info` dict, None when absent.
        source_file: the trajectory JSON; source_index is always 0.
    """

    kind: Literal["agentnet_episode"] = "agentnet_episode"
    sample_id: str
    benchmark: Literal["agentnetbench"] = "agentnetbench"
    episode_id: str
    instruction: str
    user_task_description: str | None
    high_level_task_description: str | None
    steps: tuple[AgentNetStep, ...]
    system: str | None = None
    screen_resolution: Size | None = None
    meta_info: dict[str, Any] | None = None
    source_file: Path
    source_index: int = 0


# --------------------------------------------------------------------------------------------------------------------
# AndroidControl

AndroidActionType = Literal[
    "click", "long_press", "scroll", "open_app", "input_text", "navigate_back", "navigate_home", "wait", "status"
]
AndroidSourceFormat = Literal["uground", "episodes", "std", "ui_r1"]


class A11yNode(_Sample):
    """One accessibility-tree node (UGround processing of the AndroidEnv forest).

    Fields:
        bbox: `bbox_pixels` as **xyxy screenshot pixels** (x_min, y_min, x_max, y_max).
        text, content_description: the node's texts (None when absent or null).
    """

    bbox: Box
    text: str | None = None
    content_description: str | None = None


class AndroidControlAction(_Sample):
    """The ground-truth action of one AndroidControl step, in the **official AndroidControl vocabulary**.

    Mapping from the sources: UGround `type_text` -> `input_text`; std `swipe` -> `scroll`, `type` -> `input_text`,
    `open` -> `open_app`, `system_button` Back/Home -> `navigate_back`/`navigate_home`. `status` exists only in the
    UGround step file (`goal_status`).

    Fields:
        action_type: one of `AndroidActionType`.
        xy: (x, y) in **screenshot pixels** (click, long_press; UGround `type_text` may carry one too); else None.
        text: typed text (input_text).
        direction: scroll direction as the official data means it: the direction the **content** moves
            (the instruction "Swipe up" pairs with `"down"`).
        app_name: open_app's app name.
        goal_status: `status` actions' `goal_status` (`successful` / `infeasible`).
        swipe_from, swipe_to: std `swipe` finger points in screenshot pixels, else None.
        source: the source action dict, verbatim (`action` / `gt` / `action_content`).
    """

    action_type: AndroidActionType
    xy: Point | None = None
    text: str | None = None
    direction: Literal["up", "down", "left", "right"] | None = None
    app_name: str | None = None
    goal_status: str | None = None
    swipe_from: Point | None = None
    swipe_to: Point | None = None
    source: dict[str, Any] = Field(default_factory=dict)


class AndroidControlStep(_Sample):
    """One AndroidControl step, from any of the four supported files (spec §3.1, §10.4).

    Fields:
        sample_id: `<episode_id>/<step_idx>` (the screenshot index within the episode).
        source_format: `"uground"` (the reference's `500_steps.json` step list), `"episodes"` (UGround's raw
            episode JSON: goal, screenshots, accessibility_trees, actions, step_instructions), `"std"` (UI-S1 /
            AgentCPM-GUI episode JSONL), `"ui_r1"` (UI-R1 step list: image, gt, task).
        episode_id: AndroidControl episode id (None only for a UGround record without one).
        step_idx: screenshot index within the episode (None only for a UGround record without `step`).
        image: the screenshot path. uground: `<images>/<screenshot>`; episodes: `<images>/<screenshots[k]>`;
            std: `<images>/<basename of screenshot>`; ui_r1: `<images>/<image>`.
        image_size: (w, h) of the screenshot file; None when loaded with `check_images=False`.
        goal: the high-level goal; None for ui_r1 (its records carry no goal).
        step_instruction: the low-level instruction (ui_r1 `task`).
        previous_actions: the record's `previous_actions` strings (uground only; () elsewhere). The reference joins
            them with newlines for its prompt.
        previous_instructions: step instructions of the earlier steps of the same episode (episodes, std); ().
        action: ground truth (see `AndroidControlAction`).
        accessibility_tree: flattened nodes in depth-first file order (uground, episodes); () when absent. The
            reference's smallest-box search over the nested lists picks the first smallest node in this order.
        candidate_boxes: std `check_options.candidate_bbox`, **xyxy screenshot pixels**; () elsewhere.
    """

    kind: Literal["androidcontrol_step"] = "androidcontrol_step"
    sample_id: str
    benchmark: Literal["androidcontrol"] = "androidcontrol"
    source_format: AndroidSourceFormat
    episode_id: int | None
    step_idx: int | None
    image: Path
    image_size: Size | None
    goal: str | None
    step_instruction: str | None
    previous_actions: tuple[str, ...] = ()
    previous_instructions: tuple[str, ...] = ()
    action: AndroidControlAction
    accessibility_tree: tuple[A11yNode, ...] = ()
    candidate_boxes: tuple[Box, ...] = ()
    source_file: Path
    source_index: int

    @field_validator("candidate_boxes")
    @classmethod
    def _boxes_xyxy(cls, v: tuple[Box, ...]) -> tuple[Box, ...]:
        return tuple(_check_xyxy(b, "candidate_boxes") for b in v)


# --------------------------------------------------------------------------------------------------------------------
# Multimodal-Mind2Web


class Mind2WebBlock(_Sample):
    """One block image of a page: `<images>/cross_<split>/<blocks_path>/<index>.png`.

    Fields:
        index: block number k; block k nominally starts at page y = 800 * k (use `Mind2WebStep.target_blocks`
            rather than deriving boxes from that).
        image: the PNG path.
        image_size: (w, h) of the block image (typically 1280 x <= 1000).
    """

    index: int
    image: Path
    image_size: Size


class Mind2WebStep(_Sample):
    """One Multimodal-Mind2Web action row of a UGround `cross_<split>_blocks.jsonl` file (spec §4.1, §10.5).

    Fields:
        sample_id: `<split>/<annotation_id>/<action_uid>`.
        split: `"domain"`, `"task"` or `"website"` (from the file name; the reference reads them in that order).
        annotation_id: task id (the macro-averaging key); action_uid: action id.
        task: the task instruction (Mind2Web `confirmed_task`).
        website, domain, subdomain: as in the row (None when absent).
        operation: `CLICK`, `TYPE` or `SELECT`; value: typed text / selected option ("" for CLICK).
        bbox: target box(es), **xywh in CSS pixels of the full-page screenshot**; may be empty.
        target_blocks: block index -> target box(es), **xywh in pixels of that block**; {} when `bbox` is empty.
        previous_actions: Mind2Web `action_reprs` of the earlier steps (`[]` for step 0).
        step: 0-based step index in the task (None when absent); total_steps: actions in the task.
        blocks_path: folder name of the block images (`<annotation_id>_<action_uid>`).
        blocks_dir: `<images>/cross_<split>/<blocks_path>`.
        blocks: the block images found there, `0.png, 1.png, ...` while they exist (contiguous from 0);
            () when loaded with `check_images=False`. Block 0 exists whenever the sample is yielded as a step.
    """

    kind: Literal["mind2web_step"] = "mind2web_step"
    sample_id: str
    benchmark: Literal["mind2web"] = "mind2web"
    split: Literal["domain", "task", "website"]
    annotation_id: str
    action_uid: str
    task: str
    website: str | None = None
    domain: str | None = None
    subdomain: str | None = None
    operation: Literal["CLICK", "TYPE", "SELECT"]
    value: str
    bbox: tuple[Box, ...]
    target_blocks: dict[int, tuple[Box, ...]] = Field(default_factory=dict)
    previous_actions: tuple[str, ...]
    step: int | None = None
    total_steps: int
    blocks_path: str
    blocks_dir: Path
    blocks: tuple[Mind2WebBlock, ...] = ()
    source_file: Path
    source_index: int

    @field_validator("bbox")
    @classmethod
    def _bbox_xywh(cls, v: tuple[Box, ...]) -> tuple[Box, ...]:
        return tuple(_check_xywh(b, "bbox") for b in v)


# --------------------------------------------------------------------------------------------------------------------
# synthdesk (procedural; generated by tasks.synthdesk, not read from files)


class ShownWidget(_Sample):
    """A widget on a synthdesk screen, as scoring sees it: role, label, box (xyxy screen pixels, x2/y2 exclusive)
    and whether a click on it does something."""

    role: str
    label: str
    box: XyxyBox
    interactive: bool


class SynthdeskStep(_Sample):
    """One step of a synthdesk task: the screenshot and the gold action (see `tasks.synthdesk.episodes`).

    Fields:
        sample_id: `<task sample_id>/<step_idx>`. step_idx: 0-based.
        image: the screenshot PNG (written by the loader under its `images` folder). image_size: (w, h).
        action_type: "click", "type", "hotkey" or "finished".
        bbox: click: the target widget's box, **xyxy screen pixels** (= model-image pixels), x2/y2 exclusive.
        point: click: the gold point (the box's integer centre), pixels. label: click: the target's label.
        look: click: the target's role and marks (`tasks.synthdesk.app.look`: "menu on", "textfield covered").
        text: type: the text. key: hotkey: the key ("enter", "escape").
        memory: the right action depends on an earlier screenshot (a notice no longer shown).
        chance: probability that a uniformly random argument of the right action type is right.
        reply: the gold reply in the UI-TARS-1.5 grammar.
        widgets: the screen's widgets in paint order (the last one holding a point is the one clicked), so that a
            missed click can be told apart (another widget or bare background) and a screen's crowding counted.
    """

    kind: Literal["synthdesk_step"] = "synthdesk_step"
    sample_id: str
    step_idx: int
    image: Path
    image_size: Size
    action_type: Literal["click", "type", "hotkey", "finished"]
    bbox: XyxyBox | None = None
    point: Point | None = None
    label: str | None = None
    look: str | None = None
    text: str | None = None
    key: str | None = None
    memory: bool = False
    chance: float = Field(ge=0.0, le=1.0)
    reply: str
    widgets: tuple[ShownWidget, ...] = ()


class SynthdeskTask(_Sample):
    """One synthdesk task (`tasks.synthdesk.load`): a grounding screen, or an episode of steps scored one by one.

    Fields:
        sample_id: `<index, 5 digits>-<task_kind>` (e.g. `00004-memory`); unique within (split, seed).
        split: "heldout" (evaluation) or "train". seed, index: what generated it (`tasks.synthdesk.generate`).
        task_kind: "grounding", "episode" or "memory". template: the task template (`tasks.synthdesk.episodes`).
        instruction: the task in words. screen_size: (w, h). steps: the steps in order.
        fingerprint: the task's identity hash (the split is a function of it).
    """

    kind: Literal["synthdesk_task"] = "synthdesk_task"
    sample_id: str
    benchmark: Literal["synthdesk"] = "synthdesk"
    split: Literal["train", "heldout"]
    seed: int
    index: int
    task_kind: Literal["grounding", "episode", "memory"]
    template: str
    instruction: str
    screen_size: Size
    steps: tuple[SynthdeskStep, ...] = Field(min_length=1)
    fingerprint: str


Sample = GroundingSample | AgentNetEpisode | AndroidControlStep | Mind2WebStep | SynthdeskTask
"""What a dataset yields besides `SkippedSample`."""

AnyItem = Annotated[
    Union[GroundingSample, AgentNetEpisode, AndroidControlStep, Mind2WebStep, SynthdeskTask, SkippedSample],
    Field(discriminator="kind"),
]
"""Anything a dataset yields, discriminated on `kind` (for reading samples back from JSON)."""

ITEM_ADAPTER: TypeAdapter[AnyItem] = TypeAdapter(AnyItem)
"""`ITEM_ADAPTER.validate_json(line)` reads back any item's `model_dump_json()`."""
