"""The paper-scale path at CI size: evaluation through the Batch API of a stand-in with the real service's limits on a
simulated clock — several batches per model, 20% injected faults, expired batches, and a kill in the middle of a
multi-batch submission, and batches made whose answer was lost — answers every request once and gives the results of a fault-free run."""
import json, os, signal, subprocess
import pytest
from conftest import CLI, run_cli, scratch_home, work_in
from culturellm.serve import FAULT_KINDS, LOST, Faults, FastResponder, Limits, StandInServer

CULTURES, PER_TASK, FILE_LIMIT = ["bengali", "german"], 30, 40     # ~330 rows x 2 views: 3 or more files a view


def sim_profile(home, url):
    (home/"data/profiles/sim.yaml").write_text(
        f"cultures: {json.dumps(CULTURES)}\nroles:\n  base: {{backend: openai, model: fast, base_url: '{url}', batch_api: true, poll_seconds: 60,"
        f" batch_max_requests: {FILE_LIMIT}, max_retries: 12, batch_window_seconds: 5}}\nevaluate: {{models: [base, base+system], per_task: {PER_TASK}, bootstrap: 50}}\n")


def predictions(home):
    "model/culture/task -> {id: pred} of every predictions file."
    root = home/"data/generated/sim/eval"
    return {str(p.relative_to(root)): {r["id"]: r["pred"] for r in map(json.loads, p.read_text().splitlines())} for p in root.rglob("*.jsonl")}


def prompt_hashes(home):
    "The distinct conversations the predictions were made from (each a request)."
    return {json.loads(line)["prompt_hash"] for p in (home/"data/generated/sim/eval").rglob("*.jsonl") for line in p.read_text().splitlines()}


def kill_on_second_batch(server, child):
    "Kill the evaluating process once the server has created its second batch, before the client hears of it."
    create = server.routes[("POST", r"/v1/batches")]
    def created_then_kill(body, **kw):
        answer = create(body, **kw)
        if len(server.batches) == 2: os.kill(child[0].pid, signal.SIGKILL)
        return answer
    server.routes[("POST", r"/v1/batches")] = created_then_kill


def test_batches_under_faults_expiry_and_a_kill_answer_each_request_once_with_the_fault_free_results(tmp_path, monkeypatch):
    monkeypatch.setenv("CULTURELLM_SIM_CLOCK", str(tmp_path/"clock"))
    limits = Limits.of("openai", batch_max_requests=FILE_LIMIT, seed=3)
    with StandInServer(FastResponder(), models=["fast"], limits=limits) as clean:
        work_in(monkeypatch, scratch_home(tmp_path/"clean")); sim_profile(tmp_path/"clean", clean.url)
        out = run_cli("evaluate", "--profile", "sim")
        assert out.returncode == 0, out.stderr[-3000:]
        expected = predictions(tmp_path/"clean")

    faults = Faults(rate=0.2, kinds=FAULT_KINDS + (LOST,), retry_after=5, hang_seconds=0.05, seed=7)   # LOST: an upload or batch made, its answer lost
    with StandInServer(FastResponder(), faults, models=["fast"], limits=Limits.of("openai", batch_max_requests=FILE_LIMIT, expire_rate=0.3, seed=3)) as faulty:
        home = scratch_home(tmp_path/"faulty"); work_in(monkeypatch, home); sim_profile(home, faulty.url)
        child = [None]
        kill_on_second_batch(faulty, child)
        child[0] = subprocess.Popen([str(CLI), "evaluate", "--profile", "sim"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
        _, err = child[0].communicate(timeout=900)
        assert child[0].returncode == -signal.SIGKILL, err[-3000:]
        assert len(faulty.batches) == 2                                       # killed in the middle of a three-file submission
        out = run_cli("evaluate", "--profile", "sim")
        assert out.returncode == 0, out.stderr[-3000:]

    faults = [r["fault"] for r in faulty.log if r["fault"] is not None]     # drawn per POST (~40 here: uploads and batch creations), keyed by what was sent,
    assert faults                                                             # which holds the stand-in's port (parts' keys); the faults did happen (4 to 19 seen; none: p = 0.8^40 < 1e-3)
    assert any(b["status"] == "expired" for b in faulty.batches.values())    # ... and so did expiries
    assert set(faulty.accepted) == set(clean.accepted)                        # every request answered ...
    assert set(faulty.accepted.values()) == {1}                               # ... and paid for once
    assert len(clean.accepted) >= len({h for h in prompt_hashes(home)}) > 600
    assert predictions(home) == expected
    assert len(clean.batches) == -(-len(clean.accepted) // FILE_LIMIT)        # both views' requests in one round: as few files as the limit allows
    calls = [r["method"] for r in clean.log if r["path"].startswith("/v1/batches")]
    assert calls[:3] == ["POST"] * 3                                          # the files of one view go out together, then are polled
