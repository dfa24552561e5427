"""Interrupted work resumes: a run killed at every stage, then rerun, gives exactly the records of an uninterrupted run.
The base is a tiny random Gemma-3 (`tiny_random_model`: the embedded model's architecture and tokenizer, 2 layers of
width 64): resuming is machinery, and the 270M base's arithmetic would only lengthen the test."""
import json, os, subprocess, time
from pathlib import Path
import psutil
import yaml
from culturellm.core import read_jsonl
from culturellm.hf import tiny_random_model
from conftest import CLI, run_cli, run_in, scratch_home, tiny_base, work_in


GENERATED = "data/generated/smoke"


def lines(paths) -> int:
    return sum(p.read_bytes().count(b"\n") for p in paths)


def checkpoint_step(g: Path) -> int:
    steps = [int(p.parent.name.rsplit("-", 1)[1]) for p in (g/"models").glob("*/checkpoints/checkpoint-*/trainer_state.json")]
    return max(steps, default=0)


KILL_POINTS = {   # where a run is killed -> a measure of progress there, read from disk: kill when it grows
    "augmentation": lambda g: (g/"usage.jsonl").read_text().count('"augment-') if (g/"usage.jsonl").exists() else 0,
    "fine-tuning": checkpoint_step,
    "evaluation": lambda g: lines((g/"eval").glob("*/bengali/*.jsonl")),
    "culture report": lambda g: int((g/"cultures/bengali/summary.json").exists()),   # evaluated; alignment, tables, figures follow
}


def kill_when(home: Path, progress, timeout: float=900) -> bool:
    "Run augmentation and the Bengali notebook of the smoke profile; SIGKILL all its processes once `progress` grows."
    g = home/GENERATED
    before = progress(g)
    command = [str(CLI), *KILLED_RUN]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy())
    deadline = time.time() + timeout
    while proc.poll() is None and time.time() < deadline:
        if progress(g) > before:
            for p in [*psutil.Process(proc.pid).children(recursive=True), proc]:   # the papermill kernel has its own session
                try: p.kill()
                except psutil.NoSuchProcess: pass
            proc.wait()
            return True
        time.sleep(0.05)
    assert proc.poll() is not None, "the run did not finish in time"
    return False


IDENTITY = {"samples.jsonl": "id", "done.jsonl": "q_id"}   # records that must be unique (predictions: by "id")


def artefacts(home: Path) -> dict:
    "Records of the augmentation, the Bengali training sets and predictions, and the model registry."
    g = home/GENERATED
    files = [*(g/"augment").rglob("*.jsonl"), *(g/"sft/bengali").glob("*.jsonl"), *(g/"eval").glob("*/bengali/*.jsonl")]
    return {str(p.relative_to(g)): [json.dumps(r, sort_keys=True) for r in read_jsonl(p)] for p in files}


KILLED_RUN = ("reproduce", "--profile", "smoke", "--cultures", "bengali", "--stages", "augment", "bengali")


def home_without_controls(folder: Path, base: dict) -> Path:
    "A scratch home whose smoke profile has the base `base` and trains no control: a control runs the culture model's own training, evaluation and report code again, which would only lengthen a test of resuming them."
    home = scratch_home(folder)
    tiny_base(home, "smoke", base)
    profile = home/"data/profiles/smoke.yaml"
    config = yaml.safe_load(profile.read_text())
    assert config.pop("controls", None), "the smoke profile has no controls to drop"
    profile.write_text(yaml.safe_dump(config, sort_keys=False))
    return home


def test_killed_at_every_stage_the_rerun_equals_an_uninterrupted_run(tmp_path, monkeypatch):
    base = tiny_random_model("gemma-3-270m", tmp_path/"tiny-gemma")
    reference = home_without_controls(tmp_path/"uninterrupted", base)
    assert run_in(reference, *KILLED_RUN).returncode == 0
    home = home_without_controls(tmp_path/"killed", base)
    work_in(monkeypatch, home)
    killed = [point for point, progress in KILL_POINTS.items() if kill_when(home, progress)]
    assert killed == list(KILL_POINTS)
    out = run_cli(*KILLED_RUN)
    assert out.returncode == 0, out.stdout + out.stderr
    got, want = artefacts(home), artefacts(reference)
    assert got and set(got) <= set(want)
    for name, rows in got.items():
        assert rows == want[name], f"{name} differs from the uninterrupted run"
        key = IDENTITY.get(Path(name).name, "id" if name.startswith("eval/") else None)
        ids = [json.loads(r)[key] for r in rows] if key else []
        assert len(ids) == len(set(ids)), f"duplicate records in {name}"
    models = [r["name"] for r in read_jsonl(home/GENERATED/"models/registry.jsonl")]
    assert models == ["culturellm-bengali"]   # registered once
    assert json.loads((home/GENERATED/"models/culturellm-bengali/training.json").read_text())["resumed"] is True
    leftovers = [p for p in home.rglob("*") if p.name.endswith((".part", ".tmp")) or p.name.startswith("checkpoint-")]
    assert leftovers == []
    assert (home/"reports/smoke/bengali.html").read_text().rstrip().endswith("</html>")
