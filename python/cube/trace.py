"""Emits the cube module of LlamaForCausalLM's training forward pass (docs/dialect.md is the contract).

The module is text: MLIR's generic syntax for cube ops, ordinary syntax for func.func and its return.

    module attributes {cube.modules = [["", "LlamaForCausalLM"], ["model", "LlamaModel"], ...]} {
      func.func @forward(%input_ids: tensor<BxSxi64>, %labels: tensor<BxSxi64>) -> tensor<f32> {
        <one cube.param per parameter, in named_parameters() order>
        <embedding, the decoder layers, the final norm, lm_head, the shifted cross-entropy>
        return %loss : tensor<f32>
      }
    }

Conventions (the choices docs/dialect.md leaves open):
- All cube.param ops come first, in HF's named_parameters() order, each scoped to the module that owns
  it. Tied embeddings: lm_head uses the model.embed_tokens.weight param; there is no lm_head.weight
  param (HF's named_parameters() and save_pretrained() leave it out too; its state_dict() lists it as
  an alias of the same tensor).
- Scopes: every op carries cube.scope. Projections, norms, the embedding and act_fn are scoped to their
  own module; q/k/v reshapes and transposes, the two cube.rope ops and cube.attention to the layer's
  self_attn (HF applies the rotation in LlamaAttention.forward; model.rotary_emb only computes cos/sin);
  silu(gate) * up's cube.mul to the mlp; the residual adds to the decoder layer; the loss (the labels'
  slice and pad, the reshapes, cross_entropy) to "" (LlamaForCausalLM.forward / loss_function).
- The causal-LM shift is applied to the labels, as HF's ForCausalLMLoss does (transformers >= 4.46):
  targets = pad(labels[:, 1:], value=-100) [B, S], and cross_entropy takes all B*S logits rows (a reshape,
  no copy of the largest activation of a training step).
- --dtype sets the parameters' and activations' element type; ids and labels are i64; the loss is f32
  (cube.cross_entropy takes the low-precision logits and works in fp32, as HF upcasts logits to fp32).
"""

from . import model_tree

DTYPES = {"f32": "f32", "bf16": "bf16", "f16": "f16"}


def tensor_type(shape, elem):
    return "tensor<" + "".join(f"{d}x" for d in shape) + elem + ">"


def mlir_string(s):
    out = []
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch.isprintable() and ord(ch) < 128:
            out.append(ch)
        else:
            out.extend(f"\\{b:02X}" for b in ch.encode("utf-8"))
    return '"' + "".join(out) + '"'


def mlir_float(x):
    """A builtin FloatAttr literal; MLIR needs a '.' in the mantissa (1.0e-06, not 1e-06)."""
    s = repr(float(x))
    mant, e, exp = s.partition("e")
    if "." not in mant:
        mant += ".0"
    return mant + e + exp + " : f64"


def mlir_attr(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return f"{v} : i64"
    if isinstance(v, float):
        return mlir_float(v)
    if isinstance(v, str):
        return mlir_string(v)
    if isinstance(v, tuple):  # a dense i64 array
        return "array<i64: " + ", ".join(str(int(x)) for x in v) + ">"
    raise TypeError(f"no MLIR attribute for {v!r}")


class Value:
    def __init__(self, name, shape, elem):
        self.name, self.shape, self.elem = name, tuple(shape), elem

    @property
    def type(self):
        return tensor_type(self.shape, self.elem)


class Emitter:
    """Appends cube ops in generic form to a function body."""

    def __init__(self):
        self.lines = []
        self.count = 0

    def op(self, opname, operands, shape, elem, scope, /, **attrs):
        result = Value(f"%{self.count}", shape, elem)
        self.count += 1
        attrs["cube.scope"] = scope
        attr_text = ", ".join(f"{k} = {mlir_attr(v)}" for k, v in attrs.items())
        self.lines.append(
            f'{result.name} = "cube.{opname}"({", ".join(v.name for v in operands)}) {{{attr_text}}} : '
            f'({", ".join(v.type for v in operands)}) -> {result.type}')
        return result


def trace(cfg, batch, seq, dtype="f32", header=None):
    """The cube module text for LlamaForCausalLM(cfg) on [batch, seq] token ids."""
    elem = DTYPES[dtype]
    root = model_tree.build(cfg)
    e = Emitter()
    B, S, H = batch, seq, cfg.hidden_size
    Hq, Hkv, D, V = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim, cfg.vocab_size

    params = {}
    for full, p in model_tree.parameters(root):
        scope = full.rpartition(".")[0]
        params[full] = e.op("param", [], p.shape, elem, scope, name=full, init=p.init, trainable=True)

    def w(path, name="weight"):
        return params[f"{path}.{name}"]

    def linear(x, path, out, bias):
        operands = [x, w(path)] + ([w(path, "bias")] if bias else [])
        return e.op("linear", operands, x.shape[:-1] + (out,), elem, path)

    ids = Value("%input_ids", (B, S), "i64")
    labels = Value("%labels", (B, S), "i64")
    h = e.op("embedding", [ids, w("model.embed_tokens")], (B, S, H), elem, "model.embed_tokens")

    for i in range(cfg.num_hidden_layers):
        layer = f"model.layers.{i}"
        attn, mlp = f"{layer}.self_attn", f"{layer}.mlp"
        ab, mb = cfg.attention_bias, cfg.mlp_bias

        x = e.op("rmsnorm", [h, w(f"{layer}.input_layernorm")], (B, S, H), elem, f"{layer}.input_layernorm",
                 eps=float(cfg.rms_norm_eps))
        heads = []
        for proj, n in (("q_proj", Hq), ("k_proj", Hkv), ("v_proj", Hkv)):
            y = linear(x, f"{attn}.{proj}", n * D, ab)
            y = e.op("reshape", [y], (B, S, n, D), elem, attn)
            heads.append(e.op("transpose", [y], (B, n, S, D), elem, attn, permutation=(0, 2, 1, 3)))
        q, k, v = heads
        q = e.op("rope", [q], q.shape, elem, attn, theta=float(cfg.rope_theta))
        k = e.op("rope", [k], k.shape, elem, attn, theta=float(cfg.rope_theta))
        a = e.op("attention", [q, k, v], (B, Hq, S, D), elem, attn, causal=True)
        a = e.op("transpose", [a], (B, S, Hq, D), elem, attn, permutation=(0, 2, 1, 3))
        a = e.op("reshape", [a], (B, S, Hq * D), elem, attn)
        a = linear(a, f"{attn}.o_proj", H, ab)
        h = e.op("add", [h, a], (B, S, H), elem, layer)

        x = e.op("rmsnorm", [h, w(f"{layer}.post_attention_layernorm")], (B, S, H), elem,
                 f"{layer}.post_attention_layernorm", eps=float(cfg.rms_norm_eps))
        gate = linear(x, f"{mlp}.gate_proj", cfg.intermediate_size, mb)
        up = linear(x, f"{mlp}.up_proj", cfg.intermediate_size, mb)
        gate = e.op("silu", [gate], gate.shape, elem, f"{mlp}.act_fn")
        y = e.op("mul", [gate, up], up.shape, elem, mlp)
        y = linear(y, f"{mlp}.down_proj", H, mb)
        h = e.op("add", [h, y], (B, S, H), elem, layer)

    h = e.op("rmsnorm", [h, w("model.norm")], (B, S, H), elem, "model.norm", eps=float(cfg.rms_norm_eps))
    lm_weight = params["model.embed_tokens.weight" if cfg.tie_word_embeddings else "lm_head.weight"]
    logits = e.op("linear", [h, lm_weight], (B, S, V), elem, "lm_head")

    # HF's causal-LM loss (ForCausalLMLoss, transformers >= 4.46): the labels are shifted, not the logits.
    #   labels = pad(labels, (0, 1), value=-100); shift_labels = labels[..., 1:]
    # so position s is scored against label s+1 and the last position of every row against -100 (ignored):
    # cross-entropy over all B*S logits rows, mean over labels != -100. The same loss as slicing the logits
    # to positions 0..S-2, without copying the [B, S, V] logits (the reshape is a free alias).
    n = B * S
    logits = e.op("reshape", [logits], (n, V), elem, "")
    targets = e.op("slice", [labels], (B, S - 1), "i64", "", offsets=(0, 1))
    targets = e.op("pad", [targets], (B, S), "i64", "", offsets=(0, 0), value=-100)
    targets = e.op("reshape", [targets], (n,), "i64", "")
    loss = e.op("cross_entropy", [logits, targets], (), "f32", "", ignore_index=-100)

    table = ",\n".join(f"    [{mlir_string(path)}, {mlir_string(m.cls)}]" for path, m in model_tree.modules(root))
    out = []
    if header:
        out.append(f"// {header}")
    out.append("module attributes {cube.modules = [")
    out.append(table)
    out.append("  ]} {")
    out.append(f"  func.func @forward(%input_ids: {ids.type}, %labels: {labels.type}) -> {loss.type} {{")
    out += [f"    {line}" for line in e.lines]
    out.append(f"    return {loss.name} : {loss.type}")
    out.append("  }")
    out.append("}")
    return "\n".join(out) + "\n"
