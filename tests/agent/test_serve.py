"""`python -m agent serve` as its own process (the `tiny_server` fixture: the tiny model saved to a folder, GUI-KV at
20%, N = 3), driven through the OpenAI client: its replies equal a fresh in-process incremental `ChatEngine` with the
same method fed the same conversation, and from the second request of a conversation only the new screenshot and its
turn's text are prefilled (the server reports the count).
"""

from __future__ import annotations

import json
import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from PIL import Image

from actions.coords import ScreenGeometry
from agent.chat import ChatPolicy, GenerationSettings, frame_image, task_transcript
from agent.endpoint import ClientOptions, EndpointClient, EndpointEngine, EndpointError
from agent.screen import Frame
from agent.wire import to_wire

NAME, N, BUDGET, MAX_NEW = "tiny-ui-tars", 3, 20.0, 6
SIZE = (320, 240)  # a screenshot whose model image is 336x252: 12 x 9 = 108 image tokens
IMAGE_PADS, VISION_MARKERS = 108, 2


def _screens(n: int, seed: int = 0) -> list[Image.Image]:
    return [Image.effect_noise(SIZE, 30 + 10 * ((i + seed) % 7)).convert("RGB").rotate(7 * (i + seed))
            for i in range(n)]


def _engine(bundle: Any, method: str = "gui_kv") -> Any:
    from agent.engine import ChatEngine

    return ChatEngine(bundle, method=method, budget=BUDGET, frames=N, context="incremental", max_new_tokens=MAX_NEW)


@pytest.fixture(scope="module")
def bundle(tiny_uitars_dir):
    """The same model directory, loaded in this process."""
    from agent.models.loading import load

    return load(str(tiny_uitars_dir))


@pytest.fixture()
def client(tiny_server) -> EndpointClient:
    return EndpointClient(tiny_server.url, NAME, ClientOptions(timeout_s=120, max_retries=0))


def test_a_live_policy_over_the_endpoint_prefills_only_each_new_screenshot_and_matches_in_process(
        client: EndpointClient, bundle: Any) -> None:
    client.check_model("uitars")
    policy = ChatPolicy(EndpointEngine(client, "uitars", frames=N, max_new_tokens=MAX_NEW),
                        GenerationSettings(max_new_tokens=MAX_NEW))
    policy.start("Open the settings")
    screens = _screens(5)
    geometry = ScreenGeometry.for_screenshot(*SIZE)
    replies = [policy.act(Frame(image=s, geometry=geometry)) for s in screens]
    engine = _engine(bundle)

    # the server's conversation: the first request as sent, then per step the reply given and the new screenshot
    images = [frame_image(Frame(image=s, geometry=geometry)) for s in screens]
    transcript = task_transcript("uitars", policy.settings, "Open the settings", frames=N, mode="stateless")
    transcript.observe(images[0])
    messages, expected = transcript.messages(), []
    for k, image in enumerate(images):
        if k:
            messages += [{"role": "assistant", "content": expected[-1].extra["raw"]},
                         {"role": "user", "content": [{"type": "image", "image": image}]}]
        expected.append(engine.reply(messages))
    assert [r.text for r in replies] == [e.text for e in expected]
    assert [r.prefill_tokens for r in replies] == [e.prefill_tokens for e in expected]
    assert [r.kv_entries_per_layer for r in replies] == [e.kv_entries_per_layer for e in expected]
    assert [r.extra["reused"] for r in replies] == [False, True, True, True, True]
    # from step 2 on: one screenshot's pads and markers, plus the same few tokens of turn text, every step; the
    # closer of the reply before is among them unless the model generated it (then it is in the cache already)
    im_end = bundle.tokenizer.convert_tokens_to_ids("<|im_end|>")
    fed_closer = [int(e.extra["tokens"][-1:] != [im_end]) for e in expected[:-1]]
    text = {r.prefill_tokens - IMAGE_PADS - VISION_MARKERS - c for r, c in zip(replies[1:], fed_closer)}
    assert len(text) == 1 and 0 < min(text) < 32, text
    assert replies[0].prefill_tokens > replies[1].prefill_tokens + 100  # the instruction, once
    assert len({r.kv_entries_per_layer for r in replies}) > 1 and all(r.kv_cache_bytes > 0 for r in replies)


def test_append_only_requests_without_a_key_continue_by_prefix(client: EndpointClient, bundle: Any) -> None:
    screens = _screens(3, seed=3)
    engine = _engine(bundle)
    messages: list[dict[str, Any]] = [{"role": "user", "content": [
        {"type": "image", "image": screens[0]}, {"type": "text", "text": "Where is the menu?"}]}]
    wire: list[dict[str, Any]] = to_wire(messages)
    for k in range(3):
        if k:
            new = {"role": "user", "content": [{"type": "image", "image": screens[k]}]}
            messages += [{"role": "assistant", "content": expected.extra["raw"]}, new]
            wire += [{"role": "assistant", "content": completion.choices[0].message.content}, *to_wire([new])]
        expected = engine.reply(messages)
        completion, _ = client.complete(wire, max_tokens=MAX_NEW)
        ours = completion.model_extra["guikv"]
        assert completion.choices[0].message.content == expected.text
        assert ours["n_prefilled"] == expected.prefill_tokens and ours["match"] == ("prefix" if k else "fresh")
        usage = completion.usage
        assert usage.prompt_tokens - usage.prompt_tokens_details.cached_tokens == expected.prefill_tokens
        assert (usage.prompt_tokens_details.cached_tokens == 0) == (k == 0)  # the first prompt is all new
        assert usage.completion_tokens == expected.extra["n_generated"]


def test_concurrent_requests_are_queued_on_one_model_and_answered_as_alone(client: EndpointClient,
                                                                           bundle: Any) -> None:
    screens = _screens(4, seed=11)
    requests = [[{"role": "user", "content": [{"type": "image", "image": s}, {"type": "text", "text": "Click OK"}]}]
                for s in screens]
    start = threading.Barrier(len(requests))

    def send(k: int) -> str:
        start.wait(timeout=60)
        completion, _ = client.complete(to_wire(requests[k]), max_tokens=MAX_NEW, user=f"concurrent-{k}")
        return completion.choices[0].message.content

    with ThreadPoolExecutor(len(requests)) as pool:
        answers = list(pool.map(send, range(len(requests))))
    expected = []
    for messages in requests:
        engine = _engine(bundle)
        expected.append(engine.reply(messages).text)
    assert answers == expected


def test_models_health_and_refusals(tiny_server, client: EndpointClient) -> None:
    card = client.served_models()[NAME]
    assert (card["family"], card["method"], card["budget"], card["frames"], card["context"]) == (
        "uitars", "gui_kv", BUDGET, N, "incremental")
    with urllib.request.urlopen(tiny_server.url.removesuffix("/v1") + "/health", timeout=30) as response:
        health = json.loads(response.read())
    assert health["status"] == "ok" and health["model"] == NAME and health["waiting"] == 0
    with pytest.raises(EndpointError, match="404.*not served here"):
        EndpointClient(tiny_server.url, "no-such-model").complete([{"role": "user", "content": "hi"}], max_tokens=2)
    with pytest.raises(EndpointError, match="serves 'tiny-ui-tars' as a 'uitars' model.*--family uitars"):
        client.check_model("opencua")
    bad_image = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://x.invalid/a.png"}}]}]
    with pytest.raises(EndpointError, match="400.*data URL"):
        client.complete(bad_image, max_tokens=2)
    with pytest.raises(EndpointError, match="400.*last message must be a user turn"):
        client.complete([{"role": "assistant", "content": "hi"}], max_tokens=2)
