"""Trained adapters evaluated on the serving engine, through the CLI over real HTTP: a base served with
`serve_adapters: vllm` (the stand-in's vLLM mode with runtime LoRA updating, its fast responder answering each
adapter apart from the base) has the trained adapter registered once and scored by its served name; a rerun that
asks again (a resume) finds it listed and registers nothing; a server that refuses it stops the stage naming the option.
And `paper-vllm` as `benchmarks/paper_scale.py` simulates it: the simulated LoRA runs leave adapter folders, and every
one of them, and nothing else, is registered through the load route and asked for by name."""
import importlib.util, json, shutil
import yaml
from conftest import ROOT, run_cli
from culturellm.openai_backend import served_name
from culturellm.serve import FastResponder, Limits, StandInServer


def served_profile(home, url, serve="vllm"):
    (home/"data/profiles/served.yaml").write_text(
        f"cultures: [bengali]\nroles:\n  base: {{backend: openai, model: fast, base_url: '{url}', serve_adapters: {serve}, max_retries: 1}}\n"
        "evaluate: {models: [base, culture], per_task: 4, bootstrap: 50}\n")


def trained_adapter(home, rank=8):
    "culturellm-bengali in the profile's model registry: an adapter folder as peft writes it (its config's rank `r`, its weights)."
    models = home/"data/generated/served/models"
    (models/"culturellm-bengali/adapter").mkdir(parents=True)
    (models/"culturellm-bengali/adapter/adapter_config.json").write_text(json.dumps({"r": rank, "peft_type": "LORA", "base_model_name_or_path": "fast"}))
    (models/"culturellm-bengali/adapter/adapter_model.safetensors").write_bytes(b"bengali weights")
    entry = {"name": "culturellm-bengali", "culture": "bengali", "set": "seeds", "backend": "hf", "base": "fast", "recipe": "r", "recipe_name": "laptop-lora",
             "data_sha256": "d", "adapter": "models/culturellm-bengali/adapter", "model_id": None, "rows": 24, "steps": 3}
    (models/"registry.jsonl").write_text(json.dumps(entry) + "\n")


def asked_models(server):
    "Record the model each scoring request names (the server's log keeps paths, not bodies)."
    asked, chat = [], server.routes[("POST", r"/v1/chat/completions")]
    def noted(body, **kw):
        asked.append(body.get("model"))
        return chat(body, **kw)
    server.routes[("POST", r"/v1/chat/completions")] = noted
    return asked


def test_a_trained_adapter_is_registered_once_and_evaluated_by_name_on_the_server(home, tmp_path, monkeypatch):
    with StandInServer(FastResponder(), models=["fast"], limits=Limits.of("vllm", runtime_lora=True)) as server:
        served_profile(home, server.url); trained_adapter(home)
        asked = asked_models(server)
        out = run_cli("evaluate", "--profile", "served", "--culture", "bengali")
        assert out.returncode == 0, out.stderr[-3000:]
        first = list(asked)
        shutil.rmtree(home/"data/generated/served/eval")                   # a resume that asks again: no results, no cached answers
        monkeypatch.setenv("CULTURELLM_CACHE", str(tmp_path/"fresh-cache"))
        out = run_cli("evaluate", "--profile", "served", "--culture", "bengali")
        assert out.returncode == 0, out.stderr[-3000:]
    served = [m for m in set(first) if m != "fast"]
    assert len(served) == 1 and served[0].startswith("culturellm-bengali-")   # the adapter, by its served name
    assert first.count(served[0]) > 0 and asked[len(first):].count(served[0]) == first.count(served[0])   # asked by name in both runs
    assert [r["status"] for r in server.log if r["path"] == "/v1/load_lora_adapter"] == [200]            # registered once
    results = (home/"data/generated/served/eval").rglob("*.jsonl")
    preds = {p.parent.parent.name: [json.loads(l)["pred"] for l in p.read_text().splitlines()] for p in results}
    assert set(preds) >= {"base", "culture"}


def test_what_the_server_refuses_stops_the_stage_naming_the_option(home):
    with StandInServer(FastResponder(), models=["fast"], limits=Limits.of("vllm", runtime_lora=True, max_lora_rank=8)) as server:
        served_profile(home, server.url); trained_adapter(home, rank=16)
        out = run_cli("evaluate", "--profile", "served", "--culture", "bengali")
    assert out.returncode != 0 and "LoRA rank 16 is greater than max_lora_rank 8" in out.stderr and "serve_adapters: vllm" in out.stderr
    with StandInServer(FastResponder(), models=["fast"], limits=Limits.of("llama.cpp")) as server:         # any name answered, no load route
        served_profile(home, server.url)
        asked = asked_models(server)
        out = run_cli("evaluate", "--profile", "served", "--culture", "bengali")
    assert out.returncode != 0 and "has no /v1/load_lora_adapter" in out.stderr and "serve_adapters: vllm" in out.stderr
    assert not [m for m in asked if m != "fast"]                               # the adapter was never asked for by a name the server ignores


def paper_scale_benchmark():
    "benchmarks/paper_scale.py as a module."
    spec = importlib.util.spec_from_file_location("paper_scale", ROOT/"benchmarks/paper_scale.py")
    module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)
    return module


def test_paper_vllm_as_simulated_evaluates_every_trained_adapter_through_the_load_route(home, tmp_path, monkeypatch):
    monkeypatch.setenv("CULTURELLM_SIM_CLOCK", str(tmp_path/"clock"))                 # the simulated runs take simulated minutes
    bench = paper_scale_benchmark()
    with StandInServer(FastResponder(), limits=Limits.of("vllm", **bench.GPU_QUEUE, **bench.SERVED_LORA)) as server:
        cfg = bench.served(yaml.safe_load((ROOT/"data/profiles/paper-vllm.yaml").read_text()), server.url, "vllm")
        server.models = bench.models_of(cfg)
        cut = {"cultures": ["bengali", "german"], "wvs": cfg["wvs"], "roles": cfg["roles"], "sft": {"mode": "corrected", "sizes": [0]}, "finetune": {**cfg["finetune"], "extra_seeds": []},
               "evaluate": {**cfg["evaluate"], "models": ["base", "culture"], "baselines": [], "per_task": 2, "bootstrap": 50}}     # two cultures' seed sets, 2 rows per task
        (home/"data/profiles/pv.yaml").write_text(yaml.safe_dump(cut, sort_keys=False))
        for command in ("sft build", "finetune", "evaluate"):
            out = run_cli(*command.split(), "--profile", "pv", "--culture", "bengali", "german")
            assert out.returncode == 0, f"{command}: {out.stderr[-3000:]}"
    generated = home/"data/generated/pv"
    registry = [json.loads(l) for l in (generated/"models/registry.jsonl").read_text().splitlines()]
    assert [(e["name"], e["backend"], e["recipe_name"]) for e in registry] == [("culturellm-bengali", "hf", "paper-qlora"), ("culturellm-german", "hf", "paper-qlora")]
    folders = [generated/e["adapter"] for e in registry]
    configs = [json.loads((f/"adapter_config.json").read_text()) for f in folders]
    assert {(c["r"], c["lora_alpha"], tuple(sorted(c["target_modules"]))) for c in configs} == {(64, 16, ("q_proj", "v_proj"))}   # the recipe's adapter
    assert all(json.loads((f.parent/"training.json").read_text())["simulated"] for f in folders) and len(server.jobs) == 2
    ledger = [json.loads(l) for l in (generated/"usage.jsonl").read_text().splitlines()]
    assert sorted(r["role"] for r in ledger if r["stage"] == "finetune") == ["culturellm-bengali", "culturellm-german"]   # one line per run, as after a real one
    trained = {served_name(f): str(f) for f in folders}
    assert server.adapters == trained                                                  # registered: exactly the trained adapters, by served name
    assert [r["status"] for r in server.log if r["path"] == "/v1/load_lora_adapter"] == [200, 200]   # once each
    assert set(server.adapter_swaps) == set(trained)                                   # and each asked for by that name
    assert {p.parent.parent.name for p in (generated/"eval").rglob("*.jsonl")} >= {"base", "culture"}
