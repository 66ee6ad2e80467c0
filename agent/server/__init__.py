"""`python -m agent serve`: the project's engine behind an OpenAI-compatible API, with KV sessions that continue
across the requests of a conversation (`agent.server.sessions`) and the FastAPI app (`agent.server.app`).

Names are re-exported lazily: importing the package imports neither FastAPI nor torch.
"""

from __future__ import annotations

from agent._lazy import lazy_exports

__all__ = ["ModelServer", "ServeConfig", "SessionPool", "build_app", "parse_serve_config", "serve"]

_HOMES = {
    "ModelServer": "agent.server.app",
    "ServeConfig": "agent.server.app",
    "build_app": "agent.server.app",
    "parse_serve_config": "agent.server.app",
    "serve": "agent.server.app",
    "SessionPool": "agent.server.sessions",
}

__getattr__, __dir__ = lazy_exports(__name__, _HOMES, __all__)
