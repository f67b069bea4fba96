"""config.json reading: HF's defaults, the accepted spellings, and every error with its message."""
import json

import pytest

from conftest import DATA, load_data_config
from cube.config import ConfigError, load_config, parse_config
from cube.presets import PRESETS


def base(**changes):
    d = dict(PRESETS["tiny-llama"])
    for k, v in changes.items():
        if v is ...:
            d.pop(k, None)
        else:
            d[k] = v
    return d


def error(d):
    with pytest.raises(ConfigError) as e:
        parse_config(d, "cfg.json")
    return str(e.value)


def test_presets_parse():
    mini = parse_config(PRESETS["mini-llama"])
    assert (mini.num_hidden_layers, mini.hidden_size, mini.intermediate_size) == (12, 768, 3072)
    assert (mini.num_attention_heads, mini.num_key_value_heads, mini.head_dim) == (12, 12, 64)
    assert (mini.vocab_size, mini.tie_word_embeddings, mini.rms_norm_eps) == (32256, False, 1e-6)
    assert mini.max_position_embeddings >= 2048 and mini.initializer_range == 0.02 and mini.rope_theta == 10000.0
    tiny = parse_config(PRESETS["tiny-llama"])
    assert (tiny.num_hidden_layers, tiny.hidden_size, tiny.num_attention_heads, tiny.num_key_value_heads,
            tiny.head_dim, tiny.vocab_size) == (2, 64, 4, 2, 16, 256)


def test_hf_defaults():
    cfg = parse_config({"model_type": "llama"})
    assert (cfg.vocab_size, cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers) == (32000, 4096, 11008, 32)
    assert (cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim) == (32, 32, 128)
    assert (cfg.hidden_act, cfg.max_position_embeddings, cfg.initializer_range) == ("silu", 2048, 0.02)
    assert (cfg.rms_norm_eps, cfg.rope_theta) == (1e-6, 10000.0)
    assert not (cfg.tie_word_embeddings or cfg.attention_bias or cfg.mlp_bias)


def test_kv_heads_and_head_dim_defaults():
    assert parse_config(base(num_key_value_heads=...)).num_key_value_heads == 4
    assert parse_config(base(num_key_value_heads=None)).num_key_value_heads == 4
    assert parse_config(base(head_dim=None)).head_dim == 16
    assert parse_config(base(head_dim=32)).head_dim == 32
    # HF floors hidden_size / num_attention_heads when head_dim is not given
    assert parse_config(base(hidden_size=72, num_attention_heads=4, num_key_value_heads=4)).head_dim == 18


def test_config_files():
    gqa = load_config(f"{DATA}/configs/gqa.json")
    assert (gqa.num_attention_heads, gqa.num_key_value_heads, gqa.head_dim) == (6, 2, 16)
    assert gqa.rope_theta == 500000.0 and gqa.rms_norm_eps == 1e-5 and gqa.initializer_range == 0.01
    tied = load_config(f"{DATA}/configs/tied.json")
    assert tied.tie_word_embeddings and tied.num_hidden_layers == 1
    bias = load_config(f"{DATA}/configs/bias.json")
    assert bias.attention_bias and bias.mlp_bias and bias.head_dim == 32 and bias.num_key_value_heads == 1


def test_rope_spellings():
    assert parse_config(base(rope_theta=...,
                             rope_parameters={"rope_type": "default", "rope_theta": 1e6})).rope_theta == 1e6
    assert parse_config(base(rope_scaling=None, rope_theta=500000.0)).rope_theta == 500000.0
    assert parse_config(base(rope_scaling={"type": "default"})).rope_theta == 10000.0
    assert parse_config(base(rope_parameters={"rope_theta": 10000.0, "rope_type": "default"})).rope_theta == 10000.0


def test_swish_and_ignored_fields():
    cfg = parse_config(base(hidden_act="swish", torch_dtype="bfloat16", bos_token_id=1, use_cache=False,
                            pretraining_tp=1, attention_dropout=0.0, pad_token_id=None))
    assert cfg.act_class == "SiLU"
    assert parse_config(base()).act_class == "SiLUActivation"


@pytest.mark.parametrize("changes, message", [
    ({"model_type": "mistral"}, 'cfg.json: model_type = "mistral": only "llama" (LlamaForCausalLM) is supported'),
    ({"model_type": ...}, 'cfg.json: model_type is missing: expected "llama"'),
    ({"architectures": ["LlamaForSequenceClassification"]},
     'cfg.json: architectures = ["LlamaForSequenceClassification"]: cube traces LlamaForCausalLM, which this '
     'list does not name'),
    ({"hidden_act": "gelu"},
     'cfg.json: hidden_act = "gelu": not supported; cube\'s LlamaMLP implements "silu" (and its alias "swish")'),
    ({"rope_scaling": {"rope_type": "llama3", "factor": 8.0}},
     'cfg.json: rope_scaling.rope_type = "llama3": not implemented; cube.rope is HF\'s "default" rotary '
     'embedding (no scaling)'),
    ({"rope_scaling": {"type": "linear", "factor": 2.0}},
     'cfg.json: rope_scaling.rope_type = "linear": not implemented; cube.rope is HF\'s "default" rotary '
     'embedding (no scaling)'),
    ({"rope_parameters": {"rope_type": "yarn", "rope_theta": 10000.0}},
     'cfg.json: rope_parameters.rope_type = "yarn": not implemented; cube.rope is HF\'s "default" rotary '
     'embedding (no scaling)'),
    ({"rope_parameters": {"rope_type": "default", "partial_rotary_factor": 0.5}},
     'cfg.json: rope_parameters.partial_rotary_factor = 0.5: not implemented; cube.rope rotates the whole head'),
    ({"rope_parameters": {"rope_type": "default", "rope_theta": 500.0}},
     'cfg.json: rope_parameters.rope_theta = 500.0: disagrees with rope_theta = 10000.0'),
    ({"rope_parameters": {"rope_theta": -1}}, "cfg.json: rope_parameters.rope_theta = -1: expected a positive number"),
    ({"rope_scaling": "yes"},
     'cfg.json: rope_scaling = "yes": expected an object such as {"rope_type": "default"} or null'),
    ({"rope_theta": 0}, "cfg.json: rope_theta = 0: expected a positive number"),
    ({"attention_dropout": 0.1},
     "cfg.json: attention_dropout = 0.1: not supported: cube.attention has no dropout; set it to 0.0"),
    ({"pad_token_id": 0},
     "cfg.json: pad_token_id = 0: not supported: HF gives the embedding padding_idx (that row starts at zero "
     "and gets no gradient), which cube.embedding does not model; set it to null"),
    ({"hidden_size": -64}, "cfg.json: hidden_size = -64: expected a positive integer"),
    ({"hidden_size": "64"}, 'cfg.json: hidden_size = "64": expected a positive integer'),
    ({"vocab_size": 256.0}, "cfg.json: vocab_size = 256.0: expected a positive integer"),
    ({"num_hidden_layers": 0}, "cfg.json: num_hidden_layers = 0: expected a positive integer"),
    ({"num_hidden_layers": True}, "cfg.json: num_hidden_layers = true: expected a positive integer"),
    ({"intermediate_size": None}, "cfg.json: intermediate_size = null: expected a positive integer"),
    ({"max_position_embeddings": -1}, "cfg.json: max_position_embeddings = -1: expected a positive integer"),
    ({"num_key_value_heads": 3},
     "cfg.json: num_key_value_heads = 3: num_attention_heads = 4 is not a multiple of it"),
    ({"num_key_value_heads": 0}, "cfg.json: num_key_value_heads = 0: expected a positive integer"),
    ({"num_attention_heads": 128, "num_key_value_heads": 128},
     "cfg.json: num_attention_heads = 128: more heads than hidden_size = 64 (head_dim would be 0)"),
    ({"head_dim": 15}, "cfg.json: head_dim = 15: rotary embeddings need an even head_dim"),
    ({"hidden_size": 60, "num_attention_heads": 4, "num_key_value_heads": 4},
     "cfg.json: head_dim = 15: rotary embeddings need an even head_dim"),
    ({"rms_norm_eps": 0}, "cfg.json: rms_norm_eps = 0: expected a positive number"),
    ({"rms_norm_eps": "1e-6"}, 'cfg.json: rms_norm_eps = "1e-6": expected a positive number'),
    ({"initializer_range": -0.02}, "cfg.json: initializer_range = -0.02: expected a positive number"),
    ({"tie_word_embeddings": "true"}, 'cfg.json: tie_word_embeddings = "true": expected true or false'),
    ({"attention_bias": 1}, "cfg.json: attention_bias = 1: expected true or false"),
    ({"mlp_bias": None}, "cfg.json: mlp_bias = null: expected true or false"),
])
def test_errors(changes, message):
    assert error(base(**changes)) == message


def test_not_an_object():
    assert error([1, 2]) == "cfg.json: expected a JSON object, got list"


def test_file_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"^cannot read .*nope\.json: No such file or directory$"):
        load_config(str(tmp_path / "nope.json"))
    bad = tmp_path / "bad.json"
    bad.write_text('{"model_type": "llama",}')
    with pytest.raises(ConfigError) as e:
        load_config(str(bad))
    assert str(e.value) == f"{bad}: not valid JSON: Expecting property name enclosed in double quotes: line 1 column 24 (char 23)"
    binary = tmp_path / "bin.json"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match=r"bin\.json: not UTF-8 text$"):
        load_config(str(binary))
    with pytest.raises(ConfigError, match=r"^cannot read .*/config\.json: No such file or directory$"):
        load_config(str(tmp_path))  # an HF model directory without a config.json
    good = tmp_path / "config.json"
    good.write_text(json.dumps(PRESETS["tiny-llama"]))
    assert load_config(str(good)) == parse_config(PRESETS["tiny-llama"])
    assert load_config(str(tmp_path)) == parse_config(PRESETS["tiny-llama"], str(good))
