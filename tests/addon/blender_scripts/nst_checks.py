"""Blender-side checks of the compositor nodes and render handlers, one mode per run.

Run with the Python that has PyPI ``bpy`` installed::

    python nst_checks.py MODE --repo REPO --user-resources EMPTY_DIR --out OUT [--model DIR] [--blend FILE]

Modes: ``register`` (round trip twice, job runner), ``without_torch``, ``save``, ``reload_still``,
``coherence``, ``threaded``, ``gatys``, ``bad``, ``replace``, ``colour``, ``fusion``, ``zip`` (``--repo`` is then the
unpacked extension zip, copied into the extension repository rather than linked).

Prints one line ``NST_RESULT {json}``; exits 0 only when every check passed; ends with
``os._exit`` because ``bpy`` can hang at interpreter exit.
"""

import os
import shutil
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nst_harness as h  # noqa: E402

NODE_CLASSES = ("NST_CompositorNodeStyleTransfer", "NST_CompositorNodeStyleBankFusion", "NST_CompositorNodeAnalogy")
ADDON_MODULES = ("preferences", "properties", "nodes", "operators", "ui")
EXPECTED_CLASSES = {"NST_AP_preferences", "NST_PG_settings", *NODE_CLASSES, "NST_OT_report", "NST_OT_cancel_jobs",
                    "NST_OT_restylize", "NST_OT_install_dependencies", "NST_PT_compositor"}


def _import(name):
    import importlib

    return importlib.import_module(f"{h.MODULE}.{name}")


def _render_f(bpy, scene, frame):
    """What `blender -b file.blend -f FRAME` does: an animation render of that one frame."""
    start, end = scene.frame_start, scene.frame_end
    scene.frame_start = scene.frame_end = frame
    try:
        return _render(bpy, animation=True)
    finally:
        scene.frame_start, scene.frame_end = start, end


def _render(bpy, *, animation=False, write_still=False):
    started = time.perf_counter()
    if animation:
        bpy.ops.render.render(animation=True)
    else:
        bpy.ops.render.render(write_still=write_still)
    return time.perf_counter() - started


def _files(folder):
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def _setup(args, *, frames=1, size=(64, 48)):
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    h.enable_extension(args.repo)
    if args.model:
        h.preferences().model_folder = args.model
    h.preferences().device = "CPU"
    scene = h.build_scene(frames=frames, size=size)
    scene.nst.output_folder = os.path.join(args.out, "nst")
    scene.render.filepath = os.path.join(args.out, "render", "frame_####")
    h.compat().set_file_format(scene.render.image_settings, "PNG")
    return bpy, scene


# ------------------------------------------------------------------------------------------


def check_register(args, checks):
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    for attempt in (1, 2):
        h.enable_extension(args.repo)
        classes = [cls for name in ADDON_MODULES for cls in _import(f"addon.{name}").CLASSES]
        registered = {cls.__name__ for cls in classes if cls.is_registered}
        checks[f"registered_{attempt}"] = [registered == EXPECTED_CLASSES, sorted(registered)]
        render = _import("addon.render_stylize")
        installed = [name for name, fn in render.HANDLERS if fn in getattr(bpy.app.handlers, name)]
        checks[f"handlers_{attempt}"] = [len(installed) == len(render.HANDLERS), installed]
        scene = bpy.context.scene
        tree, node, _layers, _composite = h.add_style_node(scene)
        fusion = tree.nodes.new("NST_CompositorNodeStyleBankFusion")
        inputs = [s.name for s in fusion.inputs]
        checks[f"nodes_{attempt}"] = [
            node.bl_idname == NODE_CLASSES[0] and [s.name for s in node.inputs] == ["Image", "Vector", "Depth"]
            and inputs == ["Image", "Mask 1", "Mask 2", "Mask 3", "Mask 4", "Vector", "Depth"]
            and scene.view_layers[0].use_pass_vector and scene.view_layers[0].use_pass_z,
            inputs]
        capture = next(n for n in node.node_tree.nodes if n.bl_idname == "CompositorNodeOutputFile")
        folder = h.compat().file_output_directory(capture)
        checks[f"capture_path_{attempt}"] = [
            folder.rstrip(os.sep).endswith(os.path.join("Style_Transfer", "capture"))
            and capture.format.file_format == "OPEN_EXR"
            and h.compat().file_output_names(capture) == ["image_", "vector_", "depth_"],
            [folder, h.compat().file_output_names(capture)]]
        copy = tree.nodes.new(NODE_CLASSES[0])
        checks[f"own_group_{attempt}"] = [copy.node_tree != node.node_tree, copy.node_tree.name]
        for n in list(tree.nodes):
            tree.nodes.remove(n)

        errors = h.disable_extension()
        left = [cls.__name__ for cls in classes if cls.is_registered]
        handlers_left = [name for name, fn in render.HANDLERS if fn in getattr(bpy.app.handlers, name)]
        checks[f"unregistered_{attempt}"] = [
            not errors and not left and not handlers_left and not hasattr(bpy.types.Scene, "nst"),
            {"errors": [repr(e) for e in errors], "classes": left, "handlers": handlers_left}]


def check_jobs(args, checks):
    """The job runner: worker steps off the main thread, main steps on it, order, cancel, errors."""
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    h.enable_extension(args.repo)
    jobs = _import("addon.jobs")
    runner = jobs.JobRunner(synchronous=False)
    main_thread = threading.main_thread()
    seen = []

    def step(where):
        def function(job, value):
            seen.append((job.title, where, threading.current_thread() is main_thread))
            job.update(0.5, where)
            return (value or 0) + 1
        return function

    done, failed = [], []
    for i in range(3):
        runner.submit(jobs.Job(f"job{i}", [(jobs.MAIN, step("main")), (jobs.WORKER, step("worker")),
                                         (jobs.MAIN, step("main2"))],
                               on_done=done.append, on_error=lambda job: failed.append(job.state)))
    idle = runner.wait_idle(timeout=20)
    order = [title for title, where, _ in seen if where == "worker"]
    checks["jobs_threads"] = [
        idle and all(on_main == (where != "worker") for _t, where, on_main in seen) and done == [3, 3, 3],
        seen]
    checks["jobs_order"] = [order == ["job0", "job1", "job2"], order]

    gate = threading.Event()

    def slow(job, _value):
        gate.wait(5)
        job.check()
        return 1

    cancelled = []
    job = runner.submit(jobs.Job("slow", [(jobs.WORKER, slow), (jobs.MAIN, step("after"))],
                                 on_error=lambda j: cancelled.append(j.state)))
    runner.cancel()
    gate.set()
    runner.wait_idle(timeout=20)
    checks["jobs_cancel"] = [job.state == "cancelled" and cancelled == ["cancelled"]
                             and not any(w == "after" for _t, w, _m in seen), [job.state, cancelled]]

    def boom(_job, _value):
        raise ValueError("broken step")

    errors = []
    bad = runner.submit(jobs.Job("bad", [(jobs.WORKER, boom)], on_error=lambda j: errors.append(j.error)))
    runner.wait_idle(timeout=20)
    checks["jobs_error"] = [bad.state == "failed" and errors == ["ValueError: broken step"], errors]

    sync = jobs.JobRunner(synchronous=True)
    ran = sync.submit(jobs.Job("sync", [(jobs.MAIN, step("s1")), (jobs.WORKER, step("s2"))]))
    checks["jobs_synchronous"] = [ran.state == "done" and all(m for t, _w, m in seen if t == "sync"),
                                  [s for s in seen if s[0] == "sync"]]
    checks["background_is_synchronous"] = [jobs.RUNNER.synchronous == bpy.app.background, bpy.app.background]
    # The status bar: the running job, its stage, its time left at the pace so far, the queue.
    frame = jobs.Job("frame 3", [])
    frame.started, frame.progress, frame.stage = 100.0, 0.25, "stylising"
    line = jobs.status_line([frame, jobs.Job("frame 4", [])], now=130.0)
    checks["status_line"] = [line == "Style Transfer · frame 3: stylising · about 1 min 30 s left · 1 more queued",
                             line]
    checks["status_bar"] = [jobs.draw_status_bar in bpy.types.STATUSBAR_HT_header._dyn_ui_initialize(), None]
    runner.shutdown()


def check_without_torch(args, checks):
    bpy, scene = _setup(args)
    deps = _import("addon.dependencies")
    checks["torch_missing"] = [deps.missing_modules() == ("torch",) or "torch" in deps.missing_modules(),
                               deps.missing_modules()]
    _tree, node, _layers, _composite = h.add_style_node(scene)
    node.style = "a"
    _render_f(bpy, scene, 1)
    render_file = os.path.join(args.out, "render", "frame_0001.png")
    checks["render_output_written"] = [os.path.isfile(render_file), _files(os.path.dirname(render_file))]
    checks["node_status"] = [node.status.startswith("Error") and "PyTorch" in node.status, node.status]
    checks["torch_still_blocked"] = [sys.modules.get("torch", 0) is None, repr(sys.modules.get("torch", 0))]
    # Installing needs Blender's online access, off here: one clear error, nothing downloaded.
    try:
        bpy.ops.nst.install_dependencies(build="CPU")
        refused = None
    except RuntimeError as exc:
        refused = str(exc)
    checks["install_needs_online_access"] = [
        not bpy.app.online_access and refused is not None and "Online access is off" in refused, refused]


def check_save(args, checks):
    bpy, scene = _setup(args)
    tree, node, layers, _composite = h.add_style_node(scene)
    node.name = "Paint"
    node.folder = "Paint"
    node.style = "b"
    node.strength = 0.5
    node.coherence = False
    node.keep = 0.6
    node.size = 32
    node.preserve_color = "LUMINANCE"
    fusion = tree.nodes.new("NST_CompositorNodeStyleBankFusion")
    fusion.style_count = 3
    fusion.style_1, fusion.style_2, fusion.style_3 = "a", "b", "a"
    fusion.weight_2 = 0.25
    fusion.use_masks = True
    fusion.mute = True
    tree.links.new(layers.outputs["Image"], fusion.inputs["Image"])
    scene.nst.output_folder = "//nst/"
    bpy.ops.wm.save_as_mainfile(filepath=args.blend)
    checks["saved"] = [os.path.isfile(args.blend), args.blend]


def check_reload_still(args, checks):
    import bpy

    h.reopen(args)
    scene = bpy.context.scene
    tree = h.compat().compositor_tree(scene)
    node, fusion = tree.nodes.get("Paint"), tree.nodes.get("StyleBank Fusion")
    got = None if node is None else [node.bl_idname, node.style, round(node.strength, 3), node.coherence,
                                     round(node.keep, 3), node.size, node.preserve_color, node.inputs["Image"].is_linked]
    checks["node_settings"] = [got == [NODE_CLASSES[0], "b", 0.5, False, 0.6, 32, "LUMINANCE", True], got]
    got = None if fusion is None else [fusion.bl_idname, fusion.style_count, fusion.style_1, fusion.style_2,
                                       fusion.style_3, round(fusion.weight_2, 3), fusion.use_masks, fusion.mute]
    checks["fusion_settings"] = [got == [NODE_CLASSES[1], 3, "a", "b", "a", 0.25, True, True], got]
    blend_dir = os.path.dirname(bpy.data.filepath)
    capture = next(n for n in node.node_tree.nodes if n.bl_idname == "CompositorNodeOutputFile")
    expected = os.path.join(blend_dir, "nst", "Paint", "capture")
    folder = h.compat().file_output_directory(capture)
    checks["capture_next_to_blend"] = [folder.rstrip(os.sep) == expected, folder]

    scene.render.filepath = os.path.join(args.out, "render", "still_")
    node.auto_replace = False  # keep Blender's own file of the render: the network's input is compared with it
    seconds = _render_f(bpy, scene, 2)
    stylized = os.path.join(blend_dir, "nst", "Paint", "stylized", "frame_0002.png")
    render_file = os.path.join(args.out, "render", "still_0002.png")
    display = os.path.join(blend_dir, "nst", "Paint", "input", "frame_0002.png")
    image = bpy.data.images.get("NST Paint")
    checks["still_written"] = [os.path.isfile(stylized) and os.path.isfile(render_file),
                               {"stylized": stylized, "render": _files(os.path.dirname(render_file)),
                                "seconds": seconds}]
    checks["image_datablock"] = [
        image is not None and os.path.realpath(bpy.path.abspath(image.filepath)) == os.path.realpath(stylized)
        and image.size[:] == (64, 48),
        None if image is None else [image.filepath, image.size[:], image.colorspace_settings.name]]
    checks["status"] = [node.status.startswith("Frame 2:"), node.status]
    checks["paths"] = [True, {"stylized": stylized, "render": render_file, "display": display}]


def check_coherence(args, checks):
    bpy, scene = _setup(args, frames=6)
    _tree, node, _layers, _composite = h.add_style_node(scene)
    node.style = "a"
    results = {}
    for coherent in (False, True):
        label = "coherent" if coherent else "per_frame"
        node.coherence = coherent
        scene.nst.output_folder = os.path.join(args.out, label)
        seconds = _render(bpy, animation=True)
        root = os.path.join(args.out, label, "Style_Transfer")
        results[label] = {"root": root, "seconds": seconds, "stylized": _files(os.path.join(root, "stylized")),
                          "status": node.status}
    checks["frames"] = [all(len(r["stylized"]) == 6 for r in results.values()), results]
    checks["vectors_used"] = [results["coherent"]["status"].endswith("motion from vectors"),
                              results["coherent"]["status"]]
    checks["render_output"] = [_files(os.path.join(args.out, "render")) == [f"frame_{i:04d}.png" for i in range(1, 7)],
                               _files(os.path.join(args.out, "render"))]


def check_threaded(args, checks):
    """The job runner as with Blender's UI: stylisation on the worker thread, results on the main one."""
    bpy, scene = _setup(args, frames=3)
    jobs = _import("addon.jobs")
    jobs.RUNNER._synchronous = False
    _tree, node, _layers, _composite = h.add_style_node(scene)
    node.style = "a"
    seconds = _render(bpy, animation=True)
    pending = len(jobs.RUNNER.active_jobs())
    idle = jobs.RUNNER.wait_idle(timeout=60)
    stylized = _files(os.path.join(args.out, "nst", "Style_Transfer", "stylized"))
    checks["frames"] = [idle and stylized == ["frame_0001.png", "frame_0002.png", "frame_0003.png"],
                        {"stylized": stylized, "pending_after_render": pending, "render_seconds": seconds}]
    image = bpy.data.images.get("NST Style Transfer")
    checks["image"] = [image is not None and image.filepath.endswith("frame_0003.png"),
                       None if image is None else image.filepath]
    checks["status"] = [node.status.startswith("Frame 3:") and node.status.endswith("vectors"), node.status]

    # Stylise the captured frames again with another style, without rendering (sidebar button).
    folder = os.path.join(args.out, "nst", "Style_Transfer", "stylized")
    before = {f: open(os.path.join(folder, f), "rb").read() for f in stylized}
    node.style = "b"
    node.id_data.nodes.active = node
    result = bpy.ops.nst.restylize(all_frames=True)
    changed = [f for f in stylized if open(os.path.join(folder, f), "rb").read() != before[f]]
    checks["restylize"] = [result == {"FINISHED"} and changed == stylized, {"result": list(result), "changed": changed}]
    jobs.RUNNER.shutdown()


def check_gatys(args, checks):
    """The Gatys method through the node: a still (-f 1) then two coherent frames (-a)."""
    bpy, scene = _setup(args, frames=2)
    _tree, node, _layers, _composite = h.add_style_node(scene)
    node.method = "GATYS"
    node.style_image = os.path.join(args.out, "style.png")
    node.iterations = 5  # 3 L-BFGS steps can stall on a 5e-5 different render (seen on bpy 5.0: 0.001 change)
    seconds = _render(bpy, animation=True)
    stylized = _files(os.path.join(args.out, "nst", "Style_Transfer", "stylized"))
    checks["frames"] = [stylized == ["frame_0001.png", "frame_0002.png"],
                        {"stylized": stylized, "seconds": seconds, "status": node.status}]
    checks["status"] = [node.status.startswith("Frame 2:") and node.status.endswith("vectors"), node.status]
    checks["paths"] = [True, {"root": os.path.join(args.out, "nst", "Style_Transfer")}]


def check_analogy(args, checks):
    """The Analogy node: two coherent frames (-a) with a reference image, at 96 px."""
    bpy, scene = _setup(args, frames=2)
    _tree, node, _layers, _composite = h.add_style_node(scene, idname="NST_CompositorNodeAnalogy")
    node.reference_image = os.path.join(args.out, "style.png")
    node.size = 96
    seconds = _render(bpy, animation=True)
    root = os.path.join(args.out, "nst", node.folder)
    stylized = _files(os.path.join(root, "stylized"))
    checks["frames"] = [stylized == ["frame_0001.png", "frame_0002.png"],
                        {"stylized": stylized, "seconds": seconds, "status": node.status}]
    checks["status"] = [node.status.startswith("Frame 2:"), node.status]
    checks["paths"] = [True, {"root": root}]


def check_bad(args, checks):
    bpy, scene = _setup(args)
    tree, node, layers, composite = h.add_style_node(scene)
    node.mute = True
    render_dir = os.path.join(args.out, "render")
    reference = os.path.join(args.out, "reference.png")
    _render_f(bpy, scene, 1)
    shutil.copy(os.path.join(render_dir, "frame_0001.png"), reference)
    node.mute = False
    def unconnect():
        # The user forgot to connect the node: Composite takes the render directly.
        node.style = "a"
        tree.links.remove(node.inputs["Image"].links[0])
        tree.links.new(layers.outputs["Image"], h.output_input(composite))

    cases = {
        # An empty style means the model's default: "no style" is a model without styles.
        "no_style": lambda: (setattr(node, "style", ""),
                             setattr(h.preferences(), "model_folder", os.path.join(args.out, "no_model"))),
        "missing_model": lambda: (setattr(node, "style", "a"),
                                  setattr(h.preferences(), "model_folder", os.path.join(args.out, "no_model"))),
        "unknown_style": lambda: (setattr(h.preferences(), "model_folder", args.model),
                                  setattr(node, "style", "no_such_style")),
        "unconnected": unconnect,
    }
    renders = {}
    for name, make_bad in cases.items():
        make_bad()
        os.remove(os.path.join(render_dir, "frame_0001.png"))
        print(f"NST_CASE {name}", file=sys.stderr, flush=True)
        _render_f(bpy, scene, 1)
        print(f"NST_CASE_END {name}", file=sys.stderr, flush=True)
        checks[f"{name}_status"] = [node.status.startswith("Error"), node.status]
        written = os.path.join(render_dir, "frame_0001.png")
        checks[f"{name}_render_written"] = [os.path.isfile(written), _files(render_dir)]
        renders[name] = os.path.join(args.out, f"render_{name}.png")
        shutil.copy(written, renders[name])
    checks["paths"] = [True, {"reference": reference, "renders": renders,
                              "stylized_dir": os.path.join(args.out, "nst", "Style_Transfer", "stylized")}]


def check_replace(args, checks):
    bpy, scene = _setup(args, frames=2)
    _tree, node, _layers, _composite = h.add_style_node(scene)
    node.style = "a"
    node.replace_output = True
    out = {}
    for fmt, ext in (("PNG", "png"), ("OPEN_EXR", "exr")):
        h.compat().set_file_format(scene.render.image_settings, fmt)
        scene.render.filepath = os.path.join(args.out, f"render_{ext}", "frame_####")
        scene.nst.output_folder = os.path.join(args.out, f"nst_{ext}")
        _render(bpy, animation=True)
        out[ext] = {"render": [os.path.join(args.out, f"render_{ext}", f) for f in
                               _files(os.path.join(args.out, f"render_{ext}"))],
                    "stylized": os.path.join(args.out, f"nst_{ext}", "Style_Transfer", "stylized"),
                    "status": node.status}
    checks["replaced"] = [all(len(v["render"]) == 2 for v in out.values()), out]
    # The view transform of the scene, to compare the EXR through Blender's own display conversion.
    colour = _import("addon.colour")
    checks["view"] = [True, {"view": scene.view_settings.view_transform,
                             "colorspace": colour.display_colorspace(scene)}]
    exr = out["exr"]["render"][0]
    image = bpy.data.images.load(exr)
    png = os.path.join(args.out, "exr_through_view.png")
    with colour._display_scene(scene, depth="8") as helper:
        image.save_render(png, scene=helper)
    checks["exr_view_png"] = [os.path.isfile(png), png]


def check_routing(args, checks):
    """The node's output during a render (the render itself) and after it (the stylised frame); auto replace."""
    bpy, scene = _setup(args, frames=2)
    tree, node, _layers, composite = h.add_style_node(scene)
    node.style = "a"
    nodes = _import("addon.nodes")
    group_out = next(n for n in node.node_tree.nodes if n.bl_idname == "NodeGroupOutput")

    def source():
        return group_out.inputs["Image"].links[0].from_node.bl_idname

    checks["feeds_output"] = [nodes.feeds_output(node), None]
    stale = bpy.data.images.new("stale", 64, 48)
    stale.pixels = [1.0, 0.0, 0.0, 1.0] * (64 * 48)
    checks["routed"] = [nodes.route_output(node, stale) and source() == "CompositorNodeImage", source()]
    renders = {}
    for mode in ("raw", "auto"):
        node.auto_replace = mode == "auto"
        scene.render.filepath = os.path.join(args.out, mode, "frame_####")
        _render(bpy, animation=True)
        renders[mode] = [os.path.join(args.out, mode, f) for f in _files(os.path.join(args.out, mode))]
    checks["passed_through"] = [source() == "NodeGroupInput", source()]
    stylized = os.path.join(args.out, "nst", "Style_Transfer", "stylized")
    checks["paths"] = [len(renders["raw"]) == len(renders["auto"]) == 2, {"renders": renders, "stylized": stylized}]
    # a node whose output does not reach the compositor output leaves the render output alone by default
    tree.links.remove(composite.inputs[0].links[0]) if composite.inputs[0].is_linked else None
    checks["unwired"] = [not nodes.feeds_output(node), None]


def _write_linear_exr(path):
    """Rows: gray ramp 1e-4 … 16 (HDR above 1), a coloured ramp, and NaN, +Inf, −Inf, −1 patches."""
    import numpy as np
    import OpenEXR

    ramp = np.geomspace(1e-4, 16.0, 64).astype(np.float32)
    rgb = np.zeros((3, 8, 64), np.float32)
    rgb[:, 0:2] = ramp
    rgb[0, 2:4], rgb[1, 2:4], rgb[2, 2:4] = ramp, ramp * 0.3, ramp * 0.05
    for i, value in enumerate((np.nan, np.inf, -np.inf, -1.0)):
        rgb[:, 4:8, i * 16:(i + 1) * 16] = value
    channels = {c: np.ascontiguousarray(rgb[i]) for i, c in enumerate("RGB")}
    channels["A"] = np.ones((8, 64), np.float32)
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    OpenEXR.File(header, channels).write(path)


def check_colour(args, checks):
    """capture_to_display and load_result on a synthetic scene-linear EXR with HDR, NaN and Inf."""
    from pathlib import Path

    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    h.enable_extension(args.repo)
    colour = _import("addon.colour")
    scene = bpy.context.scene
    source = Path(args.out) / "linear.exr"
    _write_linear_exr(str(source))
    results = {}
    for view in ("Standard", "AgX", "Filmic"):
        scene.view_settings.view_transform = view
        png = Path(args.out) / f"display_{view}.png"
        colour.capture_to_display(scene, source, png)
        back = colour.load_result(scene, png, f"NST back {view}")
        again = Path(args.out) / f"again_{view}.png"
        with colour._display_scene(scene) as helper:
            back.save_render(str(again), scene=helper)
        results[view] = {"png": str(png), "again": str(again), "colorspace": back.colorspace_settings.name}
    found = [results[v]["colorspace"] for v in ("Standard", "AgX", "Filmic")]
    checks["colorspaces"] = [found == ["sRGB", "AgX Base sRGB", "Filmic sRGB"], results]
    checks["helper_scene_removed"] = [len(bpy.data.scenes) == 1, [s.name for s in bpy.data.scenes]]
    checks["no_temp_files"] = [not [f for f in os.listdir(args.out) if f.startswith(".")], os.listdir(args.out)]


def check_fusion(args, checks):
    """Region fusion: a Box Mask gives the left half to style a, its inverse the right half to b."""
    bpy, scene = _setup(args, size=(128, 96))
    tree, layers, composite = h.compositor(scene)
    box = h.box_mask(tree, 0.25, 0.5, 0.5, 1.0)
    invert = h.math_node(tree, "SUBTRACT")
    invert.inputs[0].default_value = 1.0
    tree.links.new(box.outputs["Mask"], invert.inputs[1])
    fusion = tree.nodes.new("NST_CompositorNodeStyleBankFusion")
    fusion.style_1, fusion.style_2 = "a", "b"
    fusion.use_masks = True
    tree.links.new(layers.outputs["Image"], fusion.inputs["Image"])
    tree.links.new(box.outputs["Mask"], fusion.inputs["Mask 1"])
    tree.links.new(invert.outputs[0], fusion.inputs["Mask 2"])
    tree.links.new(fusion.outputs["Image"], h.output_input(composite))
    singles = {}
    for style in ("a", "b"):
        node = tree.nodes.new("NST_CompositorNodeStyleTransfer")
        node.name = node.folder = f"Single {style}"
        node.style = style
        tree.links.new(layers.outputs["Image"], node.inputs["Image"])
        singles[style] = os.path.join(args.out, "nst", f"Single_{style}", "stylized", "frame_0001.png")
    _render_f(bpy, scene, 1)
    root = os.path.join(args.out, "nst", "StyleBank_Fusion")
    mask = os.path.join(root, "capture", "mask1_0001.exr")
    checks["fusion_written"] = [os.path.isfile(os.path.join(root, "stylized", "frame_0001.png"))
                                and os.path.isfile(mask) and all(map(os.path.isfile, singles.values())),
                                {"status": fusion.status, "files": _files(os.path.join(root, "capture"))}]
    checks["paths"] = [True, {"fusion": os.path.join(root, "stylized", "frame_0001.png"), "mask": mask,
                              "single_a": singles["a"], "single_b": singles["b"]}]


def check_zip(args, checks):
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    repo_dir = bpy.utils.user_resource("EXTENSIONS", path=h.REPOSITORY, create=True)
    target = os.path.join(repo_dir, h.EXTENSION_ID)
    shutil.copytree(args.repo, target)
    module = h.enable_extension(target, link=False)
    checks["loaded_from_zip_contents"] = [os.path.realpath(module.__file__).startswith(os.path.realpath(target)),
                                          module.__file__]
    h.preferences().model_folder = args.model
    h.preferences().device = "CPU"
    scene = h.build_scene(frames=1)
    scene.nst.output_folder = os.path.join(args.out, "nst")
    scene.render.filepath = os.path.join(args.out, "render", "frame_####")
    _tree, node, _layers, _composite = h.add_style_node(scene)
    node.style = "a"
    _render_f(bpy, scene, 1)
    stylized = os.path.join(args.out, "nst", "Style_Transfer", "stylized", "frame_0001.png")
    checks["stylized_from_zip"] = [os.path.isfile(stylized), node.status]
    errors = h.disable_extension()
    checks["disabled"] = [not errors, [repr(e) for e in errors]]


def check_compat(args, checks):
    """Every helper of addon/blender_compat.py on a fresh file, whatever the Blender version."""
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    h.enable_extension(args.repo)
    compat = h.compat()
    scene = bpy.context.scene
    checks["no_tree_yet"] = [compat.compositor_tree(scene) is None, repr(compat.compositor_tree(scene))]
    tree = compat.compositor_tree(scene, create=True)
    again = compat.compositor_tree(scene, create=True)
    output = compat.new_compositor_output(tree)
    checks["tree"] = [tree is not None and again == tree and tree.bl_idname == "CompositorNodeTree"
                      and compat.is_compositor_output(output)
                      and compat.compositor_output_input(output).name == "Image",
                      [tree.name, output.bl_idname, list(bpy.app.version)]]

    # Image formats: a multilayer EXR and back (5.x: media_type gates file_format).
    settings = scene.render.image_settings
    state = compat.image_format_state(settings)
    compat.set_file_format(settings, "OPEN_EXR_MULTILAYER")
    multilayer = (settings.file_format, compat.media_type(settings))
    compat.set_file_format(settings, "OPEN_EXR")
    settings.color_depth = "32"
    compat.restore_image_format(settings, state)
    checks["formats"] = [multilayer == ("OPEN_EXR_MULTILAYER", "MULTI_LAYER_IMAGE")
                         and compat.image_format_state(settings) == state, [multilayer, state]]

    # File Output: folder, no file-name prefix, typed inputs.
    group = bpy.data.node_groups.new("probe", "CompositorNodeTree")
    node = group.nodes.new("CompositorNodeOutputFile")
    compat.clear_file_outputs(node)
    sockets = [compat.add_file_output(node, f"{kind.lower()}_", kind) for kind in compat.FILE_OUTPUT_KINDS]
    compat.set_file_output_directory(node, os.path.join(args.out, "files") + os.sep)
    try:
        compat.add_file_output(node, "x_", "MATRIX")
        bad_kind = None
    except ValueError as exc:
        bad_kind = str(exc)
    checks["file_output"] = [
        compat.file_output_names(node) == ["color_", "float_", "vector_"]
        and [s.name for s in sockets] == [s.name for s in node.inputs if s.bl_idname != "NodeSocketVirtual"]
        and compat.file_output_directory(node) == os.path.join(args.out, "files") + os.sep
        and getattr(node, "file_name", "") == "" and bad_kind is not None,
        [compat.file_output_names(node), [s.bl_idname for s in sockets], bad_kind]]

    # Sequencer: the scene it shows, strips, an effect strip's length.
    checks["sequencer_scene"] = [compat.sequencer_scene(bpy.context) == scene, repr(compat.sequencer_scene(bpy.context))]
    other = bpy.data.scenes.new("Edit")
    if hasattr(bpy.context, "sequencer_scene"):
        with bpy.context.temp_override(sequencer_scene=other):
            shown = compat.sequencer_scene(bpy.context)
        checks["sequencer_scene_5x"] = [shown == other, repr(shown)]
    editor = other.sequence_editor_create()
    strip = compat.new_effect_strip(editor, "c", "COLOR", channel=2, frame_start=3, length=7)
    checks["effect"] = [(strip.frame_final_start, strip.frame_final_end) == (3, 10)
                        and list(compat.top_strips(editor)) == [strip] and list(compat.all_strips(editor)) == [strip]
                        and isinstance(strip, compat.strip_type()),
                        [strip.frame_final_start, strip.frame_final_end]]

    # Animation curves of a keyed object.
    obj = bpy.data.objects.new("keyed", None)
    scene.collection.objects.link(obj)
    checks["no_curves"] = [compat.animation_fcurves(obj) == [], None]
    obj.keyframe_insert("location", frame=1)
    curves = compat.animation_fcurves(obj)
    checks["curves"] = [sorted((c.data_path, c.array_index) for c in curves) == [("location", i) for i in range(3)],
                        [(c.data_path, c.array_index) for c in curves]]


MODES = {
    "compat": check_compat,
    "register": lambda a, c: (check_register(a, c), check_jobs(a, c)),
    "without_torch": check_without_torch,
    "save": check_save,
    "reload_still": check_reload_still,
    "coherence": check_coherence,
    "bad": check_bad,
    "threaded": check_threaded,
    "gatys": check_gatys,
    "analogy": check_analogy,
    "replace": check_replace,
    "routing": check_routing,
    "colour": check_colour,
    "fusion": check_fusion,
    "zip": check_zip,
}


def parse_args():
    return h.parse_args(__doc__.splitlines()[0], MODES)


if __name__ == "__main__":
    ARGS = parse_args()
    if ARGS.mode == "without_torch":
        sys.modules["torch"] = None  # `import torch` now raises ImportError
    h.run(lambda checks: MODES[ARGS.mode](ARGS, checks))
