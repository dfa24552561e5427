"""Trained adapters evaluated on the serving engine, through the CLI over real HTTP: a base served with
`serve_adapters: vllm` (the stand-in's vLLM mode with runtime LoRA updating, its fast responder answering each
adapter apart from the base) has the trained adapter registered once and scored by its served name; a rerun that
asks again (a resume) finds it listed and registers nothing; a server that refuses it stops the stage naming the option."""
import json, shutil
from conftest import run_cli
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
