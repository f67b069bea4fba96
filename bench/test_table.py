"""Tests of bench/table.py on fabricated inputs (standard library + pytest; run by hand, not in CI):

    python3 -m pytest -q bench/test_table.py
"""
import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import table  # noqa: E402

GiB = 1 << 30

BF16_LOG = """\
/tmp/x.mlir:419:14: error: cube-lower-to-linalg: cannot lower 'cube.rmsnorm_grad': rmsnorm_grad: only f32 for now (the result accumulates a sum)
    %210:2 = "cube.rmsnorm_grad"(%195, %109, %209) ...
             ^
/tmp/x.mlir:476:14: error: cube-lower-to-linalg: cannot lower 'cube.attention_grad': attention_grad: only f32 for now
/tmp/x.mlir:532:14: error: cube-lower-to-linalg: cannot lower 'cube.rmsnorm_grad': rmsnorm_grad: only f32 for now (the result accumulates a sum)
cube compile: error: compiling /tmp/x.mlir failed (cube-opt exited with 1)
"""


def run_table(*args):
    return subprocess.run([sys.executable, os.path.join(HERE, "table.py"), *args], check=True,
                          capture_output=True, text=True).stdout


def write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return str(path)


def jsonl(path, rows):
    return write(path, "".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture
def compile_times(tmp_path):
    """compile_times.json as prepare.sh writes it: fp32 compiled, the two bf16 variants failed."""
    art = tmp_path / "lora-rc-fp32"
    art.mkdir()
    write(art / "plan.json", json.dumps({"arena_bytes": 3 * GiB, "memory": {"arena": 3 * GiB}}))
    log_ok = write(tmp_path / "ok.log", "wrote art\n")
    log_bad = write(tmp_path / "bad.log", BF16_LOG)
    recs = []
    for v, stage, log in (("lora-rc-fp32", "done", log_ok), ("lora-rc-bf16", "codegen", log_bad),
                          ("full-bf16", "codegen", log_bad)):
        out = tmp_path / f"{v}.json"
        t3 = "106.0" if stage == "done" else "-"
        run_table("compile-record", "--out", str(out), "--variant", v, "--stage", stage,
                  "--stamps", "100.0", "100.2", "100.3", t3, "106.5", "--pipeline", "builtin.module(x)",
                  "--log", log, "--artifact", str(tmp_path / v))
        recs.append(str(out))
    ct = tmp_path / "compile_times.json"
    run_table("compile-merge", "--out", str(ct), "--preset", "mini-llama", "--batch", "8", "--seq", "1024",
              "--target", "cuda", "--cores", "2", "--host-cores", "2", "--pinned", "taskset -c 0-1",
              "--variants", "lora-rc-fp32", "lora-rc-bf16", "full-bf16", "--", *recs)
    return ct


def test_distill_errors_dedups_and_drops_locations():
    errs = table.distill_errors(BF16_LOG)
    assert errs == [
        {"message": "cube-lower-to-linalg: cannot lower 'cube.rmsnorm_grad': rmsnorm_grad: only f32 for now "
                    "(the result accumulates a sum)", "count": 2},
        {"message": "cube-lower-to-linalg: cannot lower 'cube.attention_grad': attention_grad: only f32 for now",
         "count": 1},
    ]
    # the driver's wrapper line counts only when nothing else was said
    assert table.distill_errors("cube compile: error: compiling a failed (cube-opt exited with 1)\n") == [
        {"message": "cube compile: error: compiling a failed (cube-opt exited with 1)", "count": 1}]


def test_compile_records(compile_times):
    ct = json.load(open(compile_times))
    assert ct["variant_order"] == ["lora-rc-fp32", "lora-rc-bf16", "full-bf16"]
    ok = ct["variants"]["lora-rc-fp32"]
    assert ok["ok"] and ok["seconds"] == pytest.approx(6.5) and ok["codegen_s"] == pytest.approx(5.7)
    assert ok["arena_bytes"] == 3 * GiB
    bad = ct["variants"]["lora-rc-bf16"]
    assert not bad["ok"] and bad["stage"] == "codegen" and bad["codegen_s"] is None
    assert "rmsnorm_grad: only f32 for now" in bad["error"] and "(x2)" in bad["error"]
    assert bad["error_short"].startswith("codegen failed: cannot lower 'cube.rmsnorm_grad'")
    assert bad["error_short"].endswith("(+1 more kind of error)")


def test_cube_result_median_after_warmup(tmp_path, compile_times):
    art = tmp_path / "lora-rc-fp32"
    # 25 steps of 8192 tokens: 5 slow warm-up steps (10 s each), then 2000 ms steps, one outlier
    rows = []
    for s in range(1, 26):
        ms = 10000.0 if s <= 5 else (2500.0 if s == 13 else 2000.0)
        rows.append({"step": s, "loss": 10.5 - s * 0.01, "lr": 1e-4, "grad_norm": 1.0,
                     "tokens_per_s": 8192 / (ms / 1000.0)})
    log = jsonl(tmp_path / "cube.jsonl", rows)
    out = run_table("cube-result", "--variant", "lora-rc-fp32", "--artifact", str(art), "--log", log,
                    "--rc", "0", "--tokens-per-step", "8192", "--skip", "5", "--wall-s", "120",
                    "--compile-json", str(compile_times))
    r = json.loads(out)
    assert r["step_ms"] == pytest.approx(2000.0) and r["steps_measured"] == 20
    assert r["tokens_per_s"] == 4096 and r["peak_bytes"] == 3 * GiB
    assert r["loss_first"] == pytest.approx(10.49) and r["loss_last"] == pytest.approx(10.25)
    assert "error" not in r and "note" not in r
    assert r["startup_s"] == pytest.approx(120 - (5 * 10 + 19 * 2 + 2.5))


def test_cube_result_errors(tmp_path, compile_times):
    art = str(tmp_path / "lora-rc-fp32")
    # not compiled: the compile error, not a missing file
    r = json.loads(run_table("cube-result", "--variant", "lora-rc-bf16", "--artifact", str(tmp_path / "nope"),
                             "--log", str(tmp_path / "none.jsonl"), "--tokens-per-step", "8192",
                             "--compile-json", str(compile_times)))
    assert r["error"].startswith("not compiled: codegen failed: cube-lower-to-linalg: cannot lower")
    assert r["error_short"].startswith("not compiled: codegen failed: cannot lower 'cube.rmsnorm_grad'")
    # no artifact, no compile record
    r = json.loads(run_table("cube-result", "--variant", "x-fp32", "--artifact", str(tmp_path / "nope"),
                             "--log", str(tmp_path / "none.jsonl"), "--tokens-per-step", "8192"))
    assert "plan.json missing" in r["error"]
    # cube-run failed before any step: its error line
    err = write(tmp_path / "err.txt", "cube-run: error: no CUDA driver found (libcuda.so.1 could not be loaded)\n")
    r = json.loads(run_table("cube-result", "--variant", "lora-rc-fp32", "--artifact", art, "--log",
                             str(tmp_path / "none.jsonl"), "--rc", "1", "--stderr-file", err,
                             "--tokens-per-step", "8192", "--compile-json", str(compile_times)))
    assert r["error"] == "cube-run exit 1: cube-run: error: no CUDA driver found (libcuda.so.1 could not be loaded)"
    # timed out after 8 steps: the 3 measured ones count, with a note
    rows = [{"step": s, "loss": 10.0, "tokens_per_s": 4096.0} for s in range(1, 9)]
    log = jsonl(tmp_path / "part.jsonl", rows + [{"garbage": True}])
    with open(log, "a") as f:
        f.write("not json\n{\"step\": 9, \"loss\": 1")  # a half-written last line
    r = json.loads(run_table("cube-result", "--variant", "lora-rc-fp32", "--artifact", art, "--log", log,
                             "--rc", "124", "--stderr-file", write(tmp_path / "e2", ""), "--timeout-s", "240",
                             "--tokens-per-step", "8192", "--compile-json", str(compile_times)))
    assert r["step_ms"] == pytest.approx(2000.0) and r["steps_measured"] == 3 and "error" not in r
    assert "only 3 measured steps" in r["note"] and "timed out" in r["note"]
    # skipped
    r = json.loads(run_table("cube-result", "--variant", "lora-rc-fp32", "--artifact", art, "--log", log,
                             "--skipped", "the run reached DEADLINE=540 s", "--tokens-per-step", "8192"))
    assert r["error"] == "skipped: the run reached DEADLINE=540 s"


def test_smi_peak(tmp_path):
    f = write(tmp_path / "smi.txt", "600\n 700\n[N/A]\n1624\n900\n")
    r = json.loads(run_table("smi-peak", "--file", f, "--baseline", "600", "--variant", "v-fp32", "--impl", "cube"))
    assert r["smi_peak_bytes"] == 1024 * (1 << 20) and r["smi_samples"] == 4
    r = json.loads(run_table("smi-peak", "--file", str(tmp_path / "none"), "--baseline", "", "--variant", "v",
                             "--impl", "cube"))
    assert "smi_peak_bytes" not in r


def test_ensure_row(tmp_path):
    hf = tmp_path / "hf.jsonl"
    jsonl(hf, [{"variant": "a-fp32", "impl": "hf-eager", "step_ms": 1.0}])
    err = write(tmp_path / "err", "Traceback...\ntorch.OutOfMemoryError: CUDA out of memory.\n")
    run_table("ensure-row", "--file", str(hf), "--variant", "a-fp32", "--impl", "hf-eager", "--rc", "1",
              "--stderr-file", err)
    run_table("ensure-row", "--file", str(hf), "--variant", "a-bf16", "--impl", "hf-compile", "--rc", "124",
              "--stderr-file", err, "--timeout-s", "300")
    rows = table.read_jsonl(str(hf))
    assert len(rows) == 2
    assert rows[1]["error"].startswith("bench/hf_anchor.py timed out (exit 124, limit 300 s)")
    assert "OutOfMemoryError" in rows[1]["error"]


def fabricated(tmp_path, cube_bf16=None):
    hf = jsonl(tmp_path / "hf.jsonl", [
        {"variant": "lora-rc-fp32", "impl": "hf-eager", "step_ms": 198.4, "tokens_per_s": 41301,
         "peak_bytes": int(3.98 * GiB), "loss_first": 10.526, "loss_last": 10.52},
        {"variant": "lora-rc-bf16", "impl": "hf-eager", "step_ms": 108.3, "tokens_per_s": 75643,
         "peak_bytes": int(4.03 * GiB), "loss_first": 10.53, "loss_last": 10.52},
        {"variant": "lora-rc-bf16", "impl": "hf-compile", "step_ms": 39.0, "tokens_per_s": 209846,
         "peak_bytes": int(2.54 * GiB), "loss_first": 10.53, "loss_last": 10.52, "warmup": 5, "warmup_s": 71.24},
        {"variant": "full-bf16", "impl": "hf-eager", "error": "OutOfMemoryError: CUDA out of memory"},
    ])
    cube_rows = [{"variant": "lora-rc-fp32", "impl": "cube", "step_ms": 150.0, "tokens_per_s": 54613,
                  "peak_bytes": 3 * GiB, "arena_bytes": 3 * GiB, "loss_first": 10.526, "loss_last": 10.5,
                  "startup_s": 3.14}]
    if cube_bf16:
        cube_rows.append(cube_bf16)
    cube = jsonl(tmp_path / "cube.jsonl", cube_rows)
    smi = jsonl(tmp_path / "smi.jsonl", [{"variant": "lora-rc-fp32", "impl": "cube", "smi_peak_bytes": int(3.6 * GiB)}])
    env = write(tmp_path / "env.json", json.dumps({"gpu": "NVIDIA H100 80GB HBM3", "driver": "580"}))
    return hf, cube, smi, env


def test_table(tmp_path, compile_times):
    hf, cube, smi, env = fabricated(tmp_path)
    out = tmp_path / "table.md"
    text = run_table("table", "--hf", hf, "--cube", cube, "--smi", smi, "--compile", str(compile_times),
                     "--env", env, "--out", str(out))
    assert out.read_text() == text
    lines = text.splitlines()
    assert lines[0] == "device: gpu NVIDIA H100 80GB HBM3, driver 580"
    header = next(i for i, l in enumerate(lines) if l.startswith("| variant"))
    body = []
    for l in lines[header + 2:]:
        if not l.startswith("|"):
            break
        body.append([c.strip() for c in l.strip("|").split("|")])
    # rows in the prepared order, each variant: HF eager, HF torch.compile, cube
    assert [(r[0].split("(")[-1].rstrip(")"), r[1]) for r in body] == [
        ("lora-rc-fp32", "HF eager"), ("lora-rc-fp32", "cube"),
        ("lora-rc-bf16", "HF eager"), ("lora-rc-bf16", "HF torch.compile"), ("lora-rc-bf16", "cube"),
        ("full-bf16", "HF eager"), ("full-bf16", "cube")]
    fp32_cube = body[1]
    assert fp32_cube[2] == "fp32, TF32 off"
    assert fp32_cube[3:9] == ["150.0", "54,613", "3.00", "3.60", "0.76x eager", "10.5260 → 10.5000"]
    assert body[0][3:8] == ["198.4", "41,301", "3.98", "n/a", "—"]
    assert body[3][2] == "bf16 autocast (fp32 weights)"
    bf16_cube = body[4]
    assert bf16_cube[2] == "bf16, fp32 master weights"
    assert bf16_cube[3].startswith("n/a: not compiled: codegen failed: cannot lower 'cube.rmsnorm_grad'")
    assert body[5][3] == "n/a: OutOfMemoryError: CUDA out of memory"
    # the compile line and the bars
    compile_line = next(l for l in lines if l.startswith("compile time"))
    assert "lora-rc-fp32 6.5 s" in compile_line and "2 cores" in compile_line
    assert "lora-rc-bf16 n/a: codegen failed: cannot lower 'cube.rmsnorm_grad'" in compile_line
    bars = [l for l in lines if l.startswith("- ")]
    assert bars[0].startswith("- LoRA+recompute bf16") and "n/a (not compiled" in bars[0]
    assert bars[1].startswith("- LoRA+recompute fp32") and "**PASS**" in bars[1] and "158.7 ms" in bars[1]
    assert bars[2].startswith("- compile of mini-llama <= 60 s on 2 cores: **PASS** (max 6.5 s")
    assert any("lora-rc-bf16 / cube: not compiled: codegen failed: cube-lower-to-linalg" in l for l in lines)
    assert "- lora-rc-bf16 / HF torch.compile: warm-up (5 steps, compilation included) 71.2 s" in lines
    assert "- lora-rc-fp32 / cube: cube-run start-up (plan load, PTX JIT, parameter init) 3.1 s" in lines


def test_table_bf16_bar(tmp_path, compile_times):
    row = {"variant": "lora-rc-bf16", "impl": "cube", "step_ms": 35.0, "tokens_per_s": 234057,
           "peak_bytes": int(2.7 * GiB), "loss_first": 10.5, "loss_last": 10.4}
    hf, cube, smi, env = fabricated(tmp_path, row)
    text = run_table("table", "--hf", hf, "--cube", cube, "--compile", str(compile_times))
    bar = next(l for l in text.splitlines() if l.startswith("- LoRA+recompute bf16"))
    assert "**FAIL**" in bar and "35.0 vs 39.0 ms" in bar and "2.70 vs 2.54 GiB" in bar  # memory misses
    cube_line = next(l for l in text.splitlines() if "(lora-rc-bf16) | cube" in l)
    assert "0.32x eager, 0.90x compile" in cube_line
    row["peak_bytes"] = int(2.5 * GiB)
    hf, cube, smi, env = fabricated(tmp_path, row)
    text = run_table("table", "--hf", hf, "--cube", cube, "--compile", str(compile_times), "--variants",
                     "lora-rc-bf16")
    assert "**PASS**" in next(l for l in text.splitlines() if l.startswith("- LoRA+recompute bf16"))
    assert "(lora-rc-fp32)" not in text  # --variants restricts the rows


def test_table_without_inputs(tmp_path):
    text = run_table("table", "--hf", str(tmp_path / "no"), "--cube", str(tmp_path / "no"),
                     "--compile", str(tmp_path / "no.json"))
    assert "compile time: n/a (no compile_times.json" in text
    assert "n/a (missing row)" in text
