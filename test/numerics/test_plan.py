"""The artifacts of the traced tiny-llama (f32 and bf16, target=cpu and target=cuda) against the rules of
docs/plan-format.md that the runtime checks on load: buffers inside the arena, aligned, disjoint unless one
is an alias (same offset and bytes), bytes = elements x dtype size; params, inputs and outputs on buffers of
their kind; every step's buffers known and large enough; every kernel present in the kernels file (a symbol
of kernels.so, an .entry of kernels.ptx taking as many parameters as the launch passes); launches of at
most 1024 threads per block. The PTX goes through ptxas when a CUDA toolkit is installed (no GPU needed).
Needs no PyTorch: runs under any python3 with numpy.
"""
import ctypes
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

import cube_cpu
import plan_liveness

SIZE = {"f32": 4, "f16": 2, "bf16": 2, "i64": 8, "i32": 4}
TINY = os.path.join(cube_cpu.SRC, "examples", "models", "tiny-llama.mlir")


def trace_bf16(tmp_path):
    out = tmp_path / "tiny-bf16.mlir"
    env = dict(os.environ, PYTHONPATH=os.path.join(cube_cpu.SRC, "python"))
    r = subprocess.run([sys.executable, "-m", "cube", "trace", "--preset", "tiny-llama", "--batch", "2", "--seq", "16",
                        "--dtype", "bf16", "-o", str(out)], capture_output=True, text=True, env=env)
    assert r.returncode == 0, "cannot trace (python3 -m cube trace): " + r.stderr[-300:]
    return out.read_text()


@pytest.fixture(params=[("cpu", "f32"), ("cuda", "f32"), ("cpu", "bf16"), ("cuda", "bf16")], ids=lambda p: "-".join(p))
def artifact(request, tmp_path):
    target, dtype = request.param
    text = open(TINY).read() if dtype == "f32" else trace_bf16(tmp_path)
    out = tmp_path / "art"
    r = cube_cpu.compile_mlir(text, str(out), target=target)
    assert r.returncode == 0, r.stderr
    with open(out / "plan.json") as f:
        return str(out), json.load(f)


def elements(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def test_buffers(artifact):
    _, plan = artifact
    align, arena = plan["alignment"], plan["arena_bytes"]
    bufs = {b["name"]: b for b in plan["buffers"]}
    assert len(bufs) == len(plan["buffers"]), "buffer names are unique"
    owned = []
    for b in plan["buffers"]:
        assert b["offset"] % align == 0 and b["offset"] + b["bytes"] <= arena, b
        assert b["bytes"] == elements(b["shape"]) * SIZE[b["dtype"]], b
        if "alias_of" in b:
            t = bufs[b["alias_of"]]
            assert (t["offset"], t["bytes"]) == (b["offset"], b["bytes"]) and "alias_of" not in t, b
        else:
            owned.append((b["offset"], b["offset"] + b["bytes"], b["name"]))
    # Activations and scratch reuse memory (cube-emit plan-memory=true) only when not live together.
    plan_liveness.check_no_live_overlap(plan)


def test_params_inputs_outputs(artifact):
    _, plan = artifact
    bufs = {b["name"]: b for b in plan["buffers"]}
    assert [i["name"] for i in plan["inputs"]] == ["input_ids", "labels"]
    assert [o["name"] for o in plan["outputs"]] == ["loss"]
    assert bufs["loss"]["dtype"] == "f32" and bufs["loss"]["shape"] == []
    for i in plan["inputs"]:
        assert bufs[i["buffer"]]["kind"] == "input"
    names = set()
    for p in plan["params"]:
        b = bufs[p["buffer"]]
        assert b["kind"] == "param" and b["shape"] == p["shape"] and b["dtype"] == p["dtype"], p
        assert p["name"] not in names
        names.add(p["name"])
    assert "model.embed_tokens.weight" in names and "lm_head.weight" in names and len(names) == 21


def ref_bytes(bufs, r, need):
    b = bufs[r["buffer"]]
    assert r.get("offset", 0) + need <= b["bytes"], (r, need)


def test_steps(artifact):
    path, plan = artifact
    bufs = {b["name"]: b for b in plan["buffers"]}
    kinds = {s["op"] for s in plan["steps"]}
    if plan["target"] == "cpu":
        assert kinds == {"call"}
        lib = ctypes.CDLL(os.path.join(path, "kernels.so"))
    else:
        assert kinds == {"launch", "gemm"}
        with open(os.path.join(path, "kernels.ptx")) as f:
            ptx = f.read()
        entries = {m.group(1): m.group(2).count(".param") for m in re.finditer(r"\.entry (\w+)\(([^)]*)\)", ptx)}
    for s in plan["steps"]:
        assert s["cube_op"].startswith("cube.") and "scope" in s
        if s["op"] == "call":
            getattr(lib, s["kernel"])
            for a in s["args"]:
                ref_bytes(bufs, a, 1)
        elif s["op"] == "launch":
            assert entries[s["kernel"]] == len(s["args"]), s["kernel"]
            assert 1 <= s["block"][0] * s["block"][1] * s["block"][2] <= 1024
            assert min(s["grid"]) >= 1 and s["shared_bytes"] == 0
            for a in s["args"]:
                if "buffer" in a:
                    ref_bytes(bufs, a, 1)
        else:
            es = SIZE[s["dtype"]]
            for key, rows, cols, stride in (("a", s["m"], s["k"], s["stride_a"]), ("b", s["n"], s["k"], s["stride_b"]),
                                            ("c", s["m"], s["n"], s["stride_c"])):
                ref_bytes(bufs, s[key], ((s["batch"] - 1) * stride + rows * cols) * es)
                assert bufs[s[key]["buffer"]]["dtype"] == s["dtype"]
    if plan["target"] == "cuda":
        launched = {s["kernel"] for s in plan["steps"] if s["op"] == "launch"}
        assert launched == set(entries), "every PTX entry is launched, and only those"


def test_ptxas(artifact):
    """The PTX assembles for its chip with the CUDA toolkit's ptxas (the toolkit is a dependency)."""
    path, plan = artifact
    if plan["target"] != "cuda":
        return  # a CPU artifact has no PTX; its kernels.so is exercised by the other tests
    ptxas = shutil.which("ptxas") or "/usr/local/cuda/bin/ptxas"
    r = subprocess.run([ptxas, "-arch=" + plan["chip"], os.path.join(path, "kernels.ptx"), "-o", os.devnull],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
