"""A self-contained HTML report of a run directory (agent.trajectory layout).

`write_report(run_dir)` reads config.json, steps.jsonl, result.json and the screenshots back from disk and writes
report.html: per reply, the screenshot inlined as base64 PNG with its actions drawn on it in an SVG overlay (in
screenshot pixels), the raw model output, the parsed actions in every coordinate space, the timings and any error.
The screenshot files are embedded as they are (no re-encoding), so writing a report takes milliseconds.
"""

from __future__ import annotations

import base64
import html
import json
import logging
from pathlib import Path
from typing import Any

from actions.schema import Scroll
from agent.trajectory import CONFIG_FILE, REPORT_FILE, ActionRecord, RunResult, StepRecord, read_result, read_steps

logger = logging.getLogger(__name__)

_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 2em; border-top: 1px solid #ccc; padding-top: .8em; }
.shot { position: relative; display: inline-block; max-width: 100%; }
.shot img { display: block; max-width: 100%; height: auto; border: 1px solid #999; }
.shot svg { position: absolute; left: 0; top: 0; width: 100%; height: 100%; pointer-events: none; }
pre { background: #f6f6f6; padding: .6em; white-space: pre-wrap; word-break: break-word; }
table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: 2px 8px; text-align: left; }
.error { color: #b00; font-weight: bold; } .status { font-weight: bold; }
"""
_MARK = "#ff2d55"


def write_report(run_dir: str | Path) -> Path:
    """Write `run_dir`/report.html from the files in `run_dir` and return its path.

    Works on an unfinished run too (no result.json; a missing screenshot is shown as missing).
    """
    run_dir = Path(run_dir)
    config = _read_json(run_dir / CONFIG_FILE)
    records = read_steps(run_dir)
    result = read_result(run_dir)
    parts = [_header(config, result, records)]
    parts += [_step_section(run_dir, record) for record in records]
    page = ("<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>Run report</title>"
            f"<style>{_CSS}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n")
    path = run_dir / REPORT_FILE
    path.write_text(page, encoding="utf-8")
    logger.debug("report written to %s", path)
    return path


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _header(config: dict[str, Any], result: RunResult | None, records: list[StepRecord]) -> str:
    status = result.status.value if result else "unfinished (no result.json)"
    rows = [("task", config.get("task", "")), ("status", status)]
    if result:
        rows += [("message", result.message), ("steps", result.n_steps), ("replies", result.n_replies),
                 ("duration", f"{result.ended_at - result.started_at:.1f} s")]
    keys = ("model", "endpoint", "executor", "method", "budget", "max_steps", "monitor")
    rows += [(k, config[k]) for k in keys if config.get(k) is not None]
    table = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in rows)
    return f"<h1>Run report</h1>\n<table>{table}</table>\n<p>{len(records)} replies recorded.</p>"


def _step_section(run_dir: Path, record: StepRecord) -> str:
    title = f"Step {record.step}" + (f" (retry {record.attempt})" if record.attempt else "")
    parts = [f"<h2>{_esc(title)} &mdash; <span class='status'>{_esc(record.status.value)}</span></h2>"]
    if record.error:
        parts.append(f"<p class='error'>{_esc(record.error)}</p>")
    parts.append(_screenshot(run_dir, record))
    if record.feedback:
        parts.append(f"<p>Feedback given to the model:</p><pre>{_esc(record.feedback)}</pre>")
    parts.append(f"<p>Raw output:</p><pre>{_esc(record.raw_output)}</pre>")
    if record.actions:
        parts.append(_actions_table(record.actions))
    parts.append(_timings_table(record))
    return "\n".join(parts)


def _screenshot(run_dir: Path, record: StepRecord) -> str:
    if record.screenshot is None:
        return "<p>(no screenshot)</p>"
    path = run_dir / record.screenshot
    if not path.is_file():
        return f"<p>(screenshot {_esc(record.screenshot)} missing)</p>"
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    width, height = record.geometry.screenshot_size
    arrow = f"arrow-{record.step}-{record.attempt}"  # marker ids are document-wide
    overlay = "".join(_draw(a, width, arrow) for a in record.actions)
    svg = (f"<svg viewBox='0 0 {width} {height}' preserveAspectRatio='none' xmlns='http://www.w3.org/2000/svg'>"
           f"<defs><marker id='{arrow}' viewBox='0 0 10 10' refX='8' refY='5' markerWidth='6' markerHeight='6' "
           f"orient='auto-start-reverse'><path d='M0,0 L10,5 L0,10 z' fill='{_MARK}'/></marker></defs>"
           f"{overlay}</svg>")
    return (f"<div class='shot'><img alt='{_esc(record.screenshot)}' width='{width}' height='{height}' "
            f"src='data:image/png;base64,{data}'>{svg}</div>")


def _draw(record: ActionRecord, width: int, arrow: str) -> str:
    """SVG marks for one action, in screenshot pixels."""
    action, pts = record.action, record.points
    r = max(6.0, width / 120)
    stroke = f"stroke='{_MARK}' stroke-width='{r / 3:.1f}' fill='none'"
    label = _esc(action.type)
    if "xy_start" in pts and "xy_end" in pts:
        (x0, y0), (x1, y1) = pts["xy_start"].xy_screen, pts["xy_end"].xy_screen
        return (f"<line x1='{x0:.1f}' y1='{y0:.1f}' x2='{x1:.1f}' y2='{y1:.1f}' {stroke} marker-end='url(#{arrow})'/>"
                f"<circle cx='{x0:.1f}' cy='{y0:.1f}' r='{r:.1f}' {stroke}/>")
    if "xy" not in pts:
        return ""
    x, y = pts["xy"].xy_screen
    marks = (f"<circle cx='{x:.1f}' cy='{y:.1f}' r='{r:.1f}' {stroke}/>"
             f"<circle cx='{x:.1f}' cy='{y:.1f}' r='{r / 4:.1f}' fill='{_MARK}'/>")
    if isinstance(action, Scroll):
        dx, dy = {"up": (0, -1), "down": (0, 1), "left": (-1, 0), "right": (1, 0)}[action.direction]
        marks += (f"<line x1='{x:.1f}' y1='{y:.1f}' x2='{x + dx * 4 * r:.1f}' y2='{y + dy * 4 * r:.1f}' {stroke} "
                  f"marker-end='url(#{arrow})'/>")
    return (marks + f"<text x='{x + 1.3 * r:.1f}' y='{y - 1.3 * r:.1f}' font-size='{2 * r:.0f}' fill='{_MARK}' "
            f"stroke='white' stroke-width='{r / 8:.1f}' paint-order='stroke'>{label}</text>")


def _fmt_point(xy: tuple[float, float], digits: int) -> str:
    return f"({xy[0]:.{digits}f}, {xy[1]:.{digits}f})"


def _actions_table(actions: tuple[ActionRecord, ...]) -> str:
    rows = ["<tr><th>action</th><th>points: normalised / model px / screen px / input</th>"
            "<th>executor</th><th>decision</th></tr>"]
    for rec in actions:
        fields = rec.action.model_dump(exclude={"source", "type", "xy", "xy_start", "xy_end"})
        desc = rec.action.type + (" " + json.dumps(fields, ensure_ascii=False) if fields else "")
        pts = "<br>".join(
            f"{_esc(name)}: {_fmt_point(p.xy, 4)} / {_fmt_point(p.xy_model, 1)} / {_fmt_point(p.xy_screen, 1)} / "
            f"{p.xy_input}" for name, p in rec.points.items())
        executor = " ".join(s for s in (rec.exec_status or "", rec.description, rec.exec_detail) if s)
        rows.append(f"<tr><td>{_esc(desc)}</td><td>{pts}</td><td>{_esc(executor)}</td>"
                    f"<td>{_esc(rec.decision or '')}</td></tr>")
    return "<table>" + "".join(rows) + "</table>"


def _timings_table(record: StepRecord) -> str:
    t = record.timings
    cells = [("capture", t.capture_s), ("policy", t.policy_s), ("prefill", t.prefill_s), ("decode", t.decode_s),
             ("parse", t.parse_s), ("execute", t.execute_s), ("wait", t.wait_s)]
    head = "".join(f"<th>{name} s</th>" for name, _ in cells) + "<th>prefill tokens</th><th>KV cache</th>"
    body = "".join(f"<td>{value:.3f}</td>" for _, value in cells)
    body += f"<td>{record.prefill_tokens}</td><td>{record.kv_cache_bytes / 2**20:.1f} MiB</td>"
    return f"<table><tr>{head}</tr><tr>{body}</tr></table>"
