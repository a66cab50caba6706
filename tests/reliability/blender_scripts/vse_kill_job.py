"""Blender side of the Stylize Strip kill loop (``tests/reliability/test_kill_vse.py``).

Run with the Python that has PyPI ``bpy`` installed::

    python vse_kill_job.py MODE --repo REPO --user-resources EMPTY_DIR --model DIR --movie FILE --blend FILE

Modes: ``prepare`` (empty file, extension enabled, a movie strip with style ``a``, saved as
``--blend``) and ``run`` (open ``--blend`` and run Stylize Strip on the movie strip, as a user
would after a crash: the job continues where the killed one stopped). The stylised frames go to
``//nst_strips/clip/`` next to the ``.blend``. Prints one ``NST_RESULT {json}`` line; exits with
``os._exit`` (``bpy`` can hang at interpreter exit).
"""

import argparse
import os
import sys

HARNESS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "addon", "blender_scripts")
sys.path.insert(0, os.path.realpath(HARNESS))
import nst_harness as h  # noqa: E402


def _start(args):
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    h.enable_extension(args.repo)
    h.preferences().model_folder = args.model
    h.preferences().device = "CPU"
    return bpy


def _strips(editor):
    return editor.strips if hasattr(editor, "strips") else editor.sequences


def prepare(args, checks):
    bpy = _start(args)
    editor = bpy.context.scene.sequence_editor_create()
    movie = _strips(editor).new_movie("clip", args.movie, channel=2, frame_start=1)
    movie.nst.style_1 = "a"
    os.makedirs(os.path.dirname(args.blend), exist_ok=True)
    bpy.ops.wm.save_as_mainfile(filepath=args.blend)
    checks["prepared"] = [os.path.isfile(args.blend), args.blend]


def run(args, checks):
    bpy = _start(args)
    bpy.ops.wm.open_mainfile(filepath=args.blend)
    editor = bpy.context.scene.sequence_editor
    editor.active_strip = _strips(editor)["clip"]
    result = bpy.ops.nst.stylize_strip()
    checks["finished"] = [result == {"FINISHED"}, list(result)]


MODES = {"prepare": prepare, "run": run}

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=sorted(MODES))
    for name in ("--repo", "--user-resources", "--model", "--movie", "--blend"):
        parser.add_argument(name, required=True)
    ARGS = parser.parse_args()
    ARGS.repo = os.path.realpath(ARGS.repo)
    os.environ["BLENDER_USER_RESOURCES"] = os.path.realpath(ARGS.user_resources)
    h.run(lambda checks: MODES[ARGS.mode](ARGS, checks))
