"Shared fixtures: a scratch project home, and running the real `culturellm` console script."
import os, subprocess, sys
from pathlib import Path
import pytest
import yaml
from culturellm.data import SCRATCH_PARTS, ScratchProject, scratch_environment

ROOT = Path(__file__).resolve().parent.parent
CLI = Path(sys.executable).parent/"culturellm"


def scratch_home(home: Path) -> Path:
    "A project folder holding copies of the committed data and the experiment notebooks (the notebooks' `ScratchProject`, kept in `home`)."
    ScratchProject(parts=(*SCRATCH_PARTS, "nbs/experiments"), folder=home)
    return home


def work_in(mp: pytest.MonkeyPatch, home: Path) -> None:
    "Make `home` the project folder, with the notebooks' scratch environment (models and data mirror stay this checkout's)."
    for name, value in scratch_environment(home).items(): mp.setenv(name, value)


def tiny_base(home: Path, profile: str, spec: dict) -> None:
    """Make profile `profile` of `home` evaluate and fine-tune the model of role spec `spec`: a tiny random model built by
    `culturellm.hf.tiny_random_model` for tests of machinery, where the 270M base's minutes of arithmetic prove nothing more."""
    path = home/f"data/profiles/{profile}.yaml"
    config = yaml.safe_load(path.read_text())
    config["roles"]["base"] = {**config["roles"]["base"], **spec}
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def run_in(home: Path, *args):
    "`culturellm ARGS` in the project folder `home`."
    with pytest.MonkeyPatch.context() as mp:
        work_in(mp, home)
        return run_cli(*args)


@pytest.fixture
def home(tmp_path, monkeypatch):
    "A scratch copy of the project's committed data and templates; CULTURELLM_HOME points at it."
    work_in(monkeypatch, scratch_home(tmp_path))
    return tmp_path


def run_cli(*args, timeout=1800):   # a guard against hangs, not a speed test: a slow CPU takes minutes
    "Run `culturellm ARGS` in a subprocess with this environment; returns the CompletedProcess."
    return subprocess.run([str(CLI), *map(str, args)], capture_output=True, text=True, timeout=timeout, env=os.environ.copy())


SLOW = ["test_killed_at_every_stage_the_rerun_equals_an_uninterrupted_run",                     # minutes each, on 2 cores
        "test_a_fictional_culture_runs_through_every_stage_by_configuration_alone",
        "test_twenty_percent_faults_give_identical_results_and_the_key_leaks_nowhere",
        "test_cli_runs_then_skips"]


def pytest_collection_modifyitems(config, items):
    """The longest work is collected first: under `pytest -n 2 --dist loadfile` (one file per worker at a time) the
    workers start with the smoke reproduction (test_reproduce.py, built once per session) and the kill test
    (test_resume.py), and the short files fill in."""
    rank = lambda item: 0 if "smoke_home" in getattr(item, "fixturenames", ()) else 1 + SLOW.index(item.name) if item.name in SLOW else 1 + len(SLOW)
    items.sort(key=rank)   # stable: the smoke tests keep their order (a later one edits the smoke registry)
