"""Blender-side checks of Stylize Strip (Video Sequencer) and Stylize Image (Image Editor).

Run with the Python that has PyPI ``bpy`` installed::

    python vse_checks.py MODE --repo REPO --user-resources EMPTY_DIR --out OUT --model DIR --media DIR
                         [--blend FILE]

``--media`` holds what the test generated: ``clip.avi`` (8 frames), ``seq/frame_0001.png`` …
(6 frames), ``broken.avi`` (not a video), ``style.png``, ``reference.png``, ``photo.png``.

Modes: ``strips`` (movie + image strips: placement, Update, only-what-changed, errors),
``kill`` (saves ``--blend``, then dies by ``os._exit`` after the 3rd stylised frame),
``resume`` (opens ``--blend`` and runs again), ``whole`` (the same strip in one go), ``cancel`` (cancel through the job runner, then
rerun), ``scene`` (a scene strip: render with Vector pass, then stylise), ``image`` (Image
Editor: StyleBank preview and full size, fusion, Gatys, Analogy, errors).

Prints one line ``NST_RESULT {json}``; exits 0 only when every check passed; ends with
``os._exit`` because ``bpy`` can hang at interpreter exit.
"""

import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nst_harness as h  # noqa: E402


def _import(name):
    import importlib

    return importlib.import_module(f"{h.MODULE}.{name}")


def _setup(args, *, save=True):
    """Empty file with the extension enabled, saved in ``--out`` (so ``//`` is there)."""
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    h.enable_extension(args.repo)
    h.preferences().model_folder = args.model
    h.preferences().device = "CPU"
    if save:
        bpy.ops.wm.save_as_mainfile(filepath=os.path.join(args.out, "edit.blend"))
    scene = bpy.context.scene
    scene.render.resolution_x, scene.render.resolution_y = 96, 64  # footage is 64×48: another resolution
    editor = scene.sequence_editor_create()
    return bpy, scene, editor


def _strips(editor):
    return h.compat().top_strips(editor)


def _snapshot(editor):
    return sorted((s.name, s.type, s.channel, s.frame_final_start, s.frame_final_end) for s in _strips(editor))


def _folder_files(folder):
    return sorted(f for f in os.listdir(folder) if f.startswith("frame_")) if os.path.isdir(folder) else []


def _mtimes(folder):
    return {f: os.stat(os.path.join(folder, f)).st_mtime_ns for f in _folder_files(folder)}


class RecordingLayout:
    """Stands in for ``bpy.types.UILayout`` so a panel's ``draw()`` runs headless; records what it shows."""

    def __init__(self, shown):
        self.shown = shown
        self.active = True

    def label(self, *, text="", icon="NONE"):
        self.shown.append(("label", text))

    def prop(self, data, name, **_kwargs):
        self.shown.append(("prop", name, getattr(data, name)))

    def operator(self, idname, **_kwargs):
        self.shown.append(("operator", idname))
        return type("OperatorProperties", (), {})()

    def progress(self, **kwargs):
        self.shown.append(("progress", kwargs.get("text", "")))

    def row(self, **_kwargs):
        return self

    box = column = row


def _draw(panel_class, context):
    shown = []
    shim = type("PanelShim", (), {"layout": RecordingLayout(shown)})()
    panel_class.draw(shim, context)
    return shown


def _stylize(bpy, editor, strip, op="stylize_strip"):
    editor.active_strip = strip
    return getattr(bpy.ops.nst, op)()


def _expect_error(bpy, call):
    """Run an operator expected to fail; returns (raised message, or the result)."""
    try:
        result = call()
    except RuntimeError as exc:
        return str(exc).strip()
    return f"no error: {result}"


def _pair_info(strip, source):
    vse = _import("addon.vse")
    return {"name": strip.name, "type": strip.type, "channel": strip.channel, "source_channel": source.channel,
            "start": strip.frame_start, "source_start": source.frame_start,
            "final": [strip.frame_final_start, strip.frame_final_end],
            "source_final": [source.frame_final_start, source.frame_final_end],
            "offsets": [strip.frame_offset_start, strip.frame_offset_end],
            "source_offsets": [source.frame_offset_start, source.frame_offset_end],
            "elements": [e.filename for e in strip.elements], "directory": strip.directory,
            "record": vse.record_of(strip)}


def _check_pair(checks, label, strip, source, visible):
    info = _pair_info(strip, source)
    ok = (strip.type == "IMAGE" and strip.channel == source.channel + 1
          and info["final"] == info["source_final"] and strip.frame_start == source.frame_start
          and info["offsets"] == info["source_offsets"] and len(strip.elements) == source.frame_duration
          and info["record"]["source"] == source.name and source.nst.output == strip.name)
    import bpy

    folder = bpy.path.abspath(info["record"]["folder"])
    files = _folder_files(folder)
    expected = [f"frame_{p + 1:04d}.png" for p in visible]
    checks[f"{label}_placed"] = [ok, info]
    checks[f"{label}_files"] = [files == expected, {"files": files, "expected": expected, "folder": folder}]
    return folder


# ------------------------------------------------------------------------------------------


def check_strips(args, checks):
    bpy, scene, editor = _setup(args)
    media = args.media
    movie = _strips(editor).new_movie("clip", os.path.join(media, "clip.avi"), channel=1, frame_start=10)
    movie.frame_offset_start, movie.frame_offset_end = 2, 1  # shows content frames 3–7 of 8
    movie.transform.offset_x = 5.0
    seq_dir = os.path.join(args.out, "seq")
    shutil.copytree(os.path.join(media, "seq"), seq_dir)
    images = _strips(editor).new_image("shots", os.path.join(seq_dir, "frame_0001.png"), channel=3, frame_start=40)
    for i in range(2, 7):
        images.elements.append(f"frame_{i:04d}.png")
    movie.nst.style_1 = "a"
    images.nst.style_1 = "a"

    # Errors first: one clear message each, the sequencer unchanged.
    colour_strip = h.compat().new_effect_strip(editor, "colour", "COLOR", channel=7, frame_start=1, length=4)
    checks["effect_length"] = [(colour_strip.frame_final_start, colour_strip.frame_final_end) == (1, 5),
                               (colour_strip.frame_final_start, colour_strip.frame_final_end)]
    before = _snapshot(editor)
    movie.nst.style_1 = ""  # empty means the model's default: "no style" is a model without styles
    model_folder = h.preferences().model_folder
    h.preferences().model_folder = os.path.join(args.out, "no_model")
    no_style = _expect_error(bpy, lambda: _stylize(bpy, editor, movie))
    h.preferences().model_folder = model_folder
    movie.nst.style_1 = "a"
    os.rename(os.path.join(seq_dir, "frame_0004.png"), os.path.join(seq_dir, "hidden.png"))
    missing = _expect_error(bpy, lambda: _stylize(bpy, editor, images))
    os.rename(os.path.join(seq_dir, "hidden.png"), os.path.join(seq_dir, "frame_0004.png"))
    checks["no_style_error"] = ["no style chosen" in no_style and "clip" in no_style, no_style]
    checks["missing_frame_error"] = ["missing frame" in missing and "4" in missing, missing]
    wrong_type = _expect_error(bpy, lambda: _stylize(bpy, editor, colour_strip))
    checks["wrong_type_error"] = ["movie, image and scene strips" in wrong_type, wrong_type]
    checks["unchanged_after_errors"] = [_snapshot(editor) == before, {"before": before, "after": _snapshot(editor)}]

    # Stylize Strip on the movie strip and the image-sequence strip.
    result = _stylize(bpy, editor, movie)
    out_movie = _strips(editor).get(movie.nst.output)
    checks["movie_result"] = [result == {"FINISHED"} and out_movie is not None, [list(result), movie.nst.output]]
    movie_folder = _check_pair(checks, "movie", out_movie, movie, range(2, 7))
    read_image = _import("core.io.images").read_image
    sizes = sorted({read_image(os.path.join(movie_folder, f)).size for f in _folder_files(movie_folder)})
    look = [(s.transform.offset_x, s.transform.scale_x, s.transform.scale_y) for s in (movie, out_movie)]
    checks["movie_transform"] = [look[0] == look[1] and look[1][0] == 5.0 and sizes == [(48, 64)],
                                 {"look": look, "sizes": sizes}]
    checks["movie_folder"] = [movie_folder == os.path.join(args.out, "nst_strips", "clip"), movie_folder]
    result = _stylize(bpy, editor, images)
    out_images = _strips(editor).get(images.nst.output)
    images_folder = _check_pair(checks, "images", out_images, images, range(6))
    checks["images_result"] = [result == {"FINISHED"}, list(result)]

    # The sidebar panel shows the pair, the settings and Update.
    ops = _import("addon.vse_operators")
    shown = _draw(ops.NST_PT_sequencer, bpy.context)
    checks["panel"] = [("operator", "nst.update_strip") in shown and ("prop", "style_1_menu", "a") in shown
                       and ("label", "Stylised: shots stylized") in shown, [str(x) for x in shown]]

    # Update with nothing changed: nothing recomputed.
    stamps = _mtimes(images_folder)
    result = _stylize(bpy, editor, out_images, "update_strip")
    checks["update_unchanged"] = [result == {"FINISHED"} and _mtimes(images_folder) == stamps,
                                  {"before": stamps, "after": _mtimes(images_folder)}]

    # Renaming the source keeps its stylised pair and folder: Update from either side recomputes nothing.
    vse = _import("addon.vse")
    old_name = images.name
    images.name = "shots renamed"
    pairs = [vse.find_pair(scene, images), vse.find_pair(scene, out_images)]
    result = _stylize(bpy, editor, images, "update_strip")
    checks["renamed_source_keeps_pair"] = [
        all(p == (images, out_images) for p in pairs) and result == {"FINISHED"}
        and _mtimes(images_folder) == stamps, {"pairs": [[getattr(x, "name", None) for x in p] for p in pairs],
                                               "result": list(result), "after": _mtimes(images_folder)}]
    images.name = old_name

    # The source changed at frame 4: frames 1–3 kept, 4–6 recomputed.
    import numpy as np
    import cv2

    path = os.path.join(seq_dir, "frame_0004.png")
    pixels = cv2.imread(path)
    cv2.imwrite(path, np.ascontiguousarray(255 - pixels))
    result = _stylize(bpy, editor, out_images, "update_strip")
    after = _mtimes(images_folder)
    kept = [f for f in stamps if after.get(f) == stamps[f]]
    checks["update_source_changed"] = [
        result == {"FINISHED"} and kept == ["frame_0001.png", "frame_0002.png", "frame_0003.png"]
        and sorted(after) == sorted(stamps), {"kept": kept, "files": sorted(after)}]

    # Update after a style change: every frame again, still in place.
    movie_before = {f: open(os.path.join(movie_folder, f), "rb").read() for f in _folder_files(movie_folder)}
    movie.nst.style_1 = "b"
    result = _stylize(bpy, editor, out_movie, "update_strip")
    changed = [f for f, data in movie_before.items() if open(os.path.join(movie_folder, f), "rb").read() != data]
    out_after = _strips(editor).get(movie.nst.output)
    checks["update_style_changed"] = [result == {"FINISHED"} and changed == sorted(movie_before)
                                      and out_after == out_movie and out_after.channel == movie.channel + 1,
                                      {"changed": changed, "strips": _snapshot(editor)}]
    checks["settings_recorded"] = [_import("addon.vse").record_of(out_after)["settings"]["style_names"] == ["b"],
                                   _import("addon.vse").record_of(out_after)["settings"]]

    # An unreadable movie: one error, nothing added.
    broken = _strips(editor).new_movie("broken", os.path.join(media, "clip.avi"), channel=8, frame_start=100)
    broken.filepath = os.path.join(media, "broken.avi")
    broken.nst.style_1 = "a"
    before = _snapshot(editor)
    unreadable = _expect_error(bpy, lambda: _stylize(bpy, editor, broken))
    checks["unreadable_error"] = ["broken" in unreadable and "movie" in unreadable
                                  and _snapshot(editor) == before, {"error": unreadable, "strips": _snapshot(editor)}]


def _movie_scene(args):
    bpy, scene, editor = _setup(args, save=False)
    movie = _strips(editor).new_movie("clip", os.path.join(args.media, "clip.avi"), channel=2, frame_start=1)
    movie.frame_offset_start = 1  # content frames 2–8
    movie.nst.style_1 = "a"
    return bpy, scene, editor, movie


def check_kill(args, checks):
    bpy, scene, editor, movie = _movie_scene(args)
    os.makedirs(os.path.dirname(args.blend), exist_ok=True)
    bpy.ops.wm.save_as_mainfile(filepath=args.blend)
    image_io = _import("core.io.images")
    original = image_io.write_image
    written = []

    def write_then_die(path, *a, **k):
        result = original(path, *a, **k)
        if os.path.basename(str(path)).startswith("frame_"):
            written.append(path)
            if len(written) == 3:
                os._exit(3)  # a crash right after the 3rd frame reached the disk
        return result

    image_io.write_image = write_then_die
    _stylize(bpy, editor, movie)
    checks["not_killed"] = [False, "the job finished instead of being killed"]


def check_whole(args, checks):
    """The same strip as ``kill``, stylised in one go."""
    bpy, scene, editor, movie = _movie_scene(args)
    os.makedirs(os.path.dirname(args.blend), exist_ok=True)
    bpy.ops.wm.save_as_mainfile(filepath=args.blend)
    result = _stylize(bpy, editor, movie)
    folder = str(_import("addon.vse").strip_folder("clip"))
    checks["whole"] = [result == {"FINISHED"} and len(_folder_files(folder)) == 7, _folder_files(folder)]
    checks["paths"] = [True, {"folder": folder}]


def check_resume(args, checks):
    import bpy

    h.reopen(args)
    scene = bpy.context.scene
    editor = scene.sequence_editor
    movie = _strips(editor)["clip"]
    folder = str(_import("addon.vse").strip_folder("clip"))
    before = _mtimes(folder)
    result = _stylize(bpy, editor, movie)
    after = _mtimes(folder)
    kept = sorted(f for f in before if after.get(f) == before[f])
    out = _strips(editor).get(movie.nst.output)
    checks["resumed"] = [result == {"FINISHED"} and len(kept) == 3 and len(after) == 7 and out is not None,
                         {"before": sorted(before), "kept": kept, "after": sorted(after)}]
    checks["paths"] = [True, {"folder": folder}]


def check_cancel(args, checks):
    bpy, scene, editor = _setup(args)
    seq_dir = os.path.join(args.media, "seq")
    images = _strips(editor).new_image("shots", os.path.join(seq_dir, "frame_0001.png"), channel=1, frame_start=1)
    for i in range(2, 7):
        images.elements.append(f"frame_{i:04d}.png")
    images.nst.style_1 = "b"
    jobs = _import("addon.jobs")
    image_io = _import("core.io.images")
    original = image_io.write_image
    written = []

    def write_then_cancel(path, *a, **k):  # Esc pressed while frame 2 was being stylised
        result = original(path, *a, **k)
        if os.path.basename(str(path)).startswith("frame_"):
            written.append(path)
            if len(written) == 2:
                jobs.RUNNER.cancel()
        return result

    image_io.write_image = write_then_cancel
    jobs.RUNNER._synchronous = False  # as with Blender's UI: worker thread + main-thread steps
    before = _snapshot(editor)
    result = _stylize(bpy, editor, images)
    folder = str(_import("addon.vse").strip_folder("shots"))
    checks["cancelled"] = [result == {"CANCELLED"} and _folder_files(folder) == ["frame_0001.png", "frame_0002.png"]
                           and _snapshot(editor) == before and not images.nst.output,
                           {"result": list(result), "files": _folder_files(folder), "strips": _snapshot(editor)}]
    image_io.write_image = original
    stamps = _mtimes(folder)
    result = _stylize(bpy, editor, images)
    after = _mtimes(folder)
    kept = sorted(f for f in stamps if after.get(f) == stamps[f])
    checks["continued"] = [result == {"FINISHED"} and kept == ["frame_0001.png", "frame_0002.png"]
                           and len(after) == 6 and images.nst.output != "",
                           {"result": list(result), "kept": kept, "after": sorted(after)}]
    checks["paths"] = [True, {"folder": folder}]
    jobs.RUNNER.shutdown()


def check_scene(args, checks):
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    h.enable_extension(args.repo)
    h.preferences().model_folder = args.model
    h.preferences().device = "CPU"
    bpy.ops.wm.save_as_mainfile(filepath=os.path.join(args.out, "edit.blend"))
    shot = h.build_scene(frames=4, size=(48, 32))
    shot.name = "Shot"
    shot.render.filepath = "//render/"
    h.compat().set_file_format(shot.render.image_settings, "PNG")
    edit = bpy.data.scenes.new("Edit")
    edit.render.resolution_x, edit.render.resolution_y = 96, 64
    editor = edit.sequence_editor_create()
    strip = _strips(editor).new_scene("shot", shot, channel=1, frame_start=20)
    strip.frame_offset_end = 1  # shows scene frames 1–3
    strip.nst.style_1 = "a"
    settings_before = (shot.render.filepath, shot.render.image_settings.file_format,
                       shot.view_layers[0].use_pass_vector, shot.frame_current)
    editor.active_strip = strip
    jobs = _import("addon.jobs")
    jobs.RUNNER._synchronous = False  # as with Blender's UI: one render per main-thread step, then the worker
    # 5.x: the sequencer shows the workspace's sequencer scene, here not the active scene (the shot).
    override = {"scene": shot, "sequencer_scene": edit} if hasattr(bpy.context, "sequencer_scene") else {"scene": edit}
    with bpy.context.temp_override(**override):
        result = bpy.ops.nst.stylize_strip()
    jobs.RUNNER.shutdown()
    checks["sequencer_scene"] = [True, sorted(override)]
    out = _strips(editor).get(strip.nst.output)
    folder = _check_pair(checks, "scene", out, strip, range(0, 3)) if out is not None else None
    checks["scene_result"] = [result == {"FINISHED"} and out is not None, list(result)]
    from pathlib import Path

    record = _import("core.jobs.strip_record").load_record(Path(folder)) if folder else None
    render_dir = os.path.join(folder, "render") if folder else ""
    rendered = sorted(os.listdir(render_dir)) if os.path.isdir(render_dir) else []
    checks["rendered"] = [rendered == ["frame_0001.png", "frame_0002.png", "frame_0003.png", "passes_0001.exr",
                                       "passes_0002.exr", "passes_0003.exr"], rendered]
    strip_record = _import("addon.vse").record_of(out) if out is not None else None
    checks["vectors_used"] = [record is not None and record["settings"]["motion"] == "vectors"
                              and strip_record["motion"] == ["vectors"], strip_record]
    settings_after = (shot.render.filepath, shot.render.image_settings.file_format,
                      shot.view_layers[0].use_pass_vector, shot.frame_current)
    checks["scene_restored"] = [settings_after == settings_before, [settings_before, settings_after]]
    checks["colorspace"] = [out is not None and out.colorspace_settings.name == "AgX Base sRGB",
                            None if out is None else out.colorspace_settings.name]
    checks["paths"] = [True, {"folder": folder}]


def check_image(args, checks):
    bpy, scene, _editor = _setup(args)
    photo = bpy.data.images.load(os.path.join(args.media, "photo.png"))
    photo.name = "Photo"
    style = bpy.data.images.load(os.path.join(args.media, "style.png"))
    reference = bpy.data.images.load(os.path.join(args.media, "reference.png"))
    reference.name = "Ref"
    tool = scene.nst.image_tool
    images_before = sorted(i.name for i in bpy.data.images)
    tool.style_1 = ""
    model_folder = h.preferences().model_folder
    h.preferences().model_folder = os.path.join(args.out, "no_model")
    no_style = _expect_error(bpy, lambda: bpy.ops.nst.stylize_image(image="Photo"))
    h.preferences().model_folder = model_folder
    tool.method = "GATYS"
    no_image = _expect_error(bpy, lambda: bpy.ops.nst.stylize_image(image="Photo"))
    tool.method = "STYLEBANK"
    checks["errors"] = ["no style chosen" in no_style and "style image" in no_image
                        and sorted(i.name for i in bpy.data.images) == images_before, [no_style, no_image]]

    read_image = _import("core.io.images").read_image
    resize = _import("core.imaging.resize").resize
    source = read_image(os.path.join(args.media, "photo.png")).srgb()

    def change(image):
        """Mean absolute difference between a result and the photo (at the result's size)."""
        result = read_image(bpy.path.abspath(image.filepath)).srgb()
        return float((result - resize(source, tuple(result.shape[-2:]))).abs().mean())

    results, changes = {}, {}
    tool.style_1 = "a"
    tool.preview_size = 64
    bpy.ops.nst.stylize_image(image="Photo", preview=True)
    result = bpy.data.images.get("Photo stylized")
    results["preview"] = None if result is None else [list(result.size), result.filepath]
    changes["preview"] = change(result)
    bpy.ops.nst.stylize_image(image="Photo", preview=False)
    results["full"] = None if result is None else [list(result.size), result.filepath]
    changes["full"] = change(result)
    tool.style_count, tool.style_2, tool.weight_1, tool.weight_2 = 2, "b", 0.3, 0.7
    bpy.ops.nst.stylize_image(image="Photo")
    results["fusion"] = [list(result.size), result.filepath]
    changes["fusion"] = change(result)
    tool.method, tool.style_image, tool.iterations = "GATYS", style, 8
    bpy.ops.nst.stylize_image(image="Photo")
    results["gatys"] = [list(result.size), result.filepath]
    changes["gatys"] = change(result)
    tool.method, tool.reference_image, tool.analogy_size = "ANALOGY", reference, 96
    bpy.ops.nst.stylize_image(image="Photo")
    a_prime, b = bpy.data.images.get("Photo A′"), bpy.data.images.get("Ref B")
    results["analogy"] = [None if a_prime is None else [list(a_prime.size), a_prime.filepath],
                          None if b is None else [list(b.size), b.filepath]]
    checks["results"] = [True, results]
    changes["a_prime"] = change(a_prime) if a_prime is not None else 0.0
    checks["stylised"] = [all(value > 0.005 for value in changes.values()), changes]
    shown = _draw(_import("addon.image_tools").NST_PT_image_editor, bpy.context)
    checks["panel"] = [("prop", "reference_image", reference) in shown and ("operator", "nst.stylize_image") in shown,
                       [str(x) for x in shown]]
    photo_size = list(photo.size)
    checks["sizes"] = [results["preview"][0] == [64, 43] and results["full"][0] == photo_size
                       and results["fusion"][0] == photo_size and results["gatys"][0] == photo_size
                       and results["analogy"][0] is not None and results["analogy"][0][0] == photo_size
                       and results["analogy"][1] is not None and results["analogy"][1][0] == list(reference.size),
                       {"photo": photo_size, "reference": list(reference.size)}]

    # The Render Result (no file of its own, the render of the scene that made it) after F12.
    render_scene = h.build_scene(frames=1, size=(64, 48))
    bpy.ops.render.render()
    tool.method, tool.style_count, tool.style_1 = "STYLEBANK", 1, "a"
    outcome = bpy.ops.nst.stylize_image(image="Render Result")
    rendered = bpy.data.images.get("Render Result stylized")
    checks["render_result"] = [outcome == {"FINISHED"} and rendered is not None and list(rendered.size) == [64, 48],
                               {"outcome": list(outcome), "scene": render_scene.name,
                                "size": None if rendered is None else list(rendered.size)}]


MODES = {"strips": check_strips, "kill": check_kill, "whole": check_whole, "resume": check_resume, "cancel": check_cancel,
         "scene": check_scene, "image": check_image}


def parse_args():
    return h.parse_args(__doc__.splitlines()[0], MODES, required=("model", "media"))


if __name__ == "__main__":
    ARGS = parse_args()
    h.run(lambda checks: MODES[ARGS.mode](ARGS, checks))
