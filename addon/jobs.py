"""One runner for every long operation: compute off the UI thread, Blender data on the main thread.

A :class:`Job` is a list of steps, each marked :data:`MAIN` (touches Blender data: runs on
Blender's main thread, from a ``bpy.app.timers`` callback) or :data:`WORKER` (pure compute:
runs on the runner's single worker thread). Each step receives the job and the previous step's
result. Jobs run in submission order: main steps are taken first in, first out and every job
starts with its earliest step queued, so the worker sees the jobs' compute steps in submission
order too (a stateful engine, such as a coherent video stylizer, sees frames in render order).

* Progress: steps call :meth:`Job.update`; the runner redraws Blender's UI while jobs run, and
  :func:`active_jobs` feeds the progress bars of the add-on's panel.
* Cancel: :meth:`Job.cancel` (the panel's button, Esc in a modal operator, a cancelled render)
  sets a flag; steps check it between units of work (:meth:`Job.check`, or core's progress
  callback :meth:`Job.progress_callback` returning False); either raises core's
  :class:`~core.foundation.errors.Cancelled` and the job ends in state ``"cancelled"``.
* Errors: an exception ends the job; its one-line message is stored and ``on_error`` (a main
  thread callback) reports it. Expected errors are core's :class:`~core.foundation.errors.NSTError`
  (the add-on's own :class:`~core.foundation.errors.SettingsError` among them): their message is
  shown as it is; anything else is a bug, shown with its type and its traceback printed.
* ``blender -b``: with ``bpy.app.background`` there is no event loop to run timers, so
  :meth:`JobRunner.submit` runs every step at once on the calling thread.
* Threads: jobs may be submitted from any thread (render handlers run on the render thread
  when Blender has a UI); the pump timer is registered once, on the main thread, by
  :meth:`JobRunner.start` when the add-on registers.
"""

from __future__ import annotations

import itertools
import queue
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import bpy

from ..core.foundation.errors import Cancelled, NSTError

MAIN = "main"
WORKER = "worker"
_PUMP_INTERVAL_S = 0.1
_IDLE_INTERVAL_S = 0.25


@dataclass
class Job:
    """A long operation made of steps.

    Attributes:
        title: Shown in the UI, e.g. ``"Style Transfer: frame 12"``.
        steps: ``(MAIN or WORKER, function(job, previous result) -> result)`` in order.
        on_done: Main-thread callback with the last step's result.
        on_error: Main-thread callback with the job itself when it failed or was cancelled
            (``job.state`` says which, ``job.error`` holds the message).
        group: Jobs of one group can be cancelled together (e.g. one render).
        state: ``"queued"``, ``"running"``, ``"done"``, ``"failed"`` or ``"cancelled"``.
        progress: Fraction done, 0–1.
        stage: What runs now.
        error: The message of a failed or cancelled job.
    """

    title: str
    steps: list[tuple[str, Callable[["Job", Any], Any]]]
    on_done: Callable[[Any], None] | None = None
    on_error: Callable[["Job"], None] | None = None
    group: str = ""
    state: str = "queued"
    progress: float = 0.0
    stage: str = ""
    error: str | None = None
    started: float | None = None
    id: int = field(default_factory=itertools.count(1).__next__)
    _cancel: threading.Event = field(default_factory=threading.Event, repr=False)
    _next: int = field(default=0, repr=False)
    _value: Any = field(default=None, repr=False)

    @property
    def finished(self) -> bool:
        """Whether the job has ended, in any way."""
        return self.state in ("done", "failed", "cancelled")

    @property
    def cancelled(self) -> bool:
        """Whether cancelling was asked for."""
        return self._cancel.is_set()

    def cancel(self) -> None:
        """Ask the job to stop at its next check; safe from any thread."""
        self._cancel.set()

    def check(self) -> None:
        """Raise core's :class:`~core.foundation.errors.Cancelled` when cancelling was asked for."""
        if self._cancel.is_set():
            raise Cancelled(f"{self.title}: cancelled")

    def update(self, progress: float | None = None, stage: str | None = None) -> None:
        """Record progress (from any thread); the UI picks it up on its next redraw."""
        if progress is not None:
            self.progress = min(max(float(progress), 0.0), 1.0)
        if stage is not None:
            self.stage = stage

    def seconds_left(self, now: float | None = None) -> float | None:
        """Time to the end at the pace so far, or None before there is a pace (under 2 % done)."""
        if self.started is None or self.progress < 0.02 or self.finished:
            return None
        elapsed = (time.monotonic() if now is None else now) - self.started
        return elapsed * (1.0 - self.progress) / self.progress

    def progress_callback(self, event: Any) -> bool:
        """A :data:`core.foundation.progress.ProgressCallback`: records the event, False when cancelled."""
        self.update(event.step / max(event.total, 1), event.stage)
        return not self._cancel.is_set()


def error_message(exc: BaseException) -> str:
    """One line for the user: an expected error's message as it is, anything else with its type."""
    if isinstance(exc, NSTError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class JobRunner:
    """Runs :class:`Job` steps on the right threads; see the module docstring.

    Args:
        synchronous: Run every step at once on the caller's thread; default
            ``bpy.app.background`` (checked at each submit).
    """

    def __init__(self, synchronous: bool | None = None) -> None:
        self._synchronous = synchronous
        self._lock = threading.Lock()
        self._jobs: list[Job] = []
        self._main: queue.SimpleQueue[Job] = queue.SimpleQueue()
        self._work: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._was_busy = False

    @property
    def synchronous(self) -> bool:
        """Whether jobs run inline (background mode) instead of on the worker thread."""
        return bpy.app.background if self._synchronous is None else self._synchronous

    # ---------------------------------------------------------------------------------------
    # Submitting and cancelling
    # ---------------------------------------------------------------------------------------

    def submit(self, job: Job) -> Job:
        """Start a job. Synchronous mode: returns after it ended. Main thread only."""
        with self._lock:
            self._jobs.append(job)
        if self.synchronous:
            while not job.finished:
                self._run_step(job)
            self._forget(job)
            return job
        self._dispatch(job)
        return job

    def call_main(self, function: Callable[[], None], title: str = "main-thread call", *,
                  later: bool = False) -> None:
        """Run ``function()`` on the main thread: now when already there, else at the next pump.

        Safe from any thread (render handlers run on Blender's render thread when it has a UI).
        With ``later`` it always waits for the next pump (not in synchronous mode): for work
        that must not run inside the caller, e.g. removing datablocks from a render handler.
        """
        if self.synchronous or (not later and threading.current_thread() is threading.main_thread()):
            function()
            return
        job = Job(title, [(MAIN, lambda _job, _value: function())])
        with self._lock:
            self._jobs.append(job)
        self._main.put(job)

    def start(self) -> None:
        """Start pumping main-thread steps (add-on register, main thread; nothing in background).

        The timer stays registered while the add-on is enabled, so jobs submitted from other
        threads (the render thread) are picked up without registering timers off the main thread.
        """
        if not bpy.app.background and not bpy.app.timers.is_registered(self._pump):
            bpy.app.timers.register(self._pump, first_interval=_IDLE_INTERVAL_S, persistent=True)

    def cancel(self, group: str | None = None) -> int:
        """Cancel the unfinished jobs (of ``group``, or all); returns how many were asked."""
        with self._lock:
            targets = [j for j in self._jobs if not j.finished and (group is None or j.group == group)]
        for job in targets:
            job.cancel()
        return len(targets)

    def active_jobs(self) -> list[Job]:
        """Jobs not yet finished, oldest first."""
        with self._lock:
            return [j for j in self._jobs if not j.finished]

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Pump main steps here until every job ended (tests and shutdown); main thread only."""
        import time

        deadline = time.monotonic() + timeout
        while self.active_jobs():
            if time.monotonic() > deadline:
                return False
            self._pump_once()
            time.sleep(0.01)
        self._pump_once()
        return True

    def shutdown(self) -> None:
        """Cancel everything and stop the worker thread (add-on unregister)."""
        self.cancel()
        if self._thread is not None:
            self._work.put(None)
            self._thread.join(timeout=5.0)
            self._thread = None
        if bpy.app.timers.is_registered(self._pump):
            bpy.app.timers.unregister(self._pump)

    # ---------------------------------------------------------------------------------------
    # Running
    # ---------------------------------------------------------------------------------------

    def _dispatch(self, job: Job) -> None:
        """Queue the job's next step where it runs."""
        if job.finished:
            self._main.put(job)  # callbacks run on the main thread
            return
        where = job.steps[job._next][0]
        if where == WORKER:
            self._ensure_worker()
            self._work.put(job)
        else:
            self._main.put(job)

    def _run_step(self, job: Job) -> None:
        """Run the job's next step on this thread; on the last one (or a failure) end the job."""
        if job.finished:
            return
        job.state = "running"
        if job.started is None:
            job.started = time.monotonic()
        try:
            job.check()
            _, function = job.steps[job._next]
            job._value = function(job, job._value)
            job._next += 1
            if job._next == len(job.steps):
                job.state = "done"
                job.progress = 1.0
        except Exception as exc:  # noqa: BLE001 - a job's failure is reported, never raised into Blender
            if job.cancelled:  # Job.check, or core's Cancelled when the progress callback said stop
                job.state, job.error = "cancelled", f"{job.title}: cancelled"
            else:
                job.state, job.error = "failed", error_message(exc)
                if not isinstance(exc, NSTError):
                    traceback.print_exc(file=sys.stderr)
        if job.finished and self.synchronous:
            self._finish(job)

    def _finish(self, job: Job) -> None:
        """Call the job's callbacks (main thread)."""
        try:
            if job.state == "done":
                if job.on_done is not None:
                    job.on_done(job._value)
            elif job.on_error is not None:
                job.on_error(job)
        except Exception:  # noqa: BLE001 - a callback failure must not stop the runner
            traceback.print_exc(file=sys.stderr)

    def _forget(self, job: Job) -> None:
        with self._lock:
            if job in self._jobs:
                self._jobs.remove(job)

    def _ensure_worker(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._worker_loop, name="nst-worker", daemon=True)
            self._thread.start()

    def _worker_loop(self) -> None:
        while True:
            job = self._work.get()
            if job is None:
                return
            self._run_step(job)
            self._main.put(job)  # the main thread dispatches its next step (or finishes it)

    def _pump_once(self) -> None:
        """Run queued main steps, dispatch the jobs coming back from the worker.

        Only the entries queued when the pump starts are taken: a job whose next step is again
        a main step (e.g. one render per frame) waits for the next pump, so Blender redraws
        and handles Esc between its steps instead of freezing until all of them ran.
        """
        for _ in range(max(self._main.qsize(), 0)):
            try:
                job = self._main.get_nowait()
            except queue.Empty:
                break
            if job.finished:
                self._finish(job)
                self._forget(job)
                continue
            if job.steps[job._next][0] == MAIN:
                self._run_step(job)
                if job.finished:
                    self._finish(job)
                    self._forget(job)
                    continue
            self._dispatch(job)

    def _pump(self) -> float:
        """Timer callback: runs main steps and keeps the UI's progress display fresh."""
        self._pump_once()
        with self._lock:
            busy = bool(self._jobs)
        if busy or self._was_busy:
            _redraw_ui()
        self._was_busy = busy
        return _PUMP_INTERVAL_S if busy else _IDLE_INTERVAL_S


def redraw_areas(types: tuple[str, ...]) -> None:
    """Tag every area of these types for redraw (main thread)."""
    wm = getattr(bpy.context, "window_manager", None)
    if wm is None:
        return
    for window in wm.windows:
        for area in window.screen.areas:
            if area.type in types:
                area.tag_redraw()


def _redraw_ui() -> None:
    """Tag the areas that show job progress (compositor, image and sequence editors, preferences, status bar)."""
    redraw_areas(("NODE_EDITOR", "IMAGE_EDITOR", "SEQUENCE_EDITOR", "PREFERENCES", "STATUSBAR"))


RUNNER = JobRunner()
"""The add-on's runner, shared by the render handlers and the operators."""


def active_jobs() -> list[Job]:
    """Unfinished jobs of the add-on's runner, oldest first."""
    return RUNNER.active_jobs()


def duration_words(seconds: float) -> str:
    """``"45 s"``, ``"3 min 05 s"``, ``"1 h 02 min"``."""
    seconds = max(int(round(seconds)), 0)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def status_line(active: list[Job], now: float | None = None) -> str:
    """The status bar's words for the running work: the first job, its stage, its time left, the queue."""
    if not active:
        return ""
    job = active[0]
    text = f"Style Transfer · {job.title}" + (f": {job.stage}" if job.stage else "")
    left = job.seconds_left(now)
    if left is not None:
        text += f" · about {duration_words(left)} left"
    if len(active) > 1:
        text += f" · {len(active) - 1} more queued"
    return text


def draw_status_bar(self, _context) -> None:
    """Status bar (``STATUSBAR_HT_header``): the running style transfer, its progress and time left."""
    active = active_jobs()
    if not active:
        return
    row = self.layout.row(align=True)
    row.progress(factor=active[0].progress, type="RING", text="")
    row.label(text=status_line(active))
