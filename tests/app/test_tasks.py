"""The task helper: results, progress and partial results on the GUI thread, cooperative cancel,
the latest request wins, errors to the banner."""

from __future__ import annotations

import threading

import pytest

from app.tasks import TaskFailed, TaskRunner


@pytest.fixture
def banner() -> list[str]:
    return []


@pytest.fixture
def runner(qtbot, banner: list[str]) -> TaskRunner:
    runner = TaskRunner("measuring", banner.append)
    yield runner
    runner.cancel()
    runner.wait(10_000)


def test_result_progress_and_partials_arrive_on_the_gui_thread(qtbot, runner: TaskRunner) -> None:
    seen: list[tuple[str, object, threading.Thread]] = []

    def job(state, count: int) -> int:
        for step in range(count):
            state.progress((step + 1) / count)
            state.partial(step)
        return threading.get_ident()

    def note(kind: str):
        return lambda value: seen.append((kind, value, threading.current_thread()))

    runner.start(job, 3, on_done=note("done"), on_progress=note("progress"), on_partial=note("partial"))
    assert runner.wait(10_000)
    assert [kind for kind, _, _ in seen] == ["progress", "partial"] * 3 + ["done"]
    assert all(thread is threading.main_thread() for _, _, thread in seen)
    assert seen[-1][1] != threading.get_ident(), "the job ran on another thread"
    assert [value for kind, value, _ in seen if kind == "progress"] == pytest.approx([1 / 3, 2 / 3, 1])


def test_the_latest_request_wins_and_the_running_one_is_asked_to_cancel(qtbot, runner) -> None:
    started, release = threading.Event(), threading.Event()
    done: list[str] = []
    finished: list[str] = []

    def slow(state, name: str) -> str:
        started.set()
        release.wait(10)
        return f"{name} cancelled={state.cancelled}"

    first = runner.start(slow, "first", on_done=done.append, on_finished=lambda: finished.append("first"))
    assert started.wait(10)
    runner.start(slow, "second", on_done=done.append, on_finished=lambda: finished.append("second"))
    runner.start(lambda state: "third", on_done=done.append, on_finished=lambda: finished.append("third"))
    assert first.cancelled, "a newer request cancels the running job cooperatively"
    release.set()
    assert runner.wait(10_000)
    assert done == ["third"], "superseded results are dropped"
    assert sorted(finished) == ["first", "second", "third"]


def test_a_runner_that_keeps_the_running_job_delivers_it_and_the_newest(qtbot, banner) -> None:
    runner = TaskRunner("saving", banner.append, cancel_running=False)
    release = threading.Event()
    done: list[str] = []
    runner.start(lambda state: release.wait(10) and "in flight", on_done=done.append)
    for name in ("older", "newest"):
        runner.start(lambda state, name=name: name, on_done=done.append)
    release.set()
    assert runner.wait(10_000)
    assert done == ["in flight", "newest"]


def test_errors_go_to_the_banner_or_to_on_error(qtbot, runner: TaskRunner, banner) -> None:
    def broken(_state):
        raise ZeroDivisionError("division by zero")

    runner.start(broken)
    assert runner.wait(10_000)
    assert banner == ["measuring failed: ZeroDivisionError: division by zero"]
    errors: list[str] = []
    runner.start(lambda state: (_ for _ in ()).throw(TaskFailed("the data file is damaged")),
                 on_error=errors.append)
    assert runner.wait(10_000)
    assert errors == ["the data file is damaged"] and len(banner) == 1


def test_a_failing_callback_is_reported_and_the_runner_goes_on(qtbot, runner, banner) -> None:
    def bad_callback(_value):
        raise KeyError("layer_9")

    runner.start(lambda state: 1, on_done=bad_callback)
    assert runner.wait(10_000)
    assert banner and "KeyError" in banner[0]
    done: list[int] = []
    runner.start(lambda state: 2, on_done=done.append)
    assert runner.wait(10_000) and done == [2]
