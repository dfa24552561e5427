"Shared fixtures: a scratch project home, and running the real `culturellm` console script."
import os, shutil, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
CLI = Path(sys.executable).parent/"culturellm"


@pytest.fixture
def home(tmp_path, monkeypatch):
    "A scratch copy of the project's committed data and templates; CULTURELLM_HOME points at it."
    from culturellm.data import data_mirror
    mirror = data_mirror()   # resolved from the real checkout, before the home moves
    if mirror is not None: monkeypatch.setenv("CULTURELLM_DATA_MIRROR", str(mirror.resolve()))
    from culturellm.core import models_dir
    monkeypatch.setenv("CULTURELLM_MODELS", str(models_dir()))  # converted models are shared; caches and outputs are not
    for part in ("data/registry", "data/profiles", "data/wvs", "nbs/experiments"):
        shutil.copytree(ROOT/part, tmp_path/part)
    monkeypatch.setenv("CULTURELLM_HOME", str(tmp_path))
    return tmp_path


def run_cli(*args, timeout=1800):   # a guard against hangs, not a speed test: a slow CPU takes minutes
    "Run `culturellm ARGS` in a subprocess with this environment; returns the CompletedProcess."
    return subprocess.run([str(CLI), *map(str, args)], capture_output=True, text=True, timeout=timeout, env=os.environ.copy())


def pytest_collection_modifyitems(config, items):
    "Under `pytest -n`, the tests sharing the smoke reproduction run in one worker, so it is built once; the others spread."
    for item in items:
        if "smoke_home" in getattr(item, "fixturenames", ()): item.add_marker(pytest.mark.xdist_group("smoke"))
