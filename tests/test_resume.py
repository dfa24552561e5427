"Interrupted work resumes: a run killed at every stage, then rerun, gives exactly the records of an uninterrupted run."
import json, os, subprocess, time
from pathlib import Path
import psutil
from culturellm.core import read_jsonl
from conftest import CLI, run_cli, run_in, scratch_home, work_in


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


def home_without_controls(folder: Path) -> Path:
    "A scratch home whose smoke profile trains no control: a control runs the culture model's own training, evaluation and report code again, which would only lengthen a test of resuming them."
    home = scratch_home(folder)
    profile = home/"data/profiles/smoke.yaml"
    kept = [line for line in profile.read_text().splitlines(True) if not line.startswith("controls:")]
    assert len(kept) == len(profile.read_text().splitlines()) - 1, "the smoke profile has no controls line to drop"
    profile.write_text("".join(kept))
    return home


def test_killed_at_every_stage_the_rerun_equals_an_uninterrupted_run(tmp_path, monkeypatch):
    reference = home_without_controls(tmp_path/"uninterrupted")
    assert run_in(reference, *KILLED_RUN).returncode == 0
    home = home_without_controls(tmp_path/"killed")
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
