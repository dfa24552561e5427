"""A new culture by configuration alone: the steps of nbs/guides/01_add_culture_task_model_stage.ipynb, in order, on a fictional culture built here, run end to end.
The base is a tiny random Gemma-3 (`tiny_random_model`): configuration is machinery, and the 270M base's arithmetic would only lengthen the test."""
import json
from pathlib import Path
import numpy as np
import pandas as pd
import yaml
from culturellm.evaluate import SYSTEMS
from culturellm.wvs import QUESTION_IDS, load_questions
from culturellm.hf import tiny_random_model
from conftest import run_cli, tiny_base

RESPONDENTS = 1100   # over 1000: upstream's `Avg_First` and its off-by-one in `Avg` both matter
CONTEXT = "Atlantis is a small island republic whose people value the sea, the family and the village council."
CULTURE = f"""
atlantean:
  name: Atlantean
  lang: en
  language: English
  countries: [XAT]
  resource: low
  upstream_name: Atlantean
  paper_copies: [[XAT, avg], [XAT, avg_first]]
  context: "{CONTEXT}"
"""
TASK = """- task: offensive_detect
  type: offensive
  path: data/tasks/atlantean/offensive.jsonl
  text: text
  label: label
  labels: ['OFF', 'NOT']
  verbalizers: {'OFF': 'OFF', 'NOT': 'NOT_OFF'}
  prompt: offensive
  metric: f1_macro
  version: 1
"""
POLITE = ["Thank you for the fish, neighbour.", "The council meets at noon by the harbour.", "Your boat looks lovely today.",
          "We sailed home before the storm.", "Grandmother baked bread for the village.", "The tide is low this morning."]
RUDE = ["Shut up, you useless idiot.", "Nobody wants your stinking boat here, moron.", "Get lost, you pathetic fool.",
        "You are a worthless liar and a thief.", "What a stupid, ugly face you have.", "Go drown yourself, loser."]


def microdata(path: Path) -> np.ndarray:
    "A WVS wave 7 file of one invented country (900/XAT), no summary rows; returns its codes in file order."
    rng, scales = np.random.default_rng(7), load_questions().scale
    codes = np.column_stack([rng.choice([*scales[q], -1, -2], size=RESPONDENTS, p=weights(len(scales[q]))) for q in QUESTION_IDS])
    codes[1000:] = [max(scales[q]) for q in QUESTION_IDS]          # the last respondents (a second region) all answer the top code
    table = pd.DataFrame(codes, columns=[f"Q{q}" for q in QUESTION_IDS])
    table.insert(0, "B_COUNTRY_ALPHA", "XAT"); table.insert(0, "B_COUNTRY", 900); table.insert(0, "A_YEAR", 2020)
    table.to_csv(path, index=False)
    return codes


def weights(k: int) -> np.ndarray:
    "A skewed answer distribution over k scale codes, then don't know and no answer."
    w = np.r_[np.arange(k, 0, -1, dtype=float), 0.5, 0.3]
    return w / w.sum()


def upstream_labels(codes: np.ndarray) -> dict:
    """Upstream's two label copies, computed here from the protocol's words: mean of the raw codes (respondent 1001
    left out of the sum, not the count) and mean of the first 1000; truncated toward zero, then the absolute value."""
    label = lambda means: " ".join(str(abs(int(m))) for m in means)
    return {"avg": label((codes.sum(0) - codes[1000]) / len(codes)), "avg_first": label(codes[:1000].mean(0))}


def add_culture(home: Path, tmp_path: Path) -> np.ndarray:
    "The guide's steps: the country's answers, the culture entry with its context paragraph, its tasks."
    codes = microdata(tmp_path/"xat.csv")
    built = run_cli("wvs", "build-table", "--microdata", tmp_path/"xat.csv", "--countries", "XAT")
    assert built.returncode == 0, built.stderr
    with open(home/"data/registry/cultures.yaml", "a") as f: f.write(CULTURE)
    (home/"data/registry/tasks/atlantean.yaml").write_text(TASK)
    rows = [{"text": t, "label": "NOT"} for t in POLITE] + [{"text": t, "label": "OFF"} for t in RUDE]
    (home/"data/tasks/atlantean").mkdir(parents=True)
    (home/"data/tasks/atlantean/offensive.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return codes


def test_a_fictional_culture_runs_through_every_stage_by_configuration_alone(home, tmp_path):
    codes = add_culture(home, tmp_path)
    averages = pd.read_csv(home/"data/wvs/upstream_averages.csv")
    assert set(averages[averages.country == "XAT"].source) == {"computed"}   # no recorded rows: upstream's rule applied
    expected = upstream_labels(codes)
    paper = run_cli("wvs", "labels", "--culture", "atlantean", "--mode", "paper")
    assert paper.returncode == 0 and paper.stdout.strip() == expected["avg"], paper.stderr
    assert expected["avg"] != expected["avg_first"]                          # the two copies really differ

    tiny_base(home, "smoke", tiny_random_model("gemma-3-270m", tmp_path/"tiny-gemma"))
    out = run_cli("reproduce", "--profile", "smoke", "--cultures", "atlantean", "--stages", "augment", "atlantean", "paper")
    assert out.returncode == 0, out.stdout + out.stderr
    reports, generated = home/"reports/smoke", home/"data/generated/smoke"
    assert (reports/"atlantean.html").read_text().rstrip().endswith("</html>")
    main = pd.read_csv(reports/"paper/main_f1_by_culture.csv")
    assert "atlantean" in set(main.iloc[:, 0])
    tasks = pd.read_csv(reports/"paper/tasks.csv")
    assert tasks[["culture", "task"]].values.tolist() == [["atlantean", "offensive_detect"]]
    models = {p.parent.parent.name for p in generated.glob("eval/*/atlantean/offensive_detect.jsonl")}
    assert {"base", "base+context"} <= models and any(m.startswith("culture") for m in models), models
    assert SYSTEMS["context"]("atlantean", "corrected")[0]["content"].endswith(CONTEXT)   # the registry's paragraph
