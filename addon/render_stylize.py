"""Render handlers: after each rendered frame, stylise what every style node captured.

F12, ``blender -b file.blend -f N`` and ``-a`` all go through the same handlers:

* ``render_init`` (once per render job): a new :class:`RenderSession` (so coherence starts
  afresh and every stylizer is built once per job); every node's settings are checked, so a
  bad setting is one error before anything renders. Under ``-b`` the capture folders are
  synced here too (with a UI this handler runs on the render thread, which must not write
  Blender data; they were synced on the main thread whenever they changed).
* ``render_pre`` (per frame): the frame's old captures are deleted, so a disconnected input is
  seen as missing rather than read from an earlier render.
* ``render_post`` (per frame, after compositing: the captures exist): one job per node — on
  the main thread the capture goes through the scene's view transform to a display-referred
  PNG (:func:`.colour.capture_to_display`); on the worker thread the node's
  :class:`core.jobs.render_frames.RenderFrameStylizer` stylises it and writes ``stylized/frame_####.png``;
  on the main thread the image datablock ``NST <node name>`` shows it.
* ``render_write`` (per frame, after Blender wrote the user's file; not for a plain F12):
  with *Replace Render Output* on, that file is overwritten with the stylised frame in the
  user's own format. Otherwise the user's render output is never touched.
* ``render_cancel``: the render's unfinished jobs are cancelled. ``render_complete``: the
  session ends once its jobs are done.

Under ``blender -b`` the jobs run at once inside the handler (see :mod:`.jobs`), so the
stylised frame exists when Blender moves to the next frame. With the UI the render continues
while frames are stylised in the background, in order.

Errors (no style chosen, missing model, nothing captured, no PyTorch) are reported once per
render job and node: printed as one ``Neural Style Transfer: error: …`` line, shown in the
status bar, and kept in the node's status line.
"""

from __future__ import annotations

import itertools
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import bpy
from bpy.app.handlers import persistent

from ..core.foundation.errors import SettingsError
from . import app_handlers
from . import blender_compat as compat
from . import colour, dependencies, node_files, nodes
from ..core.engine.settings import FrameSettings
from ..core.jobs.render_frames import FrameFiles, RenderFrameStylizer
from .jobs import MAIN, RUNNER, WORKER, Job

REPORT_PREFIX = "Neural Style Transfer: "


@dataclass
class RenderSession:
    """State of one render job (one F12, one ``-f``, one ``-a``).

    Attributes:
        id: Counter, also the job group of the render's jobs.
        failed: Node name → error message; a failed node is skipped for the rest of the job.
        stylizers: Node name → its stylizer (built and used on the worker thread only).
        results: ``(node name, frame)`` → the stylised PNG, once written.
        replace: ``(node name, frame)`` → the user's frame file to overwrite when the result
            is ready (Replace Render Output).
    """

    id: int
    failed: dict[str, str] = field(default_factory=dict)
    stylizers: dict[str, RenderFrameStylizer] = field(default_factory=dict)
    results: dict[tuple[str, int], Path] = field(default_factory=dict)
    replace: dict[tuple[str, int], Path] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def group(self) -> str:
        return f"render-{self.id}"


_session_ids = itertools.count(1)
_session: RenderSession | None = None


def current_session() -> RenderSession | None:
    """The render job in progress (or the last one), for tests and the UI."""
    return _session


# ------------------------------------------------------------------------------------------
# Reporting
# ------------------------------------------------------------------------------------------


def report(message: str, level: str = "ERROR") -> None:
    """Tell the user once: a stderr line always, the status bar when Blender has a UI (any thread)."""
    print(f"{REPORT_PREFIX}{level.lower()}: {message}", file=sys.stderr, flush=True)
    if bpy.app.background:
        return

    def show() -> None:
        try:
            bpy.ops.nst.report("EXEC_DEFAULT", message=message, level=level)
        except (RuntimeError, AttributeError):
            pass  # no window to report in (e.g. while quitting): the stderr line remains

    RUNNER.call_main(show, "report")


def _fail(session: RenderSession, node_name: str, message: str) -> None:
    """Record and report a node's error once per render job (any thread)."""
    with session.lock:
        if node_name in session.failed:
            return
        session.failed[node_name] = message
    report(message)
    set_status(node_name, f"Error: {message}")


def set_status(node_name: str, text: str) -> None:
    """Write a node's status line in every scene that has it (on the main thread, from any thread)."""

    def write() -> None:
        for scene in bpy.data.scenes:
            for node in nodes.stylize_nodes(scene):
                if node.name == node_name and node.status != text:
                    node.status = text

    RUNNER.call_main(write, "status")


# ------------------------------------------------------------------------------------------
# Checks
# ------------------------------------------------------------------------------------------


def check_node(scene: bpy.types.Scene, node: bpy.types.Node) -> FrameSettings:
    """The node's settings, or an error saying what to fix.

    Raises:
        SettingsError: Bad settings, nothing to capture from, no PyTorch, a Replace Render
            Output that cannot work.
    """
    settings = node.node_settings(bpy.context)
    settings.validate()
    image_in = node.inputs.get("Image")
    if image_in is None or not image_in.is_linked:
        raise SettingsError(f"node '{node.name}': its Image input is not connected; connect the image to stylise")
    if not scene.render.use_compositing:
        raise SettingsError(f"node '{node.name}': compositing is off (Output Properties > Post Processing > "
                            "Compositing), so the node never sees the render")
    if node.replace_output:
        fmt = scene.render.image_settings.file_format
        media = compat.media_type(scene.render.image_settings)
        if media == "VIDEO":
            raise SettingsError(f"node '{node.name}': Replace Render Output needs an image sequence output, "
                                f"not a movie ({fmt})")
        if media == "MULTI_LAYER_IMAGE":
            raise SettingsError(f"node '{node.name}': Replace Render Output would drop the passes of the "
                                "multilayer EXR output; choose OpenEXR or PNG, or leave it off")
    missing = dependencies.missing_message()
    if missing:
        raise SettingsError(missing)
    return settings


# ------------------------------------------------------------------------------------------
# Handlers
# ------------------------------------------------------------------------------------------


@persistent
def on_render_init(scene: bpy.types.Scene, *_args) -> None:
    """A render job starts: new session, synced capture folders, settings checked once."""
    global _session
    _session = session = RenderSession(next(_session_ids))
    colour.render_started()
    if threading.current_thread() is threading.main_thread():
        # `blender -b`: safe to write data here. With a UI this runs on the render thread, and the
        # capture folders were synced on the main thread when they last changed (nodes.sync_node).
        nodes.sync_all(scene)
        # Frames composite with the render itself (a stylised frame of an earlier render routed in
        # would be composited instead); the stylised frames reach the files through Replace.
        for node in nodes.stylize_nodes(scene):
            nodes.route_output(node, None)
    for node in nodes.stylize_nodes(scene):
        try:
            check_node(scene, node)
        except SettingsError as exc:
            _fail(session, node.name, str(exc))
            continue
        if node.status.startswith("Error"):
            set_status(node.name, "")
        if node.coherence and scene.render.use_motion_blur:
            report(f"node '{node.name}': motion blur is on, which empties the Vector pass; coherence uses "
                   "optical flow estimated from the frames instead", "WARNING")


def replaces_output(node: bpy.types.Node) -> bool:
    """Whether the frames Blender writes are replaced by the node's stylised ones (see the node's options)."""
    return node.replace_output or (node.auto_replace and nodes.feeds_output(node))


def _rendering() -> bool:
    """A render job is running (its own compositing must not see a half-updated tree)."""
    is_job_running = getattr(bpy.app, "is_job_running", None)
    return bool(is_job_running and is_job_running("RENDER"))


def show_in_tree(scene: bpy.types.Scene, node_name: str, image: bpy.types.Image, frame: int) -> None:
    """Route a node's stylised ``frame`` to its output when it is the frame on screen (main thread, UI).

    Blender's compositor then runs again on the cached render result, so the render window, the
    backdrop, the Viewer and the nodes after this one show the stylised current frame. With the
    UI the routing stays until the next stylised frame replaces it, so a new render composites
    the previous stylised image until its own is ready; where that could reach a written file (a
    node wired to the output with *Write Stylised When Wired* off) the result is not routed.
    """
    if frame != scene.frame_current:
        return
    for node in nodes.stylize_nodes(scene):
        if node.name == node_name and (replaces_output(node) or not nodes.feeds_output(node)):
            nodes.route_output(node, image)


def _live_nodes(scene: bpy.types.Scene) -> tuple[RenderSession | None, list]:
    """The render session and the scene's Style Transfer nodes that have not failed in it (none without one)."""
    session = _session
    if session is None:
        return None, []
    return session, [node for node in nodes.stylize_nodes(scene) if node.name not in session.failed]


@persistent
def on_render_pre(scene: bpy.types.Scene, *_args) -> None:
    """Before a frame renders: remove its captures from earlier renders."""
    for node in _live_nodes(scene)[1]:
        nodes.node_folders(scene, node).remove_captures(scene.frame_current, node.MASKS)


@persistent
def on_render_post(scene: bpy.types.Scene, *_args) -> None:
    """A frame was rendered and composited: stylise each node's capture."""
    session, live = _live_nodes(scene)
    frame = scene.frame_current
    for node in live:
        try:
            settings = check_node(scene, node)
        except SettingsError as exc:
            _fail(session, node.name, str(exc))
            continue
        folders = nodes.node_folders(scene, node)
        capture = folders.captured(node_files.IMAGE, frame)
        if not capture.is_file():
            _fail(session, node.name, f"node '{node.name}': nothing was captured from its Image input for frame "
                                      f"{frame} (expected {capture}); is the node connected to the image and is "
                                      "compositing on?")
            continue
        files = folders.frame_files(frame, coherent=settings.coherent, masks=settings.masks,
                                    motion_blur=scene.render.use_motion_blur)
        RUNNER.submit(_frame_job(scene.name, node.name, settings, capture, files, session))


@persistent
def on_render_write(scene: bpy.types.Scene, *_args) -> None:
    """Blender wrote the frame's file: overwrite it where Replace Render Output is on."""
    session, live = _live_nodes(scene)
    frame = scene.frame_current
    target = None
    for node in live:
        if not replaces_output(node):
            continue
        target = target or written_output(scene, frame)
        if target is None:
            _fail(session, node.name, f"node '{node.name}': Replace Render Output: cannot find the file Blender "
                                      f"wrote for frame {frame}")
            continue
        key = (node.name, frame)
        with session.lock:
            ready = session.results.get(key)
            if ready is None:
                session.replace[key] = target  # the frame's job replaces it when it finishes
        if ready is not None:
            _replace_output(scene.name, node.name, ready, target, session)


def written_output(scene: bpy.types.Scene, frame: int) -> Path | None:
    """The file Blender just wrote for ``frame``: an animation frame's path, or a still's.

    An animation (``-a``, ``-f``) substitutes the frame number (``#`` or appended digits); a
    still render saved with ``write_still`` uses the output path as it is. The newer existing
    file of the two is the one just written.
    """
    animation = Path(scene.render.frame_path(frame=frame))
    still = Path(bpy.path.abspath(scene.render.filepath))
    if scene.render.use_file_extension and animation.suffix and still.suffix.lower() != animation.suffix.lower():
        still = still.with_name(still.name + animation.suffix)
    found = [p for p in (animation, still) if p.is_file()]
    return max(found, key=lambda p: p.stat().st_mtime_ns) if found else None


@persistent
def on_render_cancel(_scene: bpy.types.Scene, *_args) -> None:
    """The render was cancelled (Esc): cancel its unfinished stylisation jobs."""
    if _session is not None:
        RUNNER.cancel(_session.group)
    _render_ended()


@persistent
def on_render_complete(_scene: bpy.types.Scene, *_args) -> None:
    """The render job ended; in background mode every frame is already stylised."""
    _render_ended()


def _render_ended() -> None:
    """Let the colour pipeline remove its helper datablocks, never inside a render handler.

    Removing datablocks in a render handler crashed Blender 5.2. With the UI the removal is
    queued for the main thread (the job runner's pump, after the handler has returned); under
    ``-b`` (the runner is synchronous, so it would run here) they stay until the process ends.
    """
    colour.render_ended()
    if not bpy.app.background:
        RUNNER.call_main(colour.remove_helpers, "colour cleanup", later=True)
        RUNNER.call_main(_show_current_frames, "show stylised frames", later=True)


def _show_current_frames() -> None:
    """After a render with the UI: route each node's stylised current frame to its output, if it exists.

    Frames stylised while an animation was still rendering were not routed (the render's own
    compositing must not change under it); the frame on screen is routed now.
    """
    for scene in bpy.data.scenes:
        for node in nodes.stylize_nodes(scene):
            folders = nodes.node_folders(scene, node)
            result = folders.stylized(scene.frame_current)
            if result.is_file() and folders.is_stylized(scene.frame_current):
                nodes.route_output(node, colour.load_result(scene, result, f"NST {node.name}"))


HANDLERS = (
    ("render_init", on_render_init),
    ("render_pre", on_render_pre),
    ("render_post", on_render_post),
    ("render_write", on_render_write),
    ("render_cancel", on_render_cancel),
    ("render_complete", on_render_complete),
)


def add_handlers() -> None:
    """Install the render handlers (add-on register)."""
    app_handlers.install(HANDLERS)


def remove_handlers() -> None:
    """Remove the render handlers (add-on unregister)."""
    app_handlers.uninstall(HANDLERS)


# ------------------------------------------------------------------------------------------
# The per-frame job
# ------------------------------------------------------------------------------------------


def _scene(name: str) -> bpy.types.Scene:
    scene = bpy.data.scenes.get(name)
    if scene is None:
        raise SettingsError(f"scene '{name}' no longer exists")
    return scene


def _stylizer(session: RenderSession, settings: FrameSettings) -> RenderFrameStylizer:
    """The node's stylizer of this render job, built on first use (worker thread)."""
    stylizer = session.stylizers.get(settings.node)
    if stylizer is None:
        stylizer = RenderFrameStylizer(settings)
        session.stylizers[settings.node] = stylizer
    return stylizer


def _frame_job(scene_name: str, node_name: str, settings: FrameSettings, capture: Path, files: FrameFiles,
               session: RenderSession) -> Job:
    def to_display(job: Job, _value) -> None:
        job.update(0.05, "view transform")
        colour.capture_to_display(_scene(scene_name), capture, files.display_input)

    def stylise(job: Job, _value):
        job.update(0.1, "stylising")
        return _stylizer(session, settings).process(files, progress=job.progress_callback)

    def show(job: Job, outcome) -> None:
        scene = _scene(scene_name)
        image = colour.load_result(scene, outcome.output, f"NST {node_name}")
        if not bpy.app.background and not _rendering():
            show_in_tree(scene, node_name, image, files.frame)
        motion = f", motion from {outcome.motion}" if outcome.motion else ""
        set_status(node_name, f"Frame {files.frame}: {outcome.seconds:.2f} s{motion}")
        with session.lock:
            session.results[(node_name, files.frame)] = outcome.output
            target = session.replace.pop((node_name, files.frame), None)
        if target is not None:
            _replace_output(scene_name, node_name, outcome.output, target, session)

    def failed(job: Job) -> None:
        if job.state == "cancelled":
            set_status(node_name, f"Frame {files.frame}: cancelled")
            return
        message = job.error or "failed"
        _fail(session, node_name, message if node_name in message else f"node '{node_name}': {message}")

    return Job(title=f"{node_name}: frame {files.frame}",
               steps=[(MAIN, to_display), (WORKER, stylise), (MAIN, show)],
               on_error=failed, group=session.group)


def _replace_output(scene_name: str, node_name: str, result: Path, target: Path, session: RenderSession) -> None:
    """Overwrite the user's frame file with the stylised frame (main thread)."""
    try:
        scene = _scene(scene_name)
        image = bpy.data.images.get(f"NST {node_name}")
        if image is None or Path(bpy.path.abspath(image.filepath)) != result:
            image = colour.load_result(scene, result, f"NST {node_name}")
        colour.write_like_render(scene, image, target)
    except (OSError, RuntimeError, SettingsError) as exc:
        _fail(session, node_name, f"node '{node_name}': could not replace {target}: {exc}")
