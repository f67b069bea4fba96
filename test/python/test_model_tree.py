"""HF's module tree: scope table, parameter list and --print-model, against what transformers reports."""
import pytest

from conftest import load_data_config
from cube import model_tree
from cube.config import parse_config
from cube.presets import PRESETS

# What print(LlamaForCausalLM(tiny-llama config)) prints, written out by hand from PyTorch's
# nn.Module.__repr__ (children as "(name): repr", indented by 2; one-line extra_repr inline) and
# ModuleList.__repr__ (runs of identical children collapse to "(first-last): N x repr").
TINY_LLAMA_REPR = """\
LlamaForCausalLM(
  (model): LlamaModel(
    (embed_tokens): Embedding(256, 64)
    (layers): ModuleList(
      (0-1): 2 x LlamaDecoderLayer(
        (self_attn): LlamaAttention(
          (q_proj): Linear(in_features=64, out_features=64, bias=False)
          (k_proj): Linear(in_features=64, out_features=32, bias=False)
          (v_proj): Linear(in_features=64, out_features=32, bias=False)
          (o_proj): Linear(in_features=64, out_features=64, bias=False)
        )
        (mlp): LlamaMLP(
          (gate_proj): Linear(in_features=64, out_features=128, bias=False)
          (up_proj): Linear(in_features=64, out_features=128, bias=False)
          (down_proj): Linear(in_features=128, out_features=64, bias=False)
          (act_fn): SiLUActivation()
        )
        (input_layernorm): LlamaRMSNorm((64,), eps=1e-06)
        (post_attention_layernorm): LlamaRMSNorm((64,), eps=1e-06)
      )
    )
    (norm): LlamaRMSNorm((64,), eps=1e-06)
    (rotary_emb): LlamaRotaryEmbedding()
  )
  (lm_head): Linear(in_features=64, out_features=256, bias=False)
)"""

CASES = ["mini-llama", "tiny-llama", "configs/gqa.json", "configs/tied.json", "configs/bias.json"]


def config_of(name):
    if name in PRESETS:
        return parse_config(PRESETS[name], name)
    return parse_config(load_data_config(name.split("/", 1)[1]), name)


def test_tiny_repr_by_hand():
    assert model_tree.format_module(model_tree.build(config_of("tiny-llama"))) == TINY_LLAMA_REPR


@pytest.mark.parametrize("name", CASES)
def test_repr_equals_hf(name, hf_reference):
    assert model_tree.format_module(model_tree.build(config_of(name))) == hf_reference["models"][name]["repr"]


@pytest.mark.parametrize("name", CASES)
def test_scope_table_equals_named_modules(name, hf_reference):
    got = [[path, m.cls] for path, m in model_tree.modules(model_tree.build(config_of(name)))]
    assert got == hf_reference["models"][name]["named_modules"]


@pytest.mark.parametrize("name", CASES)
def test_params_equal_named_parameters_and_state_dict(name, hf_reference):
    ref = hf_reference["models"][name]
    root = model_tree.build(config_of(name))
    assert [[k, list(p.shape)] for k, p in model_tree.parameters(root)] == ref["named_parameters"]
    assert [[k, list(p.shape)] for k, p in model_tree.parameters(root, include_tied=True)] == \
        [[k, shape] for k, shape, _ in ref["state_dict"]]
    if "saved_keys" in ref:  # what save_pretrained() writes, sorted
        assert sorted(k for k, _ in model_tree.parameters(root)) == ref["saved_keys"]


@pytest.mark.parametrize("name", [c for c in CASES if c != "mini-llama"])
def test_init_matches_hf_statistics(name, hf_reference):
    cfg = config_of(name)
    stats = hf_reference["models"][name]["init_stats"]
    for key, p in model_tree.parameters(model_tree.build(cfg)):
        s = stats[key]
        if p.init == "ones":
            assert s["min"] == s["max"] == 1.0, key
        elif p.init == "zeros":
            assert s["min"] == s["max"] == 0.0, key
        else:
            assert p.init == f"normal(std={cfg.initializer_range!r})", key
            assert abs(s["std"] - cfg.initializer_range) < 0.15 * cfg.initializer_range, key
            assert abs(s["mean"]) < 0.1 * cfg.initializer_range, key


def test_param_counts():
    def count(name):
        total = 0
        for _, p in model_tree.parameters(model_tree.build(config_of(name))):
            n = 1
            for d in p.shape:
                n *= d
            total += n
        return total
    assert count("mini-llama") == 162_810_624
    assert count("tiny-llama") == 106_816


def test_hf_act_classes(hf_reference):
    assert hf_reference["act2fn"] == {"silu": "SiLUActivation", "swish": "SiLU"}
    for name in CASES:
        assert not hf_reference["models"][name]["act_fn_shared"]


def test_swish_repr():
    cfg = parse_config(dict(PRESETS["tiny-llama"], hidden_act="swish"))
    assert "          (act_fn): SiLU()\n" in model_tree.format_module(model_tree.build(cfg))


def test_module_list_collapsing_rules():
    # PyTorch collapses runs of equal reprs only; a differing child breaks the run, a single child stays "(i): "
    lin = lambda i, o: model_tree.Module("Linear", f"in_features={i}, out_features={o}, bias=False")  # noqa: E731
    ml = model_tree.Module("ModuleList", is_list=True,
                           children=[("0", lin(2, 2)), ("1", lin(2, 2)), ("2", lin(2, 3)), ("3", lin(2, 2))])
    assert model_tree.format_module(ml) == (
        "ModuleList(\n"
        "  (0-1): 2 x Linear(in_features=2, out_features=2, bias=False)\n"
        "  (2): Linear(in_features=2, out_features=3, bias=False)\n"
        "  (3): Linear(in_features=2, out_features=2, bias=False)\n"
        ")")
    assert model_tree.format_module(model_tree.Module("ModuleList", is_list=True)) == "ModuleList()"
