"WVS microdata in every supported format, and bad microdata: each gives a clear error or an explicit NA, never a made-up label."
import pandas as pd
import pyreadstat
import pytest
from culturellm.core import ConfigError, DataError
from culturellm.data import upstream_file
from culturellm.wvs import QUESTION_IDS, answer_counts, build_wvs_tables, corrected_labels, read_microdata
from conftest import run_cli

QCOLS = [f"Q{q}" for q in QUESTION_IDS]


def bangladesh_respondents():
    frame = pd.read_csv(upstream_file("Bengali/Bangladesh.csv"), dtype=str)
    people = frame[frame.B_COUNTRY.str.isdigit()].copy()
    people[["B_COUNTRY", *QCOLS]] = people[["B_COUNTRY", *QCOLS]].astype(int)
    return people


@pytest.mark.parametrize("suffix,writer", [(".sav", pyreadstat.write_sav), (".dta", pyreadstat.write_dta)])
def test_spss_and_stata_give_the_same_counts_as_csv(tmp_path, suffix, writer):
    path = tmp_path/f"bangladesh{suffix}"
    writer(bangladesh_respondents(), str(path))
    from_file, _ = read_microdata(path)
    from_csv, _ = read_microdata(upstream_file("Bengali/Bangladesh.csv"))
    pd.testing.assert_frame_equal(answer_counts(from_file), answer_counts(from_csv))


def test_semicolon_csv_with_several_countries_selects_by_numeric_code(tmp_path):
    people = bangladesh_respondents()
    other = people.head(10).assign(B_COUNTRY=528, B_COUNTRY_ALPHA="NLD")
    path = tmp_path/"wvs.csv"
    pd.concat([people, other]).to_csv(path, sep=";", index=False)
    respondents, recorded = read_microdata(path, countries=[528])
    assert set(respondents.country) == {"NLD"} and len(respondents) == 10 and recorded.empty


def test_missing_question_column_names_file_and_column(tmp_path):
    path = tmp_path/"cut.csv"
    bangladesh_respondents().drop(columns=["Q158", "Q233"]).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"cut.csv: missing column\(s\) \['Q158', 'Q233'\]"):
        read_microdata(path)


def test_non_numeric_code_names_file_line_and_column(tmp_path):
    people = bangladesh_respondents().astype(str)
    people.iloc[6, people.columns.get_loc("Q40")] = "agree"
    path = tmp_path/"text.csv"
    people.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"text.csv:8: column Q40 holds 'agree'"):
        read_microdata(path)


def test_unknown_country_lists_those_present():
    with pytest.raises(DataError, match=r"no respondents for country \['FRA'\]; present: \['BGD'\]"):
        read_microdata(upstream_file("Bengali/Bangladesh.csv"), countries=["FRA"])


def test_missing_file_is_named(tmp_path):
    with pytest.raises(DataError, match="nope.csv: microdata file not found"):
        read_microdata(tmp_path/"nope.csv")


def test_question_with_no_valid_answers_is_NA_through_the_cli(home, tmp_path):
    "A new country whose Q27 nobody answered: corrected mode prints NA for it, never a number."
    people = bangladesh_respondents().assign(B_COUNTRY=999, B_COUNTRY_ALPHA="XXX", Q27=-4)
    path = tmp_path/"xxx.csv"
    people.to_csv(path, index=False)
    added = run_cli("wvs", "build-table", "--microdata", path, "--countries", "XXX")
    assert added.returncode == 0, added.stderr
    registry = home/"data/registry/cultures.yaml"
    registry.write_text(registry.read_text() + "\nnowhere: {name: Nowhere, lang: xx, language: X, countries: [XXX], resource: low,"
                        " upstream_name: Nowhere, paper_copies: [[XXX, avg]]}\n")
    labels = run_cli("wvs", "labels", "--culture", "nowhere", "--mode", "corrected").stdout.split()
    assert labels[0] == "NA" and len(labels) == 50 and "NA" not in labels[1:]
    paper = run_cli("wvs", "labels", "--culture", "nowhere", "--mode", "paper").stdout.split()
    # upstream's rule invents a label from the "not asked" code (kept only in paper mode); its off-by-one leaves
    # respondent 1001 out of the sum of 1200: -4 * 1199/1200 = -3.9967 -> "3", as for China's never-asked questions
    assert paper[0] == "3"
    # the committed countries are still there, untouched
    assert corrected_labels("bengali").tolist()[:3] == [1, 2, 2]


def test_unknown_country_in_registry_is_a_config_error(home):
    registry = home/"data/registry/cultures.yaml"
    registry.write_text(registry.read_text() + "\natlantis: {name: A, lang: xx, language: X, countries: [ATL], resource: low,"
                        " upstream_name: A, paper_copies: [[ATL, avg]]}\n")
    with pytest.raises(ConfigError, match="no WVS answers for country 'ATL'.*build-table"):
        corrected_labels("atlantis")
    out = run_cli("wvs", "labels", "--culture", "atlantis")
    assert out.returncode == 2 and "no WVS answers for country 'ATL'" in out.stderr


def test_summary_rows_in_a_multi_country_file_are_refused(tmp_path):
    text = upstream_file("Bengali/Bangladesh.csv").read_text().splitlines()
    text.insert(2, text[1].replace("50,BGD", "528,NLD", 1))
    path = tmp_path/"two.csv"
    path.write_text("\n".join(text) + "\n")
    with pytest.raises(DataError, match="summary rows"):
        read_microdata(path)


def test_build_table_from_upstream_extracts_matches_committed(tmp_path):
    from culturellm.core import data_dir
    build_wvs_tables(out=tmp_path)
    for name in ("wvs/questions.yaml", "wvs/answer_counts.csv", "wvs/upstream_averages.csv"):
        assert (tmp_path/name).read_text() == (data_dir()/name).read_text(), name
