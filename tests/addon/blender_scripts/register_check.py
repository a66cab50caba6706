"""Enable and disable the extension in headless ``bpy`` the way Blender does, and check the result.

Run with the Python that has PyPI ``bpy`` installed::

    python register_check.py --repo REPO --user-resources EMPTY_DIR [--without-torch]

Blender's user folders are redirected to ``EMPTY_DIR`` (``BLENDER_USER_RESOURCES``) so the run never
touches the real configuration. The repository is linked into the "User Default" extension
repository there as ``neural_style_transfer`` and enabled with ``addon_utils.enable``, so it loads
as ``bl_ext.user_default.neural_style_transfer``, exactly as an installed extension.

Prints one line ``NST_RESULT {json}`` and exits 0 only when every check passed. Ends with
``os._exit`` because ``bpy`` can hang at interpreter exit.
"""

import argparse
import importlib
import json
import os
import sys
import traceback

EXTENSION_ID = "neural_style_transfer"
REPOSITORY = "user_default"
MODULE = f"bl_ext.{REPOSITORY}.{EXTENSION_ID}"
RESULT_PREFIX = "NST_RESULT "

EXPECTED_DEFAULTS = {
    "method": "GATYS",
    "style_image": "",
    "iterations": 300,
    "size": 512,
    "preserve_color": "NONE",
    "seed": 0,
}


class RecordingLayout:
    """Stands in for ``bpy.types.UILayout`` so ``draw()`` can run headless; records labels."""

    def __init__(self, labels: list) -> None:
        self.labels = labels

    def label(self, *, text: str = "", icon: str = "NONE") -> None:
        self.labels.append((text, icon))

    def prop(self, data, name: str, **_kwargs) -> None:
        getattr(data, name)

    def box(self) -> "RecordingLayout":
        return self

    row = column = box


def _formatted(errors: list) -> list:
    return ["".join(traceback.format_exception(error)) for error in errors]


def run_checks(args: argparse.Namespace, checks: dict) -> None:
    """Enable, inspect, disable and re-enable the extension; ``checks[name] = [ok, info]``."""
    import bpy
    import addon_utils  # on sys.path once bpy is imported

    def check(name: str, ok: bool, detail: object = None) -> None:
        checks[name] = [bool(ok), detail]

    bpy.ops.wm.read_factory_settings(use_empty=True)
    repo_dir = bpy.utils.user_resource("EXTENSIONS", path=REPOSITORY, create=True)
    os.symlink(args.repo, os.path.join(repo_dir, EXTENSION_ID), target_is_directory=True)
    # An earlier "Install" left a private site folder: enabling must put it on sys.path.
    user_dir = os.path.join(args.user_resources, "extensions", ".user", REPOSITORY, EXTENSION_ID)
    private_site = os.path.join(user_dir, "site-packages")
    os.makedirs(private_site)

    errors = []
    module = addon_utils.enable(MODULE, default_set=True, handle_error=errors.append)
    check("enable", module is not None and not errors, _formatted(errors))
    if module is None:
        return
    loaded_from = os.path.realpath(module.__file__)
    check("loaded_from_repo", loaded_from == os.path.join(args.repo, "__init__.py"), loaded_from)

    scene = bpy.context.scene
    settings = getattr(scene, "nst", None)
    check("scene_pointer", settings is not None, type(settings).__name__)
    if settings is None:
        return
    found = {name: getattr(settings, name) for name in EXPECTED_DEFAULTS}
    check("defaults", found == EXPECTED_DEFAULTS, found)
    settings.iterations = 50
    settings.size = 4  # below min=16: Blender clamps
    settings.preserve_color = "LUMINANCE"
    found = (settings.iterations, settings.size, settings.preserve_color)
    check("set_and_read", found == (50, 16, "LUMINANCE"), found)

    deps = importlib.import_module(f"{MODULE}.addon.dependencies")
    prefs_module = importlib.import_module(f"{MODULE}.addon.preferences")
    props_module = importlib.import_module(f"{MODULE}.addon.properties")
    prefs_cls = prefs_module.NST_AP_preferences
    check(
        "preferences_class",
        prefs_cls.is_registered
        and issubclass(prefs_cls, bpy.types.AddonPreferences)
        and prefs_cls.bl_idname == MODULE,
        prefs_cls.bl_idname,
    )
    addon = bpy.context.preferences.addons.get(MODULE)
    prefs = None if addon is None else addon.preferences
    check(
        "preferences_instance",
        isinstance(prefs, prefs_cls) and prefs.device == "AUTO",
        repr(prefs),
    )

    torch_found = deps.is_installed("torch")
    check("torch_status", torch_found is not args.without_torch, {"torch_found": torch_found})
    site = prefs_module.private_site_dir()
    check("private_site_dir", str(site) == private_site, str(site))
    check("private_site_on_sys_path", sys.path.count(private_site) == 1, sys.path[-3:])

    if prefs is not None:
        torch_before = "torch" in sys.modules and sys.modules["torch"] is not None
        labels: list = []
        shim = type("PrefsShim", (), {"layout": RecordingLayout(labels)})()
        for name in ("device", "model_folder", "python_env"):
            setattr(shim, name, getattr(prefs, name))
        prefs_cls.draw(shim, bpy.context)
        torch_row = next((text for text, _icon in labels if text.startswith("PyTorch")), None)
        expected_end = ": missing" if args.without_torch else ": found"
        check(
            "draw",
            torch_row is not None and torch_row.endswith(expected_end),
            [text for text, _icon in labels],
        )
        torch_after = "torch" in sys.modules and sys.modules["torch"] is not None
        check("draw_did_not_import_torch", torch_after == torch_before, torch_after)

        env_dir = os.path.join(args.user_resources, "python_env_site")
        os.mkdir(env_dir)
        prefs.python_env = env_dir  # the update callback puts it on sys.path
        check("python_env_on_sys_path", sys.path.count(env_dir) == 1, sys.path[-3:])

    addon_utils.disable(MODULE, default_set=True, handle_error=errors.append)
    check("disable", not errors, _formatted(errors))
    check("scene_pointer_removed", "nst" not in bpy.types.Scene.bl_rna.properties, None)
    registered = [c.__name__ for c in (prefs_cls, props_module.NST_PG_settings) if c.is_registered]
    check("classes_removed", not registered, registered)

    module = addon_utils.enable(MODULE, default_set=True, handle_error=errors.append)
    check("re_enable", module is not None and hasattr(bpy.context.scene, "nst"), _formatted(errors))
    addon_utils.disable(MODULE, default_set=True, handle_error=errors.append)
    check("re_disable", not errors and not hasattr(bpy.types.Scene, "nst"), _formatted(errors))


def main(args: argparse.Namespace) -> int:
    """Run the checks, print the result line and return the exit code."""
    checks: dict = {}
    error = None
    try:
        run_checks(args, checks)
    except Exception:  # report any failure as data: the test shows it
        error = traceback.format_exc()
    ok = error is None and bool(checks) and all(passed for passed, _ in checks.values())
    print(RESULT_PREFIX + json.dumps({"ok": ok, "checks": checks, "error": error}, default=repr))
    return 0 if ok else 1


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", required=True, help="repository root, with blender_manifest.toml")
    parser.add_argument("--user-resources", required=True, help="empty folder for user files")
    parser.add_argument("--without-torch", action="store_true", help="block `import torch` first")
    args = parser.parse_args()
    args.repo = os.path.realpath(args.repo)
    args.user_resources = os.path.realpath(args.user_resources)
    return args


if __name__ == "__main__":
    ARGS = parse_args()
    # Blender reads the variable when bpy is imported; torch must be blocked before the add-on is.
    os.environ["BLENDER_USER_RESOURCES"] = ARGS.user_resources
    if ARGS.without_torch:
        sys.modules["torch"] = None  # `import torch` now raises ImportError
    code = main(ARGS)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
