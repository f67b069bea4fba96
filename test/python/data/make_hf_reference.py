"""Writes the reference data that the tests compare the tracer with, produced by transformers itself.

Run where torch and transformers are installed (the lent GPU machine has them; no GPU is used):

    python3 test/python/data/make_hf_reference.py OUTDIR

and copy OUTDIR/hf_reference.json and OUTDIR/tiny-llama.safetensors into test/python/data/. For every
preset of python/cube/presets.py and every config in test/python/data/configs/, the JSON holds what HF's
LlamaForCausalLM built from that config.json reports: state_dict() keys/shapes/dtypes, named_parameters()
(which drops tied duplicates), named_modules() with class names, repr(model), the keys save_pretrained()
writes, and per-parameter statistics of HF's initialisation. For tiny-llama it also saves HF's weights
(seed 0) and the loss HF computes with them on fixed ids, for numerical tests of later stages.
"""
import json
import os
import sys
import tempfile

import torch
import transformers
from safetensors import safe_open
from transformers import AutoConfig, LlamaForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "python"))
from cube.presets import PRESETS  # noqa: E402


def load_config(d):
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "config.json"), "w") as f:
            json.dump(d, f)
        return AutoConfig.from_pretrained(tmp)


def describe(name, d, out_dir):
    cfg = load_config(d)
    big = name == "mini-llama"
    torch.manual_seed(0)
    if big:
        with torch.device("meta"):
            model = LlamaForCausalLM(cfg)
    else:
        model = LlamaForCausalLM(cfg)
    model.train()
    acts = [type(layer.mlp.act_fn).__name__ for layer in model.model.layers]
    rec = {
        "state_dict": [[k, list(v.shape), str(v.dtype)] for k, v in model.state_dict().items()],
        "named_parameters": [[k, list(p.shape)] for k, p in model.named_parameters()],
        "named_modules": [[k, type(m).__name__] for k, m in model.named_modules()],
        "repr": repr(model),
        "act_fn_classes": acts,
        "act_fn_shared": len({id(layer.mlp.act_fn) for layer in model.model.layers}) == 1 and len(acts) > 1,
    }
    if not big:
        rec["init_stats"] = {
            k: {"mean": p.float().mean().item(), "std": p.float().std().item() if p.numel() > 1 else 0.0,
                "min": p.min().item(), "max": p.max().item()}
            for k, p in model.named_parameters()
        }
        with tempfile.TemporaryDirectory() as tmp:
            model.save_pretrained(tmp)
            files = sorted(f for f in os.listdir(tmp) if f.endswith(".safetensors"))
            keys = []
            for f in files:
                with safe_open(os.path.join(tmp, f), "pt") as sf:
                    keys += list(sf.keys())
            rec["saved_keys"] = keys
            rec["saved_files"] = sorted(os.listdir(tmp))
            if name == "tiny-llama":
                import shutil
                shutil.copy(os.path.join(tmp, files[0]), os.path.join(out_dir, "tiny-llama.safetensors"))
        if name == "tiny-llama":
            ids = (torch.arange(2 * 16).reshape(2, 16) * 37 + 11) % cfg.vocab_size
            labels = ids.clone()
            labels[0, 5] = -100
            labels[1, 0] = -100
            with torch.no_grad():
                out = model(input_ids=ids, labels=labels)
            rec["loss_check"] = {"input_ids": ids.tolist(), "labels": labels.tolist(), "loss": out.loss.item(),
                                 "dtype": "float32"}
    return rec


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    configs = dict(PRESETS)
    cdir = os.path.join(HERE, "configs")
    for f in sorted(os.listdir(cdir)):
        if f.endswith(".json"):
            with open(os.path.join(cdir, f)) as fh:
                configs["configs/" + f] = json.load(fh)
    from transformers.activations import ACT2FN
    result = {
        "generated_by": "test/python/data/make_hf_reference.py",
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "act2fn": {k: type(ACT2FN[k]).__name__ for k in ("silu", "swish")},
        "act2fn_repr": {k: repr(ACT2FN[k]) for k in ("silu", "swish")},
        "models": {name: describe(name, d, out_dir) for name, d in configs.items()},
    }
    with open(os.path.join(out_dir, "hf_reference.json"), "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    tiny = result["models"]["tiny-llama"]
    print("transformers", result["transformers"], "act2fn", result["act2fn"])
    print(tiny["repr"])
    print(result["models"]["configs/tied.json"]["saved_keys"])
    print(tiny["loss_check"]["loss"])


if __name__ == "__main__":
    main()
