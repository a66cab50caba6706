"""Blender-side checks of Learn Style from Image (issue 17, point 3), one mode per run.

Run with the Python that has PyPI ``bpy`` installed::

    python learn_checks.py learn --repo REPO --user-resources EMPTY_DIR --out OUT --model TINY_MODEL --media DIR

``--media`` holds ``painting.png`` and ``photos/``. Mode ``learn``: the operator with no content and
no captures refuses in one sentence; with an empty Model Folder it learns into the per-user
folder (a copy of the shipped model), points the preference there and the node's style menu
lists the new style; with the Model Folder set to a tiny model it learns into that folder, named
from the Image Editor's image, and the menu lists it at once; cancelled after two steps it keeps its state and is not listed, and run
again it continues from there.

Prints one line ``NST_RESULT {json}``; exits 0 only when every check passed; ends with
``os._exit`` because ``bpy`` can hang at interpreter exit.
"""

import importlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nst_harness as h  # noqa: E402


def _menu_items(node):
    menus = importlib.import_module(f"{h.MODULE}.addon.style_menu")
    node.style_menu  # noqa: B018 - drawing the menu asks for its items; reading it does too
    try:
        node.style_menu = "no_such_style"
    except TypeError as exc:
        refused = str(exc)
    else:
        refused = ""
    return [item[0] for item in menus._ITEMS.get((node.as_pointer(), "style"), [])], refused


def _op(bpy, **kw):
    try:
        return bpy.ops.nst.learn_style(**kw), None
    except RuntimeError as exc:
        return None, str(exc)


def check_learn(args, checks):
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    h.enable_extension(args.repo)
    prefs = h.preferences()
    prefs.model_folder = ""
    prefs.device = "CPU"
    scene = h.build_scene(frames=1)
    _tree, node, _layers, _composite = h.add_style_node(scene)
    painting = os.path.join(args.media, "painting.png")
    photos = os.path.join(args.media, "photos")
    learn = importlib.import_module(f"{h.MODULE}.addon.learn_style")
    user_dir = str(learn.user_models_dir())
    checks["user_dir_in_extension_folder"] = [user_dir.startswith(os.path.realpath(args.user_resources))
                                              and user_dir.endswith(os.path.join("models", "user")), user_dir]

    result, error = _op(bpy, filepath=painting, style_name="mine", steps=2, size=32)
    checks["no_photos_is_one_sentence"] = [result is None and error is not None and "no content photos" in error
                                           and not os.path.exists(user_dir), error]

    result, error = _op(bpy, filepath=painting, style_name="mine", content_folder=photos, steps=2, size=32)
    manifest = os.path.join(user_dir, "model.toml")
    checks["learnt_into_user_folder"] = [result == {"FINISHED"} and os.path.isfile(manifest)
                                         and os.path.isfile(os.path.join(user_dir, "banks", "mine.safetensors")),
                                         [result, error, sorted(os.listdir(user_dir)) if os.path.isdir(user_dir) else None]]
    checks["preference_points_there"] = [bpy.path.abspath(prefs.model_folder) == user_dir, prefs.model_folder]
    items, refused = _menu_items(node)
    checks["menu_lists_new_and_shipped"] = ["mine" in items and "la_muse" in items, items]
    node.style_menu = "mine"
    checks["menu_picks_it"] = [node.style == "mine", node.style]

    # The Model Folder set to a model of the user's: the style goes there; named from the image.
    prefs.model_folder = args.model
    image = bpy.data.images.load(painting)
    image.name = "Sunset Study"
    result, error = _op(bpy, image=image.name, content_folder=photos, steps=2, size=32)
    tiny_banks = sorted(os.listdir(os.path.join(args.model, "banks")))
    checks["learnt_into_chosen_folder"] = [result == {"FINISHED"} and "painting.safetensors" in tiny_banks
                                           and prefs.model_folder == args.model, [result, error, tiny_banks]]
    items, _refused = _menu_items(node)
    checks["menu_lists_it_at_once"] = [{"a", "b", "painting"} <= set(items) and "la_muse" not in items, items]
    result, error = _op(bpy, filepath=painting, style_name="a", content_folder=photos, steps=2, size=32)
    checks["existing_name_refused"] = [result is None and "already exists" in (error or ""), error]

    # Esc after the second step (as the modal operator does: the job is cancelled), then again: it continues.
    jobs = importlib.import_module(f"{h.MODULE}.addon.jobs")
    original = jobs.Job.progress_callback

    def cancel_after_two(job, event):
        if event.step >= 2 and "step" in event.stage:
            job.cancel()
        return original(job, event)

    jobs.Job.progress_callback = cancel_after_two
    result, error = _op(bpy, filepath=painting, style_name="later", content_folder=photos, steps=4, size=32)
    jobs.Job.progress_callback = original
    checkpoint = os.path.join(args.model, "later.add-style.checkpoint.safetensors")
    items, _refused = _menu_items(node)
    checks["cancel_keeps_the_run"] = [result == {"CANCELLED"} and os.path.isfile(checkpoint) and "later" not in items,
                                      [result, error, items]]
    events = []
    jobs.Job.progress_callback = lambda job, event: events.append(event.step) or original(job, event)
    result, error = _op(bpy, filepath=painting, style_name="later", content_folder=photos, steps=4, size=32)
    jobs.Job.progress_callback = original
    items, _refused = _menu_items(node)
    checks["run_again_continues"] = [result == {"FINISHED"} and not os.path.exists(checkpoint) and "later" in items
                                     and [e for e in events if e > 2] == [3, 4] and 1 not in events,
                                     [result, error, events, items]]


MODES = {"learn": check_learn}


if __name__ == "__main__":
    ARGS = h.parse_args(__doc__.splitlines()[0], MODES, required=("model", "media"))
    h.run(lambda checks: MODES[ARGS.mode](ARGS, checks))
