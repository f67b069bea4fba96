#!/usr/bin/env python3
"""Robustness check: cube-opt on hundreds of mutated inputs must never die by a signal, hang, or print
an LLVM fatal error / assertion. Rejecting an input with a diagnostic and exit status 1 is fine.

The corpus is every .mlir file under the given roots; mutations (seeded, so every run tries the same
inputs) delete, duplicate and swap lines, swap and replace tokens, change numbers (0, -1, huge), change
element types, and truncate. Each mutant runs under several flag sets. Prints a summary line
`robustness: N inputs tried, A accepted, R rejected, 0 crashed` and the details of any failure.
"""
import argparse
import concurrent.futures
import os
import random
import re
import subprocess
import sys
import tempfile

FLAG_SETS = [
    [],
    ["--cube-summary"],
    ["--split-input-file"],
    ["--pass-pipeline=builtin.module(cube-verify,canonicalize,func.func(cse))"],
    ["--cube-freeze=patterns=*"],
    ["--cube-recompute=modules=LlamaDecoderLayer", "--cube-verify"],
    ["--cube-lora=rank=4 alpha=8 targets=q_proj,v_proj", "--cube-verify"],
    ["--pass-pipeline=builtin.module(cube-recompute{modules=LlamaDecoderLayer,LlamaMLP},"
     "cube-lora{rank=2 alpha=4 dropout=0.1 targets=q_proj,k_proj,v_proj,o_proj,gate_proj},cube-verify)"],
    ["--cube-print-module-tree"],
    ["--cube-data-parallel=bucket-mb=0", "--cube-verify"],
    ["--pass-pipeline=builtin.module(cube-attention-to-matmul{keep-flash=true},cube-prepare-forward,"
     "cube-fuse{report=true},cube-group-kernels{target=cuda},cube-lower-to-linalg)"],
]
BAD_OUTPUT = ("LLVM ERROR", "Assertion", "PLEASE submit a bug report", "Stack dump", "UNREACHABLE")
NUMBERS = ["0", "-1", "1", "3", "7", "-100", "1000000", "9223372036854775807", "-9223372036854775808",
           "4294967296", "1.5", "nan", "0x7FC00000", "1e308"]
TYPES = ["f32", "bf16", "f16", "f64", "i1", "i32", "i64", "index", "tensor<?xf32>", "tensor<f32>",
         "tensor<0xf32>", "memref<4xf32>", "none"]
TOKEN_RE = re.compile(r'"[^"\n]*"|%[\w.]+|@[\w.]+|[A-Za-z_][\w.]*|-?\d+(?:\.\d+)?(?:e[+-]?\d+)?|\S')


def mutate(text, rng):
    lines = text.split("\n")
    kind = rng.randrange(10)
    if kind == 0 and len(lines) > 1:  # delete a line
        del lines[rng.randrange(len(lines))]
        return "\n".join(lines), "delete line"
    if kind == 1:  # duplicate a line
        i = rng.randrange(len(lines))
        lines.insert(i, lines[i])
        return "\n".join(lines), "duplicate line"
    if kind == 2 and len(lines) > 2:  # swap two lines
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
        return "\n".join(lines), "swap lines"
    if kind == 3:  # truncate
        return text[: rng.randrange(max(1, len(text)))], "truncate"
    tokens = [m for m in TOKEN_RE.finditer(text)]
    if not tokens:
        return text[: len(text) // 2], "truncate"
    if kind == 4 and len(tokens) > 1:  # swap two tokens
        a, b = sorted(rng.sample(range(len(tokens)), 2))
        ta, tb = tokens[a], tokens[b]
        out = text[: ta.start()] + tb.group() + text[ta.end(): tb.start()] + ta.group() + text[tb.end():]
        return out, "swap tokens"
    if kind in (5, 6):  # change a number
        nums = [t for t in tokens if re.fullmatch(r"-?\d+(?:\.\d+)?(?:e[+-]?\d+)?", t.group())]
        if nums:
            t = rng.choice(nums)
            return text[: t.start()] + rng.choice(NUMBERS) + text[t.end():], "change number"
    if kind == 7:  # change an element type
        types = [t for t in tokens if t.group() in ("f32", "bf16", "f16", "i64", "i32")]
        dims = list(re.finditer(r"\d+x", text))
        if types and rng.random() < 0.5:
            t = rng.choice(types)
            return text[: t.start()] + rng.choice(TYPES) + text[t.end():], "change type"
        if dims:
            t = rng.choice(dims)
            return text[: t.start()] + rng.choice(["0x", "1x", "3x", "?x", "65536x"]) + text[t.end():], "change dim"
    if kind == 8:  # delete a token
        t = rng.choice(tokens)
        return text[: t.start()] + text[t.end():], "delete token"
    # replace a token with another token of the file
    t, u = rng.choice(tokens), rng.choice(tokens)
    return text[: t.start()] + u.group() + text[t.end():], "replace token"


def run_one(cube_opt, path, flags, timeout):
    try:
        p = subprocess.run([cube_opt, path, *flags], capture_output=True, text=True, errors="replace",
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        return "hang", ""
    if p.returncode < 0:
        return f"signal {-p.returncode}", p.stderr[-2000:]
    if p.returncode not in (0, 1):
        return f"exit {p.returncode}", p.stderr[-2000:]
    for bad in BAD_OUTPUT:
        if bad in p.stderr or bad in p.stdout:
            return f"printed '{bad}'", p.stderr[-2000:]
    return ("accepted" if p.returncode == 0 else "rejected"), ""


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cube-opt", default="cube-opt")
    ap.add_argument("--count", type=int, default=400, help="number of mutated inputs")
    ap.add_argument("--seed", type=int, default=20261124)
    ap.add_argument("--timeout", type=float, default=20.0)
    ap.add_argument("roots", nargs="+", help="directories whose .mlir files form the corpus")
    args = ap.parse_args()

    corpus = []
    for root in args.roots:
        for dirpath, _, files in os.walk(root):
            for f in sorted(files):
                if f.endswith(".mlir"):
                    with open(os.path.join(dirpath, f), encoding="utf-8") as fh:
                        corpus.append((os.path.join(dirpath, f), fh.read()))
    corpus.sort()
    if not corpus:
        print("robustness: no .mlir files found under", args.roots, file=sys.stderr)
        return 2
    rng = random.Random(args.seed)
    counts = {"accepted": 0, "rejected": 0}
    failures = []
    with tempfile.TemporaryDirectory() as tmp, concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        jobs = []
        for i in range(args.count):
            src, text = corpus[i % len(corpus)]
            mutant, how = mutate(text, rng)
            if rng.random() < 0.3:  # a second mutation now and then
                mutant, how2 = mutate(mutant, rng)
                how += " + " + how2
            path = os.path.join(tmp, f"mutant{i:04d}.mlir")
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(mutant)
            flags = FLAG_SETS[i % len(FLAG_SETS)]
            jobs.append((pool.submit(run_one, args.cube_opt, path, flags, args.timeout), src, how, flags, path))
        for fut, src, how, flags, path in jobs:
            outcome, err = fut.result()
            if outcome in counts:
                counts[outcome] += 1
            else:
                keep = os.path.join(os.getcwd(), "robustness-" + os.path.basename(path))
                with open(path, encoding="utf-8") as a, open(keep, "w", encoding="utf-8") as b:
                    b.write(a.read())
                failures.append(f"{outcome}: {os.path.relpath(src)} ({how}) flags={flags} kept as {keep}\n{err}")
    print(f"robustness: {args.count} inputs tried, {counts['accepted']} accepted, {counts['rejected']} rejected, "
          f"{len(failures)} crashed")
    for f in failures:
        print("FAILURE", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
