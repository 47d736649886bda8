"""The bench reads py-spy's collapsed stacks into shares that rank the proposed fixes."""

from __future__ import annotations

import pytest
from bench.stacks import parse_collapsed, parse_frame

MAIN = "thread (1): MainThread;run (uvicorn/main.py:1)"
COLLAPSED = "\n".join(
    [
        f"{MAIN};save_turn (threadline/storage/sql/store.py:9);_execute (aiosqlite/core.py:158) 6",
        f"{MAIN};stream (threadline/providers/openai_chat.py:4);"
        "connect_tcp (anyio/_backends/_asyncio.py:2939) 3",
        f"{MAIN} 1",
        "thread (7): Thread-1 (_connection_worker_thread);"
        "_connection_worker_thread (aiosqlite/core.py:59) 50",
    ]
)


def test_only_the_event_loop_thread_is_counted_by_default() -> None:
    profile = parse_collapsed(COLLAPSED)
    assert profile.samples == 10
    assert parse_collapsed(COLLAPSED, thread=None).samples == 60


def test_self_time_is_the_share_of_the_leaf_frame() -> None:
    shares = dict(parse_collapsed(COLLAPSED).self_time(10))
    assert shares["aiosqlite/core.py:_execute"] == pytest.approx(0.6)
    assert shares["uvicorn/main.py:run"] == pytest.approx(0.1)


def test_inclusive_time_counts_a_function_once_per_sample() -> None:
    shares = dict(parse_collapsed(COLLAPSED).inclusive(10, "threadline"))
    assert shares == {
        "threadline/storage/sql/store.py:save_turn": pytest.approx(0.6),
        "threadline/providers/openai_chat.py:stream": pytest.approx(0.3),
    }


def test_library_share_groups_threadline_by_subpackage() -> None:
    shares = dict(parse_collapsed(COLLAPSED).by_package(10))
    assert shares == {
        "aiosqlite": pytest.approx(0.6),
        "anyio": pytest.approx(0.3),
        "uvicorn": pytest.approx(0.1),
    }
    assert parse_frame("serve (threadline/cli/serve.py:25)").package == "threadline.cli"


def test_share_is_the_fraction_of_samples_touching_any_needle() -> None:
    profile = parse_collapsed(COLLAPSED)
    assert profile.share(["connect_tcp"]) == pytest.approx(0.3)
    assert profile.share(["connect_tcp", "aiosqlite/"]) == pytest.approx(0.9)
    assert profile.share(["nothing-like-this"]) == 0.0


def test_native_frames_without_a_line_number_are_named() -> None:
    frame = parse_frame("sem_post (libc.so.6)")
    assert frame.name == "libc.so.6:sem_post"
