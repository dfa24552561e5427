"A new study by configuration alone: its experiment notebook and one entry of `data/registry/stages.yaml`; `reproduce` and `plan` pick it up."
import json
import nbformat
from culturellm.pipeline import runs, stage_reads
from conftest import run_cli

ENTRY = "census: {reads: [augment], planners: ['census_plan:census_plan'], section: studies}\n"
PLANNER = '''def census_plan(profile):
    "One request per culture of the run, to the base."
    return [{"stage": "census", "step": "count the cultures", "role": "base", "requests": len(profile["cultures"]),
             "prompt_tokens": 10 * len(profile["cultures"]), "completion_tokens": 0}]
'''


def census_notebook() -> nbformat.NotebookNode:
    "An experiment notebook: a tagged parameters cell, then one library call whose result it shows."
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nb.cells = [nbformat.v4.new_markdown_cell("# Census\n\n> How many cultures this profile runs."),
                nbformat.v4.new_code_cell('profile = "smoke"', metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("from culturellm.core import load_profile\nprint(f\"cultures counted: {len(load_profile(profile)['cultures'])}\")")]
    return nb


def add_census(home):
    "The study's notebook, its planner (a module on PYTHONPATH) and its registry entry, placed before the paper notebook."
    nbformat.write(census_notebook(), home/"nbs/experiments/census.ipynb")
    (home/"census_plan.py").write_text(PLANNER)
    stages = home/"data/registry/stages.yaml"
    stages.write_text(stages.read_text().replace("paper: {}\n", ENTRY + "paper: {}\n"))


def test_a_stage_added_by_configuration_runs_and_is_planned(home, monkeypatch):
    add_census(home)
    monkeypatch.setenv("PYTHONPATH", str(home))
    planned = runs("smoke", ["bengali", "chinese"])
    assert [name for _, name, _ in planned] == ["augment", "bengali", "chinese", "one", "studies", "census", "paper"]
    reads = stage_reads(planned)
    assert reads["census"] == ["augment"] and "census" in reads["paper"]           # it reads the augmentation; the paper reads it
    shown = run_cli("plan", "--profile", "smoke")
    assert shown.returncode == 0, shown.stderr
    assert "census" in shown.stdout and "count the cultures" in shown.stdout
    out = run_cli("reproduce", "--profile", "smoke", "--stages", "census")
    assert out.returncode == 0, out.stdout + out.stderr
    reports = home/"reports/smoke"
    assert "cultures counted: 2" in (reports/"census.html").read_text()
    records = {r["name"]: r for r in json.loads((reports/"runs.json").read_text())["runs"]}
    assert records["census"]["status"] == "ok" and 'href="census.html"' in (reports/"index.html").read_text()
