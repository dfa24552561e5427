"""Evaluation: the task list, bad task data, and resumable predictions — through the CLI and the real embedded model."""
import json
from pathlib import Path
import pytest
from conftest import run_cli

PROTOCOL_COUNTS = {  # culture/task -> (rows, gold label counts) from UPSTREAM-PROTOCOL.md §3, spot checks across cultures
    "arabic/hate_detect_fine-grained": (2541, "NOT_HS:2270, HS6:133, HS1:78, HS3:32, HS5:19, HS2:7, HS4:2"),
    "bengali/threat_detect": (1000, "0:930, 1:70"),
    "chinese/bias_on_gender_detect": (1000, "0:928, 1:72"),
    "english/offensive_detect_easy": (1000, "NOT:1000"),
    "german/hate_detect_check": (1000, "HS:930, NOT_HS:70"),
    "korean/hate_detect_6": (1000, "NOT_HS:607, (empty):218, HS:175"),
    "portuguese/homophobia_detect": (1000, "0:998, 1:2"),
    "spanish/negative_stance_detect": (1000, "0:852, 1:148"),
    "turkish/spam_detect": (825, "Ham:493, Spam:332"),
}


def test_tasks_list_gives_58_tasks_matching_upstream():
    out = run_cli("tasks", "list")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 58
    per_culture = {}
    for line in lines:
        name = line.split()[0]
        per_culture[name.split("/")[0]] = per_culture.get(name.split("/")[0], 0) + 1
        if name in PROTOCOL_COUNTS:
            rows, labels = PROTOCOL_COUNTS[name]
            assert f"rows={rows}  labels={labels}" in line, line
    assert per_culture == {"arabic": 10, "bengali": 6, "chinese": 2, "english": 6, "german": 5, "korean": 6, "portuguese": 5, "spanish": 11, "turkish": 7}


def own_task(home, rows, name="mine"):
    "A culture 'bengali' task on a local file of our own rows."
    data = home/"data/mytask.jsonl"
    data.write_text("".join(r if isinstance(r, str) else json.dumps(r) + "\n" for r in rows))
    reg = home/"data/registry/tasks/bengali.yaml"
    reg.write_text(reg.read_text() + f"- {{task: {name}, type: offensive, path: data/mytask.jsonl, text: data, label: label, labels: ['OFF', NOT],"
                   " verbalizers: {'OFF': 'OFF', NOT: NOT_OFF}, prompt: offensive, metric: f1_macro, version: 1}\n")
    (home/"data/profiles/ev.yaml").write_text("cultures: [bengali]\nroles:\n  base: {backend: hf, model: gemma-3-270m, dtype: auto}\n"
                                             "evaluate: {models: [base], per_task: 12, bootstrap: 100}\n")


def test_bad_task_rows_are_errors_or_counted_skips(home):
    own_task(home, [{"data": "fine", "label": "NOT"}, {"data": "bad!", "label": "OFF"}, {"data": "?", "label": "MAYBE"}, {"data": "", "label": "NOT"}])
    from culturellm.tasks import load_task, task_entry
    rows, skipped = load_task(task_entry("bengali", "mine"), "corrected")
    assert len(rows) == 2 and skipped == {"gold_outside_labels": 1, "no_text": 1}
    own_task(home, [{"data": "fine", "label": "NOT"}, {"text_is_elsewhere": "x", "label": "NOT"}])
    out = run_cli("evaluate", "--profile", "ev", "--culture", "bengali")
    assert out.returncode == 2 and "mytask.jsonl:2: no text field 'data'" in out.stderr
    own_task(home, [])
    assert "empty task file" in run_cli("evaluate", "--profile", "ev", "--culture", "bengali").stderr
    own_task(home, [{"data": "x"}])
    assert "mytask.jsonl:1: no gold label field 'label'" in run_cli("evaluate", "--profile", "ev", "--culture", "bengali").stderr


def test_interrupted_evaluation_resumes_without_loss_or_duplicates(home):
    own_task(home, [{"data": f"sentence number {i} {'you idiot' if i % 3 == 0 else 'have a nice day'}", "label": "OFF" if i % 3 == 0 else "NOT"} for i in range(40)])
    from culturellm.core import load_profile
    from culturellm.evaluate import evaluate_culture, predictions_path
    first = evaluate_culture(load_profile("ev"), "bengali", ["base"], ["mine"])
    path = predictions_path("ev", "base", "bengali", "mine")
    complete = path.read_text()
    lines = complete.splitlines(keepends=True)
    path.write_text("".join(lines[:5]) + lines[5][:30])       # as if killed while writing the 6th record
    again = evaluate_culture(load_profile("ev"), "bengali", ["base"], ["mine"])
    records = [json.loads(l) for l in path.read_text().splitlines()]
    assert len(records) == 12 and len({r["id"] for r in records}) == 12
    before = {r["id"]: r["pred"] for r in map(json.loads, complete.splitlines())}
    assert {r["id"]: r["pred"] for r in records} == before          # the same predictions (re-predicted in another batch)
    assert first.f1.tolist() == again.f1.tolist()
