"""HF's module tree of LlamaForCausalLM: module paths, class names, parameters, and PyTorch's repr.

The tree is what transformers builds (checked against transformers 5.17 by the reference data in
test/python/data/hf_reference.json):

    LlamaForCausalLM: model (LlamaModel), lm_head (Linear)
    LlamaModel: embed_tokens (Embedding), layers (ModuleList of LlamaDecoderLayer), norm (LlamaRMSNorm),
                rotary_emb (LlamaRotaryEmbedding, no parameters: inv_freq is a non-persistent buffer)
    LlamaDecoderLayer: self_attn (LlamaAttention), mlp (LlamaMLP), input_layernorm, post_attention_layernorm
    LlamaAttention: q_proj, k_proj, v_proj, o_proj (Linear)
    LlamaMLP: gate_proj, up_proj, down_proj (Linear), act_fn (SiLUActivation for "silu", SiLU for "swish")

``modules()`` lists the tree as ``named_modules()`` does (pre-order), which is the scope table;
``parameters()`` lists the parameters as ``named_parameters()`` does (a module's own parameters, then its
children's), which is the order of the cube.param ops.
"""

from dataclasses import dataclass, field


@dataclass
class Param:
    name: str  # local name: "weight" or "bias"
    shape: tuple
    init: str  # a cube.param init spec
    tied_to: str = ""  # full name of the parameter this one is the same tensor as (tied embeddings)


@dataclass
class Module:
    cls: str
    extra_repr: str = ""
    children: list = field(default_factory=list)  # [(name, Module)]
    params: list = field(default_factory=list)  # [Param]
    is_list: bool = False  # a ModuleList: repr collapses identical repeated children


def _float_repr(x):
    return repr(float(x)) if isinstance(x, float) else repr(x)


def _normal(cfg):
    return f"normal(std={_float_repr(float(cfg.initializer_range))})"


def linear(cfg, fan_in, fan_out, bias):
    params = [Param("weight", (fan_out, fan_in), _normal(cfg))]
    if bias:
        params.append(Param("bias", (fan_out,), "zeros"))  # HF's _init_weights zeroes Linear biases
    return Module("Linear", f"in_features={fan_in}, out_features={fan_out}, bias={bias}", params=params)


def rmsnorm(cfg):
    # LlamaRMSNorm.extra_repr: f"{tuple(self.weight.shape)}, eps={self.variance_epsilon}"
    return Module("LlamaRMSNorm", f"({cfg.hidden_size},), eps={cfg.rms_norm_eps!r}",
                  params=[Param("weight", (cfg.hidden_size,), "ones")])


def decoder_layer(cfg):
    h, d = cfg.hidden_size, cfg.head_dim
    q, kv = cfg.num_attention_heads * d, cfg.num_key_value_heads * d
    ab, mb = cfg.attention_bias, cfg.mlp_bias
    attn = Module("LlamaAttention", children=[
        ("q_proj", linear(cfg, h, q, ab)),
        ("k_proj", linear(cfg, h, kv, ab)),
        ("v_proj", linear(cfg, h, kv, ab)),
        ("o_proj", linear(cfg, q, h, ab)),
    ])
    mlp = Module("LlamaMLP", children=[
        ("gate_proj", linear(cfg, h, cfg.intermediate_size, mb)),
        ("up_proj", linear(cfg, h, cfg.intermediate_size, mb)),
        ("down_proj", linear(cfg, cfg.intermediate_size, h, mb)),
        ("act_fn", Module(cfg.act_class)),
    ])
    return Module("LlamaDecoderLayer", children=[
        ("self_attn", attn),
        ("mlp", mlp),
        ("input_layernorm", rmsnorm(cfg)),
        ("post_attention_layernorm", rmsnorm(cfg)),
    ])


def build(cfg):
    """The LlamaForCausalLM module tree for a LlamaConfig."""
    embed = Module("Embedding", f"{cfg.vocab_size}, {cfg.hidden_size}",
                   params=[Param("weight", (cfg.vocab_size, cfg.hidden_size), _normal(cfg))])
    layers = Module("ModuleList", is_list=True,
                    children=[(str(i), decoder_layer(cfg)) for i in range(cfg.num_hidden_layers)])
    model = Module("LlamaModel", children=[
        ("embed_tokens", embed),
        ("layers", layers),
        ("norm", rmsnorm(cfg)),
        ("rotary_emb", Module("LlamaRotaryEmbedding")),
    ])
    lm_head = linear(cfg, cfg.hidden_size, cfg.vocab_size, False)
    if cfg.tie_word_embeddings:
        lm_head.params[0].tied_to = "model.embed_tokens.weight"
    return Module("LlamaForCausalLM", children=[("model", model), ("lm_head", lm_head)])


def _join(prefix, name):
    return f"{prefix}.{name}" if prefix else name


def modules(root, prefix=""):
    """[(path, Module)] in named_modules() order; the root's path is ""."""
    out = [(prefix, root)]
    for name, child in root.children:
        out += modules(child, _join(prefix, name))
    return out


def parameters(root, include_tied=False):
    """[(full name, Param)] in named_parameters() order. Tied parameters are left out, as
    named_parameters() and save_pretrained() leave them out; state_dict() has them (include_tied)."""
    out = []
    for path, m in modules(root):
        for p in m.params:
            if include_tied or not p.tied_to:
                out.append((_join(path, p.name), p))
    return out


# ---- PyTorch's nn.Module.__repr__ and ModuleList.__repr__ ------------------------------------------


def _addindent(s, n):
    lines = s.split("\n")
    if len(lines) == 1:
        return s
    return lines[0] + "\n" + "\n".join(" " * n + line for line in lines[1:])


def format_module(m):
    """repr(module), as PyTorch writes it."""
    if m.is_list:
        return _format_list(m)
    extra = m.extra_repr.split("\n") if m.extra_repr else []
    child = [f"({name}): " + _addindent(format_module(c), 2) for name, c in m.children]
    s = m.cls + "("
    if extra or child:
        if len(extra) == 1 and not child:
            s += extra[0]
        else:
            s += "\n  " + "\n  ".join(extra + child) + "\n"
    return s + ")"


def _format_list(m):
    reprs = [format_module(c) for _, c in m.children]
    if not reprs:
        return m.cls + "()"
    blocks = []  # [start, end, repr]: runs of equal reprs
    for i, r in enumerate(reprs):
        if blocks and blocks[-1][2] == r:
            blocks[-1][1] = i
        else:
            blocks.append([i, i, r])
    lines = []
    for start, end, r in blocks:
        text = f"({start}): {r}" if start == end else f"({start}-{end}): {end - start + 1} x {r}"
        lines.append(_addindent(text, 2))
    return m.cls + "(\n  " + "\n  ".join(lines) + "\n)"
