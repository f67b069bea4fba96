"""A tiny Python runner for target=cpu artifacts, for the compiler's numeric tests.

It compiles MLIR with cube-opt (cube-prepare-forward, cube-group-kernels, cube-lower-to-linalg, cube-emit),
then does what cube-run does on the CPU, from plan.json alone: one arena, inputs and parameters copied in,
each `call` step calling its kernel from kernels.so through ctypes (bare pointers, docs/plan-format.md),
`copy` steps as memmove. Keeping it independent of lib/Runtime lets the compiler be tested on its own.
"""
import ctypes
import json
import os
import shutil
import struct
import subprocess

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
NP = {"f32": np.float32, "f16": np.float16, "bf16": np.uint16, "i64": np.int64, "i32": np.int32}


def cube_opt():
    return os.environ.get("CUBE_OPT") or shutil.which("cube-opt") or os.path.join(SRC, "build", "bin", "cube-opt")


def compile_mlir(text, out_dir, target="cpu", extra="", before=""):
    """Compiles MLIR text to an artifact in out_dir (after the passes `before`, e.g. "cube-recompute,");
    returns the CompletedProcess (check .returncode)."""
    pipe = (f"builtin.module({before}cube-prepare-forward,cube-group-kernels{{target={target}}},cube-lower-to-linalg,"
            f"cube-emit{{out={out_dir} target={target}{extra}}})")
    return subprocess.run([cube_opt(), "-", f"--pass-pipeline={pipe}", "-o", os.devnull], input=text,
                          capture_output=True, text=True)


class Artifact:
    def __init__(self, path):
        self.path = path
        with open(os.path.join(path, "plan.json")) as f:
            self.plan = json.load(f)
        assert self.plan["target"] == "cpu"
        self.lib = ctypes.CDLL(os.path.join(path, self.plan["kernels_file"]))
        self.arena = np.zeros(self.plan["arena_bytes"] + 256, dtype=np.uint8)
        self.base = self.arena.ctypes.data
        self.buffers = {b["name"]: b for b in self.plan["buffers"]}

    def view(self, name):
        b = self.buffers[name]
        dt = NP[b["dtype"]]
        n = b["bytes"] // np.dtype(dt).itemsize
        return self.arena[b["offset"]:b["offset"] + b["bytes"]].view(dt)[:n].reshape(b["shape"])

    def set(self, name, array):
        v = self.view(name)
        v[...] = np.asarray(array).astype(v.dtype).reshape(v.shape)

    def input_names(self):
        return [i["name"] for i in self.plan["inputs"]]

    def run(self):
        for s in self.plan["steps"]:
            if s["op"] == "call":
                args = [ctypes.c_void_p(self.base + self.buffers[a["buffer"]]["offset"] + a.get("offset", 0))
                        for a in s["args"]]
                getattr(self.lib, s["kernel"])(*args)
            elif s["op"] == "copy":
                src = self.base + self.buffers[s["src"]["buffer"]]["offset"]
                dst = self.base + self.buffers[s["dst"]["buffer"]]["offset"]
                ctypes.memmove(dst, src, s["bytes"])
            else:
                raise ValueError(f"step {s['op']} cannot run on the CPU runner")

    def output(self, i=0):
        return self.view(self.plan["outputs"][i]["buffer"]).copy()


def read_safetensors(path):
    """name -> numpy array (f32/f16/i64 only)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    types = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32}
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        out[k] = np.frombuffer(data[a:b], dtype=types[v["dtype"]]).reshape(v["shape"])
    return out
