"""An operator that runs one :class:`.jobs.Job`: modal with a status line and Esc, or blocking.

With Blender's UI, ``invoke`` submits the job and stays modal: the status bar shows the job's
stage and progress, Esc cancels it, and the operator ends when the job does. ``execute``
(scripts, ``blender -b``) submits and waits; under ``bpy.app.background`` the runner is
synchronous, so the job has ended when ``submit`` returns.
"""

from __future__ import annotations

import bpy

from . import dependencies
from .jobs import RUNNER, Job

_WAIT_S = 24 * 3600.0


class JobOperator:
    """Mixin for ``bpy.types.Operator`` subclasses; they implement :meth:`make_job`.

    ``make_job`` returns the job, or None after reporting why nothing can run (the operator
    then ends with ``{'CANCELLED'}`` and nothing was changed). Every job stylises, so a missing
    dependency (PyTorch …) is reported first, as one sentence naming the fix.
    """

    _job: Job | None = None
    _timer = None

    def make_job(self, context: bpy.types.Context) -> Job | None:
        raise NotImplementedError

    def _new_job(self, context: bpy.types.Context) -> Job | None:
        missing = dependencies.missing_message()
        if missing:
            self.report({"ERROR"}, missing)
            return None
        return self.make_job(context)

    def execute(self, context: bpy.types.Context) -> set[str]:
        job = self._new_job(context)
        if job is None:
            return {"CANCELLED"}
        RUNNER.submit(job)
        if not job.finished:
            RUNNER.wait_idle(timeout=_WAIT_S)
        return self.job_result(job)

    def invoke(self, context: bpy.types.Context, _event) -> set[str]:
        if RUNNER.synchronous or context.window is None:
            return self.execute(context)
        self._job = self._new_job(context)
        if self._job is None:
            return {"CANCELLED"}
        RUNNER.submit(self._job)
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.2, window=context.window)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context: bpy.types.Context, event) -> set[str]:
        if event.type == "ESC" and event.value == "PRESS":
            self._job.cancel()
        if not self._job.finished:
            if context.workspace is not None:
                context.workspace.status_text_set(f"{self._job.title}: {self._job.stage} "
                                                  f"({self._job.progress:.0%}) — Esc to cancel")
            return {"PASS_THROUGH"}
        context.window_manager.event_timer_remove(self._timer)
        if context.workspace is not None:
            context.workspace.status_text_set(None)
        return self.job_result(self._job)

    def job_result(self, job: Job) -> set[str]:
        """Report how the job ended (its ``on_done`` reported the details)."""
        if job.state == "done":
            return {"FINISHED"}
        self.report({"WARNING" if job.state == "cancelled" else "ERROR"}, job.error or job.state)
        return {"CANCELLED"}
