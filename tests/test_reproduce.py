"""The papermill spine end to end: `culturellm reproduce` runs real notebooks, renders HTML and writes the index.
The base is a tiny random Gemma-3 (`tiny_random_model`: the embedded model's architecture and tokenizer, 2 layers of
width 64): the spine is machinery, and the 270M base's minutes of arithmetic prove nothing its notebooks' own tests and
`make reproduce` do not. The augmenter and judge stay the embedded SmolLM2, so augmentation and judging see real text."""
import json, shutil, urllib.parse
from pathlib import Path
import pandas as pd
import pytest
from culturellm.core import ConfigError
from culturellm.pipeline import experiment_path, run_notebook
from culturellm.hf import tiny_random_model
from conftest import run_cli, run_in, scratch_home, tiny_base, work_in


@pytest.fixture(scope="session")   # once per run (under `--dist loadfile`: once, in the worker running this file)
def smoke_home(tmp_path_factory):
    "One smoke reproduction shared by the tests of this module (it trains models: minutes)."
    home = scratch_home(tmp_path_factory.mktemp("smoke"))
    tiny_base(home, "smoke", tiny_random_model("gemma-3-270m", tmp_path_factory.mktemp("tiny-gemma")))
    return home, run_in(home, "reproduce", "--profile", "smoke")


def test_smoke_profile_writes_reports_and_index(smoke_home):
    home, out = smoke_home
    assert out.returncode == 0, out.stdout + out.stderr
    reports = home/"reports/smoke"
    index = (reports/"index.html").read_text()
    for culture in ("bengali", "chinese"):
        page = (reports/f"{culture}.html").read_text()
        assert f'href="{culture}.html"' in index
        assert "data:image/png" in page                # the distribution figure is embedded
        assert "from culturellm" not in page            # code cells are hidden from readers
        assert (reports/f"{culture}.ipynb").exists()   # the executed notebook is kept for audit
    runs = json.loads((reports/"runs.json").read_text())
    assert [(r["name"], r["status"]) for r in runs["runs"]] == [("augment", "ok"), ("bengali", "ok"), ("chinese", "ok"), ("one", "ok"), ("studies", "ok"), ("paper", "ok")]
    assert "data:image/png" in (reports/"augment.html").read_text()
    assert "paper_vs_corrected" in index and runs["provenance"]["profile"] == "smoke"
    timings = (reports/"timings.md").read_text()                                      # the time profile: a row and a section per stage run
    for name in ("augment", "bengali", "chinese", "one", "studies", "paper"): assert f"| {name} " in timings and f"## {name} (ran, " in timings, name
    header = next(line for line in timings.splitlines() if line.startswith("| stage "))               # the parts that took time: a column each
    assert all(part in header for part in ("training", "scoring", "generation", "embedding", "loading", "bootstrap", "rendering", "other")), header
    assert 'href="timings.md"' in index and "[smoke] time profile (" in out.stdout, out.stdout


DETERMINISTIC_STAGES = ["seed-accuracy", "evaluate", "evaluate_wordings", "alignment", "transfer", "ablation", "forgetting", "judge-answers", "finetune"]


def test_the_bill_plans_every_stage_the_run_used_and_counts_its_requests_exactly(smoke_home, monkeypatch):
    "The plan, set beside the usage ledger of a real run: no stage unplanned, and where requests do not depend on what a model writes, the count is exact."
    from culturellm.core import load_profile
    from culturellm.pipeline import bill
    home, _ = smoke_home
    work_in(monkeypatch, home)
    table = bill(load_profile("smoke")).drop("total")
    used = table[table.requests > 0]
    assert used.planned_requests.notna().all(), f"unplanned stages: {list(used.index[used.planned_requests.isna()])}"
    assert set(DETERMINISTIC_STAGES) <= set(used.index), table
    assert table.loc[DETERMINISTIC_STAGES, "requests"].tolist() == table.loc[DETERMINISTIC_STAGES, "planned_requests"].tolist(), table
    upper = [s for s in used.index if s not in DETERMINISTIC_STAGES]               # what depends on what models write (augmentation, identical answers judged once): bounds
    assert (table.loc[upper, "requests"] <= table.loc[upper, "planned_requests"]).all(), table
    shown = pd.read_csv(home/"reports/smoke/paper/bill.csv", index_col=0)          # the paper report shows it
    assert shown.loc["evaluate", "requests"] == table.loc["evaluate", "requests"]


def test_a_second_run_skips_every_stage_that_is_up_to_date(smoke_home, monkeypatch):
    home, _ = smoke_home
    work_in(monkeypatch, home)
    reports = home/"reports/smoke"
    executed = {p.name: p.stat().st_mtime_ns for p in reports.glob("*.ipynb")}
    out = run_cli("reproduce", "--profile", "smoke")
    assert out.returncode == 0, out.stdout + out.stderr
    runs = json.loads((reports/"runs.json").read_text())["runs"]
    assert [(r["name"], r["this run"]) for r in runs] == [(n, "up to date") for n in ("augment", "bengali", "chinese", "one", "studies", "paper")]
    assert out.stdout.count("up to date, skipped") == 6
    assert "time profile" in out.stdout and "no stage ran" in out.stdout, out.stdout             # the largest parts: of the stages run this time
    assert "| bengali | up to date" in (reports/"timings.md").read_text()                        # the times of the run that made it
    assert {p.name: p.stat().st_mtime_ns for p in reports.glob("*.ipynb")} == executed     # no notebook ran again
    out = run_cli("reproduce", "--profile", "smoke", "--stages", "paper")                     # a stage named is rerun ...
    assert out.returncode == 0 and "[smoke] paper: ok" in out.stdout, out.stdout + out.stderr
    out = run_cli("reproduce", "--profile", "smoke")                                          # ... and nothing reads it
    assert out.stdout.count("up to date, skipped") == 6, out.stdout


def test_a_failing_culture_does_not_stop_the_others_and_finished_work_is_skipped(smoke_home, monkeypatch):
    home, _ = smoke_home
    work_in(monkeypatch, home)
    trained_before = (home/"data/generated/smoke/models/registry.jsonl").read_text()
    registry = home/"data/registry/cultures.yaml"
    registry.write_text(registry.read_text() + "\natlantis: {name: A, lang: xx, language: X, countries: [ATL], resource: low,"
                        " upstream_name: A, paper_copies: [[ATL, avg]]}\n")
    out = run_cli("reproduce", "--profile", "smoke", "--cultures", "atlantis", "bengali", "--stages", "atlantis", "bengali")
    assert out.returncode == 1 and "1 failed: atlantis" in out.stdout
    runs = json.loads((home/"reports/smoke/runs.json").read_text())["runs"]
    assert [(r["name"], r["status"]) for r in runs] == [("augment", "ok"), ("bengali", "ok"), ("chinese", "ok"), ("atlantis", "failed"),
                                                        ("one", "ok"), ("studies", "ok"), ("paper", "ok")]   # the rest kept from the first run
    assert "no WVS answers for country 'ATL'" in runs[3]["error"]
    assert "no WVS answers for country &#x27;ATL&#x27;" in (home/"reports/smoke/index.html").read_text()
    assert (home/"data/generated/smoke/models/registry.jsonl").read_text() == trained_before   # nothing retrained


def test_unknown_notebook_parameter_is_an_error(home, tmp_path):
    with pytest.raises(ConfigError, match=r"unknown parameter\(s\) \['cultre'\]"):
        run_notebook(experiment_path("culture"), tmp_path, "x", {"cultre": "bengali", "profile": "smoke"})


def test_unknown_profile_and_culture(home):
    out = run_cli("reproduce", "--profile", "huge")
    assert out.returncode == 2 and "unknown profile 'huge'" in out.stderr
    out = run_cli("reproduce", "--profile", "smoke", "--cultures", "klingon")
    assert out.returncode == 2 and "unknown culture(s) ['klingon']" in out.stderr


def headless_chromium(tmp_path):
    "Debian's Chromium driven by chromedriver through selenium, headless (skips with install advice where absent)."
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        pytest.skip("no Chromium here: `apt-get install chromium chromium-driver` (Debian packages) to run this test; CI installs them")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path/'chromium'}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)


def test_report_site_in_headless_chromium(smoke_home, tmp_path):
    "Every link of the smoke index resolves, and every figure of every linked page loads."
    home, _ = smoke_home
    driver = headless_chromium(tmp_path)
    try:
        driver.get((home/"reports/smoke/index.html").as_uri())
        links = [a.get_attribute("href") for a in driver.find_elements("tag name", "a")]
        assert len(links) >= 6 + 10                                  # six reports, and the paper's tables and figures
        for href in links:
            target = Path(urllib.parse.unquote(urllib.parse.urlparse(href).path))
            assert target.is_file(), f"broken link {href}"
            if target.suffix in (".html", ".png"):
                driver.get(href)
                images = driver.execute_script("return document.images.length")
                broken = driver.execute_script("return Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).length")
                assert broken == 0, f"{broken} of {images} figures do not load in {target.name}"
                if target.name in ("bengali.html", "chinese.html", "studies.html"): assert images >= 2, target.name
    finally:
        driver.quit()


def test_the_paper_arm_runs_as_a_stage_and_the_paper_report_sets_it_beside_the_corrected_arm(smoke_home, monkeypatch):
    "The paper's protocol as an arm of the smoke run: its stage trains on the authors' file and its corrected variants, and the paper report writes both arms and the defect-effect table."
    home, _ = smoke_home
    work_in(monkeypatch, home)
    profile = home/"data/profiles/smoke.yaml"
    profile.write_text(profile.read_text() + "protocol: {arms: [corrected, paper], cultures: [bengali], authors_variant: 50, reruns: 2}\n")
    out = run_cli("reproduce", "--profile", "smoke", "--stages", "protocol-paper", "paper")
    assert out.returncode == 0 and "[smoke] protocol-paper: ok" in out.stdout, out.stdout + out.stderr
    runs = json.loads((home/"reports/smoke/runs.json").read_text())["runs"]
    assert [r["name"] for r in runs][-2:] == ["protocol-paper", "paper"]
    paper = home/"reports/smoke/paper"
    protocols = pd.read_csv(paper/"main_f1_protocols.csv")
    assert set(protocols.arm) == {"corrected", "paper"} and set(protocols.selection) == {"authors", "fair"}
    assert protocols.query("arm == 'paper' and model == 'culture'").reruns.tolist() == [2, 2]          # both selections, of two reruns
    assert protocols.query("arm == 'corrected' and model == 'culture'").reruns.tolist() == [1, 1]
    effects = pd.read_csv(paper/"defect_effects.csv")
    assert list(dict.fromkeys(effects.correction)) == ["labels", "copies", "decoding", "parsing", "selection"]
    assert effects.query("correction == 'labels' and model == 'base'").change.tolist() == [0.0]        # a training correction leaves the base as it was
    assert (paper/"defect_effects.md").read_text().count("\n") >= 2 + 5 * 3
