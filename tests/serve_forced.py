"""`python tests/serve_forced.py REPLIES.json serve MODEL [flags]`: `python -m agent serve`, whose replies are forced.

Everything is the real server (the CLI, FastAPI, uvicorn, the session pool, the engine, the KV session and its
compression); only the choice of each next token is forced by `forcing.ForcedReplies`, so a random tiny model answers
with the replies in REPLIES.json (a JSON list of strings, each closed by <|im_end|>), one per request, in order.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]  # agent, forcing

import agent.server.app as app  # noqa: E402
from agent.cli import main  # noqa: E402
from forcing import ForcedReplies, encode_replies  # noqa: E402

TEXTS: list[str] = json.loads(Path(sys.argv[1]).read_text())


class ForcedModelServer(app.ModelServer):
    def __init__(self, config: Any, bundle: Any, generate_kwargs: dict[str, Any] | None = None) -> None:
        forcer = ForcedReplies(encode_replies(bundle.tokenizer, TEXTS))
        super().__init__(config, bundle, {"logits_processor": [forcer]})


app.ModelServer = ForcedModelServer  # type: ignore[misc]
raise SystemExit(main(sys.argv[2:]))
