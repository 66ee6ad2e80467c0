"""GUI agents on vision-language models: the live loop, its policies, screens and run records.

Names are re-exported lazily: `import agent` imports nothing else, and the model engine (torch, transformers) is
imported only when one of its names (`ModelPolicy`, `make_policy`, ...) is first used.
"""

from __future__ import annotations

from agent._lazy import lazy_exports

__all__ = [
    "ActionRecord",
    "AgentLoop",
    "CallUserAnswer",
    "ChatEngine",
    "ChatPolicy",
    "ConfigError",
    "ConfirmAnswer",
    "EndpointClient",
    "EndpointEngine",
    "EndpointError",
    "Frame",
    "GenerationSettings",
    "Interaction",
    "LoopConfig",
    "ModelPolicy",
    "MssScreen",
    "Policy",
    "PolicyReply",
    "ReplayScreen",
    "RunConfig",
    "RunResult",
    "RunStatus",
    "Screen",
    "ScriptPolicy",
    "StepRecord",
    "StepStatus",
    "TerminalInteraction",
    "Timings",
    "Trajectory",
    "TranscriptError",
    "build_policy",
    "make_policy",
    "read_result",
    "read_steps",
    "run_live",
    "write_report",
]

_HOMES = {
    "AgentLoop": "agent.loop",
    "LoopConfig": "agent.loop",
    "Policy": "agent.policy",
    "PolicyReply": "agent.policy",
    "Frame": "agent.screen",
    "Screen": "agent.screen",
    "MssScreen": "agent.screen",
    "ReplayScreen": "agent.screen",
    "ActionRecord": "agent.trajectory",
    "RunResult": "agent.trajectory",
    "RunStatus": "agent.trajectory",
    "StepRecord": "agent.trajectory",
    "StepStatus": "agent.trajectory",
    "Timings": "agent.trajectory",
    "Trajectory": "agent.trajectory",
    "read_result": "agent.trajectory",
    "read_steps": "agent.trajectory",
    "Interaction": "agent.interaction",
    "TerminalInteraction": "agent.interaction",
    "ConfirmAnswer": "agent.interaction",
    "CallUserAnswer": "agent.interaction",
    "ConfigError": "agent.live",
    "RunConfig": "agent.live",
    "build_policy": "agent.live",
    "run_live": "agent.live",
    "ScriptPolicy": "agent.models.script",
    "write_report": "agent.report",
    "ChatPolicy": "agent.chat",
    "EndpointClient": "agent.endpoint",
    "EndpointEngine": "agent.endpoint",
    "EndpointError": "agent.endpoint",
    # the model engine: imports torch and transformers
    "ChatEngine": "agent.engine",
    "GenerationSettings": "agent.engine",
    "ModelPolicy": "agent.engine",
    "TranscriptError": "agent.engine",
    "make_policy": "agent.engine",
}


__getattr__, __dir__ = lazy_exports(__name__, _HOMES, __all__)
