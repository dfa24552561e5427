"Fetching and verifying upstream files through the real CLI; corrupt and truncated copies are named with their fix."
import os
from pathlib import Path
import pytest
from culturellm.core import DataError
from culturellm.data import catalogue, data_mirror, fetch_file, upstream_file
from conftest import run_cli


def test_fetch_then_verify_a_group(home):
    fetched = run_cli("data", "fetch", "--group", "wvs")
    assert fetched.returncode == 0, fetched.stderr
    assert "11 file(s) fetched and verified" in fetched.stdout
    verified = run_cli("data", "verify", "--group", "wvs")
    assert verified.returncode == 0 and "11/11 file(s) ok" in verified.stdout


def test_verify_names_truncated_and_missing_files(home):
    assert run_cli("data", "fetch", "--group", "seed").returncode == 0
    cut = home/"data/raw/WVQ.jsonl"
    cut.write_bytes(cut.read_bytes()[:100])
    (home/"data/raw/WVQ.csv").unlink()
    out = run_cli("data", "verify", "--group", "seed")
    assert out.returncode == 1
    assert "WVQ.jsonl: truncated or corrupted: 100 bytes" in out.stdout and "WVQ.csv: missing" in out.stdout
    assert "run `culturellm data fetch` to repair" in out.stdout
    with pytest.raises(DataError, match=r"WVQ.jsonl: .* bytes expected, found 100 .*culturellm data fetch --force"):
        upstream_file("WVQ.jsonl")
    assert run_cli("data", "fetch", "--group", "seed", "--force").returncode == 0
    assert run_cli("data", "verify", "--group", "seed").returncode == 0


def test_same_size_corruption_is_caught_by_sha256(home):
    assert run_cli("data", "fetch", "--group", "seed").returncode == 0
    f = home/"data/raw/WVQ.jsonl"
    data = bytearray(f.read_bytes()); data[10] ^= 1
    f.write_bytes(bytes(data))
    out = run_cli("data", "verify", "--group", "seed")
    assert out.returncode == 1 and "WVQ.jsonl: corrupted: sha256 mismatch" in out.stdout


def test_bad_mirror_leaves_nothing_half_written(home, tmp_path, monkeypatch):
    mirror = tmp_path/"mirror"; mirror.mkdir()
    for name in ("WVQ.csv", "WVQ.jsonl"): (mirror/name).write_text("not the release\n")
    monkeypatch.setenv("CULTURELLM_DATA_MIRROR", str(mirror))
    out = run_cli("data", "fetch", "--group", "seed")
    assert out.returncode == 2 and "fetched copy is truncated or corrupted" in out.stderr
    assert not any(p.is_file() for p in (home/"data/raw").rglob("*"))


def test_unknown_group_and_unknown_file(home):
    out = run_cli("data", "fetch", "--group", "pictures")
    assert out.returncode == 2 and "unknown data group 'pictures'" in out.stderr
    with pytest.raises(DataError, match="not in the upstream catalogue"):
        fetch_file("Arabic/secret.jsonl")


def test_catalogue_agrees_with_the_mirror_manifest():
    mirror = data_mirror()
    if mirror is None: pytest.skip("no upstream mirror here (set CULTURELLM_DATA_MIRROR); CI always has one")
    manifest = {line.split(maxsplit=1)[1].removeprefix("./"): line.split()[0]
                for line in (mirror/"MANIFEST.sha256").read_text().splitlines()}
    assert dict(zip(catalogue().path, catalogue().sha256)) == manifest
