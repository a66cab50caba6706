"""Learn Style from Image in headless Blender (issue 17, point 3), once per Blender version.

``blender_scripts/learn_checks.py``: the operator learns a style (2 steps at 32 px, the real loss
network) into the per-user folder and into a chosen model folder, and the node's style menu lists it.
The job itself (copy, resume, errors) is tested without Blender in ``tests/core/jobs/test_learn_style.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.addon.helpers import REPO, run_check_script, tiny_model
from tests.conftest import photo, stripes

SCRIPT = Path(__file__).resolve().parent / "blender_scripts" / "learn_checks.py"


@pytest.mark.blender
def test_learn_style_in_blender(tmp_path: Path) -> None:
    from core.io.images import write_image  # noqa: PLC0415

    media = tmp_path / "media"
    write_image(media / "painting.png", stripes((0.1, 0.8, 0.1), (0.9, 0.9, 0.2), 32, period=4))
    for i, name in enumerate(("astronaut", "coffee")):
        write_image(media / "photos" / f"{i}.png", photo(name, 40))
    model = tiny_model(tmp_path / "model")
    user, out = tmp_path / "user", tmp_path / "out"
    user.mkdir()
    out.mkdir()
    checks, _proc = run_check_script(SCRIPT, "learn", ["--repo", str(REPO), "--user-resources", str(user),
                                                       "--out", str(out), "--model", str(model),
                                                       "--media", str(media)], cwd=REPO, timeout=600)
    assert checks["menu_lists_new_and_shipped"][0] and checks["learnt_into_chosen_folder"][0]
    assert set(checks) == {"user_dir_in_extension_folder", "no_photos_is_one_sentence", "learnt_into_user_folder",
                           "preference_points_there", "menu_lists_new_and_shipped", "menu_picks_it",
                           "learnt_into_chosen_folder", "menu_lists_it_at_once", "existing_name_refused",
                           "cancel_keeps_the_run", "run_again_continues"}, checks
