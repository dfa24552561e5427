"""The bad-input suite: broken WVS files, upstream data, registries, profiles, papermill parameters and model outputs.
Each case must end in a clear error (what, where, how to fix) or a counted skip, and must leave nothing half-written."""
import hashlib, json, shutil, sqlite3
from pathlib import Path
import pandas as pd
import pytest
from culturellm.core import ConfigError, DataError, iter_jsonl, load_profile, read_yaml, registry_entry
from conftest import ROOT, run_cli

TASK = {"culture": "bengali", "task": "t", "type": "offensive", "path": "data/local/t.jsonl", "text": "data", "label": "label",
        "labels": ["OFF", "NOT"], "verbalizers": {"OFF": "offensive", "NOT": "not offensive"}, "prompt": "offensive",
        "metric": "macro_f1", "version": 1}
GOOD_ROW = json.dumps({"data": "a sentence", "label": "OFF"})


def write(home: Path, relative: str, text: str) -> Path:
    path = home/relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def microdata(home: Path, edit) -> Path:
    "The Bangladesh WVS extract with `edit(frame)` applied."
    from culturellm.data import upstream_file
    frame = pd.read_csv(upstream_file("Bengali/Bangladesh.csv"), dtype=str)
    path = home/"bad.csv"
    edit(frame).to_csv(path, index=False)
    return path


def read_microdata(path):
    from culturellm.wvs import read_microdata
    return read_microdata(path)


def set_cell(frame, row, column, value):
    frame.iloc[row, frame.columns.get_loc(column)] = value
    return frame


def task_file(home: Path, *lines: str) -> dict:
    write(home, TASK["path"], "\n".join(lines) + "\n")
    return TASK


def load_task(task):
    from culturellm.tasks import load_task
    return load_task(task)


def profile(home: Path, text: str) -> dict:
    write(home, "data/profiles/bad.yaml", text)
    return load_profile("bad")


def task_registry(home: Path, edit) -> list:
    from culturellm.tasks import culture_tasks
    path = home/"data/registry/tasks/bengali.yaml"
    entries = read_yaml(path)
    edit(entries[0])
    import yaml
    path.write_text(yaml.safe_dump(entries, allow_unicode=True))
    return culture_tasks("bengali")


NATURAL_TASK = """- task: offensive_detect
  type: offensive
  path: data/local/t.jsonl
  text: data
  label: label
  {labels}
  prompt: offensive
  metric: f1_macro
  version: 1
"""


def natural_task(home: Path, labels: str) -> list:
    "A task registry `x.yaml` as a new user writes it (words unquoted), read."
    from culturellm.tasks import culture_tasks
    write(home, "data/registry/tasks/x.yaml", NATURAL_TASK.format(labels=labels))
    return culture_tasks("x")


def natural_family(home: Path) -> dict:
    "A task family written with unquoted words (`no`, `off`, `OFF` are booleans to YAML), read."
    from culturellm.tasks import task_families
    path = home/"data/registry/task_families.yaml"
    path.write_text(path.read_text() + "\nrude: {rules: [[no, NOT], [off, OFF]]}\n")
    return task_families()


def truncated_upstream(home: Path):
    from culturellm.data import upstream_file
    path = upstream_file("Bengali/Bangladesh.csv")
    path.write_bytes(path.read_bytes()[:-100])
    return upstream_file("Bengali/Bangladesh.csv")


def corrupt_mirror(home: Path, monkeypatch):
    from culturellm.data import fetch_file
    mirror = home/"mirror/Bengali"
    mirror.mkdir(parents=True)
    original = (ROOT.parent/"shared/upstream-data/Bengali/Bangladesh.csv")
    from culturellm.data import upstream_file
    data = bytearray(Path(upstream_file("Bengali/Bangladesh.csv")).read_bytes())
    data[500] = ord("9") if data[500] != ord("9") else ord("8")           # same size, one byte changed
    (mirror/"Bangladesh.csv").write_bytes(bytes(data))
    monkeypatch.setenv("CULTURELLM_DATA_MIRROR", str(home/"mirror"))
    return fetch_file("Bengali/Bangladesh.csv", force=True, root=home/"fresh")


def empty_mirror(home: Path, monkeypatch):
    from culturellm.data import fetch_file
    (home/"mirror").mkdir()
    monkeypatch.setenv("CULTURELLM_DATA_MIRROR", str(home/"mirror"))
    return fetch_file("Bengali/Bangladesh.csv", root=home/"fresh")


def questions_without_topic(home: Path):
    from culturellm.data import upstream_file
    from culturellm.wvs import build_questions
    rows = [json.loads(l) for l in Path(upstream_file("WVQ.jsonl")).read_text().splitlines() if l.strip()]
    del rows[3]["topic"]
    path = write(home, "WVQ.jsonl", "\n".join(json.dumps(r) for r in rows))
    return build_questions(path)


def training_file(home: Path, row: dict):
    from culturellm.sft import check_training_file
    good = {"messages": [{"role": "user", "content": "Q?"}, {"role": "assistant", "content": "1"}]}
    return check_training_file(write(home, "train.jsonl", json.dumps(good) + "\n" + json.dumps(row) + "\n"))


def ratings(home: Path, text: str):
    from culturellm.judge import import_human_ratings
    return import_human_ratings(write(home, "ratings.csv", text), pd.DataFrame({"item": ["a1", "a2"]}))


def corrupt_cache(home: Path):
    from culturellm.llm import ResponseCache
    path = write(home, "cache.sqlite", "this is not a database" * 100)
    return ResponseCache(path)


def not_an_adapter(home: Path):
    from culturellm.hf import _adapter_identity
    (home/"adapter").mkdir()
    return _adapter_identity(home/"adapter", "gemma-3-270m")


def unknown_parameter(home: Path):
    from culturellm.pipeline import check_parameters, experiment_path
    return check_parameters(experiment_path("culture"), {"culture": "bengali", "cultur": "arabic"})


def unknown_role(home: Path):
    from culturellm.llm import role_spec
    return role_spec(load_profile("smoke"), "translator-x")


def unknown_backend(home: Path):
    from culturellm.llm import make_backend
    return make_backend({"backend": "telepathy", "model": "x"})


def augment_setting(home: Path):
    from culturellm.augment import augment_config
    return augment_config({**load_profile("smoke"), "augment": {"paraphrases": 3}}, "improved")


def evaluate_model(home: Path):
    from culturellm.evaluate import eval_config
    return eval_config({**load_profile("smoke"), "evaluate": {"models": ["base", "gpt-5-turbo"]}})


def unknown_task(home: Path):
    from culturellm.tasks import task_entry
    return task_entry("bengali", "sarcasm")


def unknown_label_rule(home: Path):
    from culturellm.wvs import corrected_labels
    return corrected_labels("bengali", rule="median")


def unknown_country(home: Path):
    from culturellm.wvs import country_counts
    return country_counts("ATL")


CULTURE = "{name: X, lang: xx, language: X, countries: [XXX], resource: low, upstream_name: X, paper_copies: [[XXX, avg]]"


def added_culture(home: Path, extra: str=""):
    "Append a culture `x` to the scratch registry (`extra`: more fields, e.g. `, resource: mid`)."
    registry = home/"data/registry/cultures.yaml"
    registry.write_text(registry.read_text() + f"\nx: {CULTURE}{extra}}}\n")
    return "x"


def culture_with_bad_field(home: Path):
    return registry_entry("cultures", added_culture(home, ", ressource: low"))


def culture_without_context(home: Path):
    from culturellm.evaluate import culture_context
    return culture_context(added_culture(home))


def floating_alias(home: Path):
    from culturellm.openai_backend import check_pinned
    return check_pinned("gpt-4o-mini", "https://api.openai.com/v1")


CASES = {
    # WVS microdata and the question bank
    "wvs-missing-column": (lambda h, m: read_microdata(microdata(h, lambda f: f.drop(columns=["Q40"]))), DataError, r"bad.csv: missing column\(s\) \['Q40'\]"),
    "wvs-text-in-code": (lambda h, m: read_microdata(microdata(h, lambda f: set_cell(f, 9, "Q35", "yes"))), DataError, r"bad.csv:11: column Q35 holds 'yes'"),
    "wvs-missing-file": (lambda h, m: read_microdata(h/"nope.sav"), DataError, r"nope.sav: microdata file not found"),
    "wvs-no-country-column": (lambda h, m: read_microdata(microdata(h, lambda f: f.drop(columns=["B_COUNTRY_ALPHA"]))), DataError, r"bad.csv: missing column.*B_COUNTRY_ALPHA"),
    "wvs-question-without-topic": (lambda h, m: questions_without_topic(h), DataError, r"WVQ.jsonl:4: missing field\(s\) \['topic'\]"),
    "wvs-unknown-country": (lambda h, m: unknown_country(h), ConfigError, r"no WVS answers for country 'ATL'"),
    "wvs-unknown-label-rule": (lambda h, m: unknown_label_rule(h), ConfigError, r"unknown label rule 'median'; known: "),
    # upstream data files
    "upstream-truncated": (lambda h, m: truncated_upstream(h), DataError, r"Bangladesh.csv: \d+ bytes expected, found \d+ \(truncated or edited\); run `culturellm data fetch --force`"),
    "upstream-wrong-checksum": (corrupt_mirror, DataError, r"Bengali/Bangladesh.csv: fetched copy is corrupted: sha256 mismatch"),
    "upstream-missing-in-mirror": (empty_mirror, DataError, r"Bengali/Bangladesh.csv: not found in the mirror .*CULTURELLM_DATA_MIRROR"),
    "upstream-not-catalogued": (lambda h, m: __import__("culturellm.data").data.upstream_file("Bengali/other.csv"), DataError, r"'Bengali/other.csv' is not in the upstream catalogue"),
    "task-bad-json-line": (lambda h, m: load_task(task_file(h, GOOD_ROW, '{"data": "x", "label": ')), DataError, r"t.jsonl:2: invalid JSON"),
    "task-missing-text": (lambda h, m: load_task(task_file(h, GOOD_ROW, json.dumps({"text": "x", "label": "OFF"}))), DataError, r"t.jsonl:2: no text field 'data'"),
    "task-missing-label": (lambda h, m: load_task(task_file(h, GOOD_ROW, GOOD_ROW, json.dumps({"data": "x"}))), DataError, r"t.jsonl:3: no gold label field 'label'"),
    "task-empty-file": (lambda h, m: load_task(task_file(h, "", "")), DataError, r"t.jsonl: empty task file"),
    "task-missing-file": (lambda h, m: load_task({**TASK, "path": "data/local/none.jsonl"}), DataError, r"none.jsonl: data file of task bengali/t not found"),
    "jsonl-not-an-object": (lambda h, m: list(iter_jsonl(write(h, "x.jsonl", '{"a": 1}\n[1, 2]\n'))), DataError, r"x.jsonl:2: expected a JSON object, got list"),
    # registries and profiles
    "profile-unknown": (lambda h, m: load_profile("laptpo"), ConfigError, r"unknown profile 'laptpo'; known: .*laptop"),
    "profile-unknown-key": (lambda h, m: profile(h, "cultures: [bengali]\nepochs: 3\n"), ConfigError, r"bad.yaml: unknown key 'epochs'; allowed: "),
    "profile-wrong-type": (lambda h, m: profile(h, "cultures: bengali\n"), ConfigError, r"bad.yaml: 'cultures' must be a list, got str"),
    "profile-unknown-culture": (lambda h, m: profile(h, "cultures: [bengali, klingon]\n"), ConfigError, r"bad.yaml: unknown culture\(s\) \['klingon'\]"),
    "profile-role-without-model": (lambda h, m: profile(h, "roles: {augmenter: {backend: hf}}\n"), ConfigError, r"bad.yaml: role 'augmenter' needs a mapping with 'backend' and 'model'"),
    "profile-invalid-yaml": (lambda h, m: profile(h, "cultures: [bengali\nroles: {\n"), ConfigError, r"bad.yaml.*invalid YAML"),
    "profile-unknown-role": (lambda h, m: unknown_role(h), ConfigError, r"profile 'smoke' has no role 'translator-x'; roles: "),
    "profile-unknown-backend": (lambda h, m: unknown_backend(h), ConfigError, r"unknown backend 'telepathy'"),
    "profile-unknown-augment-setting": (lambda h, m: augment_setting(h), ConfigError, r"unknown augment setting\(s\) \['paraphrases'\]"),
    "profile-unknown-evaluated-model": (lambda h, m: evaluate_model(h), ConfigError, r"unknown evaluate model\(s\) \['gpt-5-turbo'\]"),
    "profile-floating-model-alias": (lambda h, m: floating_alias(h), ConfigError, r"'gpt-4o-mini' is a floating alias; pin a dated snapshot"),
    "registry-unknown-model": (lambda h, m: registry_entry("models", "llama-9000"), ConfigError, r"unknown models entry 'llama-9000'; known: .*data/registry/models.yaml"),
    "registry-task-lacks-field": (lambda h, m: task_registry(h, lambda e: e.pop("labels")), ConfigError, r"bengali.yaml: task \w+: lacks field `labels` \(a non-empty list of strings\)"),
    "registry-task-unquoted-labels": (lambda h, m: natural_task(h, "labels: [OFF, NOT]\n  verbalizers: {'OFF': 'OFF', NOT: NOT_OFF}"), ConfigError,
                                      r"tasks/x.yaml: task offensive_detect: field `labels`: \[False, 'NOT'\] is not a non-empty list of strings \(YAML reads unquoted OFF/NO/ON/YES as booleans: write \"OFF\"\)"),
    "registry-task-bare-verbalizers": (lambda h, m: natural_task(h, "labels: ['OFF', NOT]\n  verbalizers: {OFF: OFF, NOT: NOT_OFF}"), ConfigError,
                                           r"tasks/x.yaml: task offensive_detect: field `verbalizers`: .* \(YAML reads unquoted OFF/NO/ON/YES as booleans: write \"OFF\"\)"),
    "registry-task-version-text": (lambda h, m: task_registry(h, lambda e: e.update(version="2")), ConfigError, r"bengali.yaml: task \w+: field `version`: '2' is not an integer"),
    "registry-task-family-unquoted": (lambda h, m: natural_family(h), ConfigError, r"task_families.yaml: family rude: field `rules`: .*write \"no\", \"off\", \"OFF\"\)"),
    "registry-task-verbalizers": (lambda h, m: task_registry(h, lambda e: e["verbalizers"].popitem()), ConfigError, r"bengali.yaml: task \w+: verbalizers must cover exactly the labels"),
    "registry-task-prompt-family": (lambda h, m: task_registry(h, lambda e: e.update(prompt="riddle")), ConfigError, r"bengali.yaml: task \w+: unknown prompt family 'riddle'"),
    "registry-unknown-task": (lambda h, m: unknown_task(h), ConfigError, r"bengali has no task 'sarcasm'; tasks: "),
    "registry-culture-unknown-field": (lambda h, m: culture_with_bad_field(h), ConfigError, r"cultures.yaml: entry 'x': unknown field `ressource`; known: name, "),
    "registry-culture-without-context": (lambda h, m: culture_without_context(h), ConfigError, r"cultures.yaml: culture 'x' has neither `context` .* nor `context_key`"),
    # papermill parameters
    "papermill-unknown-parameter": (lambda h, m: unknown_parameter(h), ConfigError, r"culture.ipynb: unknown parameter\(s\) \['cultur'\]; declared: "),
    "papermill-unknown-stage": (lambda h, m: __import__("culturellm.pipeline").pipeline.reproduce("smoke", stages=["bengal"]), ConfigError, r"unknown stage\(s\) \['bengal'\]; stages: augment, bengali, chinese, one, studies, paper"),
    "papermill-unknown-notebook": (lambda h, m: __import__("culturellm.pipeline").pipeline.experiment_path("cultures"), ConfigError, r"no experiment notebook .*cultures.ipynb"),
    # model outputs, training files, caches and artefacts
    "training-row-without-answer": (lambda h, m: training_file(h, {"messages": [{"role": "user", "content": "Q?"}]}), DataError, r"train.jsonl:2: "),
    "training-row-bad-role": (lambda h, m: training_file(h, {"messages": [{"role": "robot", "content": "Q?"}, {"role": "assistant", "content": "1"}]}), DataError, r"train.jsonl:2: .*robot"),
    "ratings-out-of-range": (lambda h, m: ratings(h, "item,rating\na1,4\na2,7\n"), DataError, r"ratings.csv:3: rating must be an integer from 1 to 5, got '7'"),
    "ratings-unknown-item": (lambda h, m: ratings(h, "item,rating\nzz,4\n"), DataError, r"ratings.csv:2: unknown item 'zz'"),
    "cache-corrupt": (lambda h, m: corrupt_cache(h), DataError, r"cache.sqlite: response cache is corrupt .*delete it"),
    "adapter-not-peft": (lambda h, m: not_an_adapter(h), ConfigError, r"adapter: not a peft adapter folder \(no adapter_config.json\)"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_gives_a_clear_error(case, home, monkeypatch):
    make, error, message = CASES[case]
    with pytest.raises(error, match=message):
        make(home, monkeypatch)
    half_written = [str(p) for p in home.rglob("*.part")] + [str(p) for p in home.rglob("*.tmp")]
    assert half_written == []


def test_the_suite_is_broad_enough():
    kinds = {name.split("-")[0] for name in CASES}
    assert len(CASES) >= 30 and {"wvs", "upstream", "task", "profile", "registry", "papermill", "training"} <= kinds


def test_failed_fetch_leaves_no_file(home, monkeypatch):
    with pytest.raises(DataError): corrupt_mirror(home, monkeypatch)
    assert list((home/"fresh").rglob("*")) == [home/"fresh/Bengali"]      # the folder only: no copy, no .part file


def test_unknown_gold_labels_are_counted_not_guessed(home):
    rows, skipped = load_task(task_file(home, GOOD_ROW, json.dumps({"data": "b", "label": "MAYBE"}), json.dumps({"data": "c", "label": ""}),
                                        json.dumps({"data": "", "label": "OFF"})))
    assert list(rows.gold) == ["OFF"] and skipped == {"gold_outside_labels": 1, "empty_gold": 1, "no_text": 1}


def test_unparseable_answers_are_counted_invalid_never_coerced():
    from culturellm.evaluate import task_metrics
    from culturellm.tasks import INVALID, parse_answer
    answers = ["Offensive.", "It is NOT offensive", "Hard to say.", "¯\\_(ツ)_/¯"]
    preds = [parse_answer("offensive", a)[0] for a in answers]
    assert preds == ["OFF", "NOT", INVALID, INVALID]
    metrics = task_metrics(pd.DataFrame({"gold": ["OFF", "NOT", "OFF", "NOT"], "pred": preds}), ["OFF", "NOT"], n_boot=0)
    assert metrics["invalid_rate"] == 0.5 and metrics["accuracy"] == 0.5


def test_paraphrase_lists_with_noise_parse_to_the_items_only():
    from culturellm.augment import parse_numbered
    text = "Sure! Here are the paraphrases:\n\n1. First one.\n2)  \n(3) Third one\n- Fourth\nHope this helps."
    assert parse_numbered(text) == ["First one.", "", "Third one", "Fourth"]


def test_cli_reports_bad_microdata_without_a_traceback_and_keeps_the_tables(home):
    bad = microdata(home, lambda f: set_cell(f, 2, "Q27", "n/a"))
    tables = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (home/"data/wvs").iterdir()}
    out = run_cli("wvs", "build-table", "--microdata", bad)
    assert out.returncode == 2 and "bad.csv:4: column Q27 holds 'n/a'" in out.stderr and "Traceback" not in out.stderr
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (home/"data/wvs").iterdir()} == tables
