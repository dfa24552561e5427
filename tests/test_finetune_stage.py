"""Training sets and fine-tuning through the CLI: bad inputs stop before training, OpenAI jobs over real HTTP are
idempotent, and a killed LoRA run resumes from its checkpoint."""
import json, signal, subprocess, time
from pathlib import Path
import pytest
from culturellm.serve import StandInServer
from conftest import CLI, run_cli

SEEDS_ONLY = "sft: {mode: corrected, sizes: [0]}\n"


def profile(home, name, base, finetune="finetune: {recipe: laptop-lora, train: {epochs: 1}}\n"):
    (home/f"data/profiles/{name}.yaml").write_text(f"cultures: [bengali]\nwvs: {{label_rule: valid_mean}}\nroles:\n  base: {base}\n" + SEEDS_ONLY + finetune)


def test_missing_base_model_fails_before_training(home):
    profile(home, "nobase", "{backend: hf, model: no-such-model}")
    out = run_cli("finetune", "--profile", "nobase", "--culture", "bengali")
    assert out.returncode == 2 and "training sets not built" in out.stderr
    assert run_cli("sft", "build", "--profile", "nobase", "--culture", "bengali").returncode == 2   # needs the base's tokenizer
    profile(home, "nobase", "{backend: openai, model: gpt-4o-mini-2024-07-18, base_url: 'http://127.0.0.1:9/v1'}")
    assert run_cli("sft", "build", "--profile", "nobase", "--culture", "bengali").returncode == 0
    profile(home, "nobase", "{backend: hf, model: no-such-model}")
    out = run_cli("finetune", "--profile", "nobase", "--culture", "bengali")
    assert out.returncode == 2 and "'no-such-model' is not an embedded model" in out.stderr
    assert not (home/"data/generated/nobase/models/registry.jsonl").exists()


def test_malformed_training_file_fails_before_training(home):
    profile(home, "broken", "{backend: hf, model: gemma-3-270m}")
    assert run_cli("sft", "build", "--profile", "broken", "--culture", "bengali").returncode == 0
    main = home/"data/generated/broken/sft/bengali/seeds.jsonl"
    lines = main.read_text().splitlines()
    main.write_text("\n".join(lines[:3] + ['{"messages": [{"role": "user", "content": "x"}]}', "not json"] + lines[3:]) + "\n")
    out = run_cli("finetune", "--profile", "broken", "--culture", "bengali")
    assert out.returncode == 2
    assert "seeds.jsonl:4: no assistant message" in out.stderr and "seeds.jsonl:5: invalid JSON" in out.stderr
    assert not (home/"data/generated/broken/models").exists()


def test_openai_finetuning_over_http_is_idempotent(home, tmp_path, monkeypatch):
    monkeypatch.setenv("CULTURELLM_CACHE", str(tmp_path/"cache"))
    with StandInServer(models=["gpt-4o-mini-2024-07-18"]) as server:
        profile(home, "api", f"{{backend: openai, model: gpt-4o-mini-2024-07-18, base_url: '{server.url}'}}",
                "finetune: {recipe: openai, poll_seconds: 0.01}\n")
        assert run_cli("sft", "build", "--profile", "api", "--culture", "bengali").returncode == 0
        first = run_cli("finetune", "--profile", "api", "--culture", "bengali")
        assert first.returncode == 0, first.stderr
        entry = json.loads((home/"data/generated/api/models/registry.jsonl").read_text().splitlines()[-1])
        assert entry["model_id"].startswith("ft:gpt-4o-mini-2024-07-18:culturellm::")
        (home/"data/generated/api/models/registry.jsonl").unlink()          # forget the model: the job list still knows it
        assert run_cli("finetune", "--profile", "api", "--culture", "bengali").returncode == 0
        assert len(server.jobs) == 1                                         # never paid twice for the same file
        job = list(server.jobs.values())[0]
        assert job["hyperparameters"] == {"n_epochs": 3, "batch_size": 4, "learning_rate_multiplier": 2.0} and job["seed"] == 0
        from culturellm.core import load_profile
        from culturellm.finetune import trained_llm
        answer = trained_llm(load_profile("api"), "culturellm-bengali").chat([[{"role": "user", "content": "hello"}]])[0]
        assert answer.text == "HELLO"                                        # the fine-tuned id is served and used
