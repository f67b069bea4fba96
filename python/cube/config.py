"""Reading an HF Llama ``config.json`` into a :class:`LlamaConfig`.

Missing fields take HF's ``LlamaConfig`` defaults, so a config file means here what it means to
transformers. Fields that change the model in a way the cube dialect cannot express are errors that name
the field and its value (``ConfigError``); fields that do not change the training computation
(``bos_token_id``, ``torch_dtype``, ``use_cache``, ...) are ignored.
"""

import json
import math
import os
from dataclasses import dataclass


class ConfigError(Exception):
    """A config that cube cannot trace; the message names the field and the value."""


# hidden_act -> the class HF instantiates for it (transformers' ACT2FN; checked against transformers 5.17
# by test/python/data/make_hf_reference.py: "silu" is SiLUActivation, "swish" is torch's nn.SiLU).
ACTIVATIONS = {"silu": "SiLUActivation", "swish": "SiLU"}


@dataclass(frozen=True)
class LlamaConfig:
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    hidden_act: str
    max_position_embeddings: int
    initializer_range: float
    rms_norm_eps: float
    rope_theta: float
    tie_word_embeddings: bool
    attention_bias: bool
    mlp_bias: bool

    @property
    def act_class(self):
        return ACTIVATIONS[self.hidden_act]


def _show(value):
    return json.dumps(value)


class _Reader:
    def __init__(self, data, source):
        self.data = data
        self.source = source

    def fail(self, field, why):
        raise ConfigError(f"{self.source}: {field} = {_show(self.data.get(field))}: {why}")

    def positive_int(self, field, default):
        v = self.data.get(field, default)
        if v is None and default is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise ConfigError(f"{self.source}: {field} = {_show(v)}: expected a positive integer")
        return v

    def positive_float(self, field, default):
        v = self.data.get(field, default)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            raise ConfigError(f"{self.source}: {field} = {_show(v)}: expected a positive number")
        return v

    def flag(self, field, default):
        v = self.data.get(field, default)
        if not isinstance(v, bool):
            raise ConfigError(f"{self.source}: {field} = {_show(v)}: expected true or false")
        return v


def _rope_theta(r, data):
    """rope_theta from transformers 4's ``rope_theta``/``rope_scaling`` or 5's ``rope_parameters``."""
    theta = r.positive_float("rope_theta", 10000.0)
    for field in ("rope_scaling", "rope_parameters"):
        params = data.get(field)
        if params is None:
            continue
        if not isinstance(params, dict):
            r.fail(field, "expected an object such as {\"rope_type\": \"default\"} or null")
        kind = params.get("rope_type", params.get("type", "default"))
        if kind != "default":
            raise ConfigError(
                f"{r.source}: {field}.rope_type = {_show(kind)}: not implemented; cube.rope is HF's "
                "\"default\" rotary embedding (no scaling)")
        factor = params.get("partial_rotary_factor", 1.0)
        if factor != 1.0:
            raise ConfigError(
                f"{r.source}: {field}.partial_rotary_factor = {_show(factor)}: not implemented; cube.rope "
                "rotates the whole head")
        if "rope_theta" in params:
            t = params["rope_theta"]
            if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or t <= 0:
                raise ConfigError(f"{r.source}: {field}.rope_theta = {_show(t)}: expected a positive number")
            if "rope_theta" in data and data["rope_theta"] != t:
                raise ConfigError(
                    f"{r.source}: {field}.rope_theta = {_show(t)}: disagrees with rope_theta = "
                    f"{_show(data['rope_theta'])}")
            theta = t
    return theta


def parse_config(data, source="config.json"):
    """Checks an HF Llama config (a dict, as json.load returns it) and returns a LlamaConfig."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a JSON object, got {type(data).__name__}")
    r = _Reader(data, source)
    if "model_type" not in data:
        raise ConfigError(f"{source}: model_type is missing: expected \"llama\"")
    if data["model_type"] != "llama":
        r.fail("model_type", "only \"llama\" (LlamaForCausalLM) is supported")
    arch = data.get("architectures")
    if arch is not None and (not isinstance(arch, list) or "LlamaForCausalLM" not in arch):
        r.fail("architectures", "cube traces LlamaForCausalLM, which this list does not name")

    hidden = r.positive_int("hidden_size", 4096)
    heads = r.positive_int("num_attention_heads", 32)
    kv_heads = r.positive_int("num_key_value_heads", None) or heads
    if heads % kv_heads:
        raise ConfigError(
            f"{source}: num_key_value_heads = {kv_heads}: num_attention_heads = {heads} is not a multiple of it")
    head_dim = r.positive_int("head_dim", None)
    if head_dim is None:  # HF: hidden_size // num_attention_heads
        head_dim = hidden // heads
        if head_dim == 0:
            raise ConfigError(
                f"{source}: num_attention_heads = {heads}: more heads than hidden_size = {hidden} "
                "(head_dim would be 0)")
    if head_dim % 2:
        raise ConfigError(f"{source}: head_dim = {head_dim}: rotary embeddings need an even head_dim")

    act = data.get("hidden_act", "silu")
    if act not in ACTIVATIONS:
        r.fail("hidden_act", "not supported; cube's LlamaMLP implements \"silu\" (and its alias \"swish\")")
    dropout = data.get("attention_dropout", 0.0)
    if dropout != 0:
        r.fail("attention_dropout", "not supported: cube.attention has no dropout; set it to 0.0")
    pad = data.get("pad_token_id")
    if pad is not None:
        r.fail("pad_token_id",
               "not supported: HF gives the embedding padding_idx (that row starts at zero and gets no "
               "gradient), which cube.embedding does not model; set it to null")

    return LlamaConfig(
        vocab_size=r.positive_int("vocab_size", 32000),
        hidden_size=hidden,
        intermediate_size=r.positive_int("intermediate_size", 11008),
        num_hidden_layers=r.positive_int("num_hidden_layers", 32),
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        head_dim=head_dim,
        hidden_act=act,
        max_position_embeddings=r.positive_int("max_position_embeddings", 2048),
        initializer_range=r.positive_float("initializer_range", 0.02),
        rms_norm_eps=r.positive_float("rms_norm_eps", 1e-06),
        rope_theta=_rope_theta(r, data),
        tie_word_embeddings=r.flag("tie_word_embeddings", False),
        attention_bias=r.flag("attention_bias", False),
        mlp_bias=r.flag("mlp_bias", False),
    )


def load_config(path):
    """Reads and checks a config.json file (or the config.json of an HF model directory)."""
    if os.path.isdir(path):
        path = os.path.join(path, "config.json")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: not valid JSON: {e}") from None
    return parse_config(data, path)
