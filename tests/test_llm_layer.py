"""The LLM layer over real parts: the embedded models through a profile role, the openai backend over real HTTP
(a `culturellm serve` process and the in-process stand-in), the sqlite cache under concurrent writers, the key canary."""
import json, secrets, multiprocessing, socket, subprocess, sys, time
from pathlib import Path
import pytest
from culturellm.core import DataError, load_profile
from culturellm.llm import LLM, Ledger, ResponseCache, load_llm
from culturellm.openai_backend import OpenAIBackend
from culturellm.serve import Faults, StandInServer
from conftest import CLI

CANARY = "sk-canary-" + secrets.token_hex(16)   # a fresh fake key each run


def _writer(path, start):
    cache = ResponseCache(path)
    for i in range(start, start + 150): cache.put(f"k{i}", "chat", "m", {"text": str(i)})


def test_cache_survives_concurrent_writer_processes(tmp_path):
    path = tmp_path/"responses.sqlite"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, s)) for s in (0, 100, 200)]
    for p in procs: p.start()
    for p in procs: p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    assert len(ResponseCache(path)) == 350                     # overlapping keys stored once


def test_corrupt_cache_is_reported_not_used(tmp_path):
    bad = tmp_path/"responses.sqlite"
    bad.write_bytes(b"\x00garbage" * 1000)
    with pytest.raises(DataError, match="response cache is corrupt"):
        ResponseCache(bad)
    assert bad.read_bytes() == b"\x00garbage" * 1000            # left as it was for inspection


def test_profile_role_runs_the_embedded_models(home):
    "The smoke profile's base (Gemma-3-270M) and judge (SmolLM2) answer for real, and a rerun is served from the cache."
    base, judge = load_llm(load_profile("smoke"), "base", stage="test"), load_llm(load_profile("smoke"), "judge", stage="test")
    conv = [[{"role": "user", "content": 'if the following sentence is offensive, just say "OFF", otherwise, say "NOT_OFF" without explanation: you idiot'}]]
    first = base.score(conv, ["OFF", "NOT_OFF"])[0]
    assert set(first.logprobs) == {"OFF", "NOT_OFF"} and all(v < 0 for v in first.logprobs.values())
    answer = judge.chat([[{"role": "user", "content": "What is the capital of France?"}]], max_tokens=12)[0]
    assert "Paris" in answer.text
    again = load_llm(load_profile("smoke"), "base", stage="test").score(conv, ["OFF", "NOT_OFF"])[0]
    assert again.cached and again.logprobs == first.logprobs
    usage = Ledger(home/"data/generated/smoke/usage.jsonl").summary()
    assert usage.requests.sum() == 3 and usage.cache_hits.sum() == 1


def test_key_never_reaches_cache_ledger_or_logs(tmp_path, monkeypatch):
    monkeypatch.setenv("CANARY_KEY", CANARY)
    with StandInServer(api_key=CANARY, faults=Faults(rate=0.3, retry_after=0.01, seed=1)) as server:
        backend = OpenAIBackend("echo", base_url=server.url, api_key_env="CANARY_KEY", max_retries=8)
        backend.sleep = lambda s: None
        llm = LLM(backend, ResponseCache(tmp_path/"c.sqlite"), Ledger(tmp_path/"usage.jsonl"), role="judge", stage="canary", progress=False)
        convs = [[{"role": "user", "content": f"word{i} other"}] for i in range(20)]
        assert [c.text for c in llm.chat(convs)] == [f"WORD{i} OTHER" for i in range(20)]
        assert [s.best for s in llm.score(convs, ["WORD1", "OTHER"])][1] == "WORD1"
        log = json.dumps(server.log)
    assert any(r["fault"] for r in server.log)                # faults were injected and survived
    for f in tmp_path.iterdir(): assert CANARY.encode() not in f.read_bytes(), f
    assert CANARY not in log


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]


def test_serve_command_is_an_openai_compatible_endpoint():
    port = _free_port()
    proc = subprocess.Popen([str(CLI), "serve", "--model", "echo", "--port", str(port)], stdout=subprocess.PIPE, text=True)
    try:
        assert "serving echo" in proc.stdout.readline()
        backend = OpenAIBackend("echo", base_url=f"http://127.0.0.1:{port}/v1", timeout=10)
        assert backend.chat([[{"role": "user", "content": "hello world"}]])[0].text == "HELLO WORLD"
        assert backend.client.models.list().data[0].id == "echo"
    finally:
        proc.terminate(); proc.wait(10)


def test_unknown_backend_and_missing_role(home):
    from culturellm.core import ConfigError
    with pytest.raises(ConfigError, match="has no role 'critic'"):
        load_llm(load_profile("smoke"), "critic")
    profile = home/"data/profiles/smoke.yaml"
    profile.write_text(profile.read_text().replace("base: {backend: hf", "base: {backend: tgi"))
    with pytest.raises(ConfigError, match="unknown backend 'tgi'"):
        load_llm(load_profile("smoke"), "base")
