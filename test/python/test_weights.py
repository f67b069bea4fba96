"""check-weights: safetensors headers against a traced module's params, with files the tests write."""
import json
import os
import struct

import pytest

from conftest import DATA, load_data_config, run_cube
from cube import model_tree, trace, weights
from cube.config import parse_config
from cube.presets import PRESETS

SIZES = {"F32": 4, "BF16": 2, "F16": 2, "I64": 8}


def write_safetensors(path, tensors, metadata=None, header=None):
    """tensors: {name: (dtype, shape)}; the data is zeros. header: a raw header to write instead."""
    if header is None:
        entries, offset = {}, 0
        for name, (dtype, shape) in tensors.items():
            n = SIZES[dtype]
            for d in shape:
                n *= d
            entries[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + n]}
            offset += n
        if metadata is not None:
            entries["__metadata__"] = metadata
        header, size = json.dumps(entries).encode(), offset
    else:
        size = 64
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header + bytes(size))
    return str(path)


def module_file(tmp_path, cfg_dict, dtype="f32", name="model.mlir"):
    path = tmp_path / name
    path.write_text(trace.trace(parse_config(cfg_dict), 1, 4, dtype))
    return str(path)


def hf_tensors(cfg_dict, dtype="F32", include_tied=False):
    root = model_tree.build(parse_config(cfg_dict))
    return {k: (dtype, p.shape) for k, p in model_tree.parameters(root, include_tied)}


TINY = PRESETS["tiny-llama"]


def test_hf_saved_file_matches(tmp_path):
    """tiny-llama.safetensors is HF's own save_pretrained() output (make_hf_reference.py)."""
    problems, notes, summary = weights.check(module_file(tmp_path, TINY), [os.path.join(DATA, "tiny-llama.safetensors")])
    assert problems == [] and notes == []
    assert summary.startswith("21 parameters in ") and ", 21 tensors in " in summary


def test_written_file_matches_with_metadata(tmp_path):
    st = write_safetensors(tmp_path / "w.safetensors", hf_tensors(TINY), metadata={"format": "pt"})
    assert weights.check(module_file(tmp_path, TINY), [st])[0] == []


def test_every_kind_of_problem(tmp_path):
    t = hf_tensors(TINY)
    del t["model.norm.weight"]
    t["model.layers.0.self_attn.k_proj.weight"] = ("F32", (64, 64))
    t["model.layers.1.mlp.up_proj.weight"] = ("BF16", (128, 64))
    t["model.layers.2.mlp.up_proj.weight"] = ("F32", (128, 64))
    st = write_safetensors(tmp_path / "w.safetensors", t)
    problems, notes, _ = weights.check(module_file(tmp_path, TINY), [st])
    assert problems == [
        "missing: model.norm.weight (f32 [64]) is not in the file",
        "shape mismatch: model.layers.0.self_attn.k_proj.weight: [32, 64] in the module, [64, 64] in the file",
        "dtype mismatch: model.layers.1.mlp.up_proj.weight: f32 in the module, BF16 in the file",
        "unexpected: model.layers.2.mlp.up_proj.weight (F32 [128, 64]) is not a parameter of the module",
    ]
    assert notes == []


def test_allow_cast(tmp_path):
    st = write_safetensors(tmp_path / "w.safetensors", hf_tensors(TINY, "BF16"))
    mod = module_file(tmp_path, TINY)
    assert len(weights.check(mod, [st])[0]) == 21
    problems, notes, _ = weights.check(mod, [st], allow_cast=True)
    assert problems == [] and len(notes) == 21
    assert notes[0] == "dtype mismatch: model.embed_tokens.weight: f32 in the module, BF16 in the file (cast on load)"
    assert weights.check(module_file(tmp_path, TINY, "bf16"), [st])[0] == []
    ints = write_safetensors(tmp_path / "i.safetensors", hf_tensors(TINY, "I64"))
    assert len(weights.check(mod, [ints], allow_cast=True)[0]) == 21  # not a float: never cast


def test_tied(tmp_path):
    tied = load_data_config("tied.json")
    mod = module_file(tmp_path, tied)
    # as save_pretrained writes it: no lm_head.weight
    st = write_safetensors(tmp_path / "a.safetensors", hf_tensors(tied))
    assert weights.check(mod, [st])[:2] == ([], [])
    # with the tied copy (state_dict() saved by hand): accepted, noted
    st = write_safetensors(tmp_path / "b.safetensors", hf_tensors(tied, include_tied=True))
    problems, notes, _ = weights.check(mod, [st])
    assert problems == [] and notes == ["tied: lm_head.weight in the file is ignored; the module ties lm_head "
                                        "to model.embed_tokens.weight (as HF does)"]
    # a lm_head.weight of another shape is unexpected
    t = hf_tensors(tied)
    t["lm_head.weight"] = ("F32", (255, 64))
    st = write_safetensors(tmp_path / "c.safetensors", t)
    assert weights.check(mod, [st])[0] == ["unexpected: lm_head.weight (F32 [255, 64]) is not a parameter of the module"]
    # untied module, file without lm_head.weight: missing
    st = write_safetensors(tmp_path / "d.safetensors", hf_tensors(tied))
    assert weights.check(module_file(tmp_path, TINY), [st])[0][0] == \
        "missing: model.layers.1.self_attn.q_proj.weight (f32 [64, 64]) is not in the file"


def test_shards_and_directories(tmp_path):
    t = list(hf_tensors(TINY).items())
    d = tmp_path / "ckpt"
    d.mkdir()
    write_safetensors(d / "model-00001-of-00002.safetensors", dict(t[:10]))
    write_safetensors(d / "model-00002-of-00002.safetensors", dict(t[10:]))
    (d / "config.json").write_text("{}")
    mod = module_file(tmp_path, TINY)
    problems, _, summary = weights.check(mod, [str(d)])
    assert problems == [] and summary.endswith("model-00001-of-00002.safetensors, " + str(d / "model-00002-of-00002.safetensors"))
    write_safetensors(tmp_path / "dup.safetensors", dict(t[:1]))
    with pytest.raises(weights.WeightsError, match=r"dup\.safetensors: tensor 'model\.embed_tokens\.weight' is also in .*00001"):
        weights.check(mod, [str(d), str(tmp_path / "dup.safetensors")])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(weights.WeightsError, match=r"empty: no \.safetensors files in this directory$"):
        weights.check(mod, [str(empty)])


def header_error(tmp_path, raw=None, tensors=None, data=None):
    path = tmp_path / "bad.safetensors"
    if raw is not None:
        path.write_bytes(raw)
    else:
        write_safetensors(path, {}, header=json.dumps(tensors).encode() if data is None else data)
    with pytest.raises(weights.WeightsError) as e:
        weights.read_header(str(path))
    return str(e.value).replace(str(path), "F")


def test_header_errors(tmp_path):
    assert header_error(tmp_path, raw=b"abc") == "F: too short for a safetensors file (3 bytes)"
    assert header_error(tmp_path, raw=struct.pack("<Q", 1000) + b"{}") == \
        "F: header length 1000 does not fit the file (10 bytes); not a safetensors file?"
    assert header_error(tmp_path, data=b"{nope") .startswith("F: the header is not valid JSON: Expecting property name")
    assert header_error(tmp_path, data=b"\xff\xff").startswith("F: the header is not valid JSON: 'utf-8' codec")
    assert header_error(tmp_path, tensors=[1]) == "F: the header is not a JSON object"
    assert header_error(tmp_path, tensors={"a": 3}) == \
        "F: tensor 'a': expected an object with dtype, shape and data_offsets"
    assert header_error(tmp_path, tensors={"a": {"dtype": "F31", "shape": [1], "data_offsets": [0, 4]}}) == \
        "F: tensor 'a': unknown dtype \"F31\""
    assert header_error(tmp_path, tensors={"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}) == \
        "F: tensor 'a': shape [-1] is not a list of sizes"
    assert header_error(tmp_path, tensors={"a": {"dtype": "F32", "shape": [1], "data_offsets": [0]}}) == \
        "F: tensor 'a': data_offsets [0] is not [begin, end]"
    assert header_error(tmp_path, tensors={"a": {"dtype": "F32", "shape": [1], "data_offsets": [60, 68]}}) == \
        "F: tensor 'a': data_offsets [60, 68] are outside the data (64 bytes)"
    assert header_error(tmp_path, tensors={"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}) == \
        "F: tensor 'a': data_offsets [0, 8] hold 8 bytes, but F32 [3] needs 12"
    with pytest.raises(weights.WeightsError, match=r"^cannot read .*missing\.safetensors: No such file or directory$"):
        weights.read_header(str(tmp_path / "missing.safetensors"))


def test_module_errors(tmp_path):
    st = write_safetensors(tmp_path / "w.safetensors", hf_tensors(TINY))
    with pytest.raises(weights.WeightsError, match=r"^cannot read .*nope\.mlir: No such file or directory$"):
        weights.check(str(tmp_path / "nope.mlir"), [st])
    empty = tmp_path / "empty.mlir"
    empty.write_text("module {\n}\n")
    with pytest.raises(weights.WeightsError, match=r"empty\.mlir: no cube\.param ops found \(is this a traced cube module\?\)$"):
        weights.check(str(empty), [st])
    with pytest.raises(weights.WeightsError, match=r"w\.safetensors: not UTF-8 text \(expected a \.mlir module\)$"):
        weights.check(st, [st])


def test_cube_opt_printed_form():
    """cube-opt prints the attributes sorted and with %argN names; the params still parse."""
    text = ('module attributes {cube.modules = [["", "LlamaForCausalLM"], ["lm_head", "Linear"]]} {\n'
            '  %0 = "cube.param"() {cube.scope = "lm_head", init = "normal(std=0.02)", name = "lm_head.weight", '
            'trainable = true} : () -> tensor<256x64xbf16>\n}\n')
    params, paths = weights.module_params(text, "x.mlir")
    assert params == {"lm_head.weight": ((256, 64), "bf16")} and paths == {"", "lm_head"}


def test_command_line(tmp_path):
    mod = module_file(tmp_path, TINY)
    r = run_cube("check-weights", mod, os.path.join(DATA, "tiny-llama.safetensors"))
    assert r.returncode == 0 and r.stderr == ""
    assert r.stdout.endswith("OK: every parameter is in the weights with its shape and dtype\n")
    t = hf_tensors(TINY)
    del t["lm_head.weight"]
    st = write_safetensors(tmp_path / "w.safetensors", t)
    r = run_cube("check-weights", mod, st)
    assert r.returncode == 1
    assert r.stdout.splitlines()[1:] == ["  missing: lm_head.weight (f32 [256, 64]) is not in the file", "FAIL: 1 problem"]
    r = run_cube("check-weights", mod, str(tmp_path / "none.safetensors"))
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr == f"cube check-weights: error: cannot read {tmp_path / 'none.safetensors'}: No such file or directory\n"
    st = write_safetensors(tmp_path / "b.safetensors", hf_tensors(TINY, "BF16"))
    r = run_cube("check-weights", "--allow-cast", mod, st)
    assert r.returncode == 0
    assert r.stdout.endswith("OK: every parameter is in the weights with its shape and a float dtype (21 cast on load)\n")
