#!/usr/bin/env python3
"""The benchmark's bookkeeping, Python standard library only (it runs here and on the GPU machine).

Subcommands (bench/prepare.sh and bench/run_gpu.sh call them; bench/test_table.py tests them):

  compile-record  one variant's compile: timings from time stamps, errors distilled from its log -> JSON
  compile-merge   the per-variant records -> compile_times.json (+ bench.json, the run's configuration)
  smi-peak        a file of `nvidia-smi --query-gpu=memory.used -lms 100` samples -> one JSON line
  cube-result     one cube-run training run (its --log JSONL, exit status, stderr) -> one JSON line
  ensure-row      appends an error row for a run that wrote no row of its own (crashed, timed out)
  table           the JSON files -> one markdown table, the compile-time line and the issue's bars

Row keys shared by HF rows (bench/hf_anchor.py) and cube rows: variant, impl ("hf-eager", "hf-compile",
"cube"), step_ms, tokens_per_s, peak_bytes, loss_first, loss_last, error (absent when the run worked).
"""
import argparse
import json
import math
import os
import re
import statistics
import sys

GiB = float(1 << 30)
MiB = float(1 << 20)

IMPL_NAMES = {"hf-eager": "HF eager", "hf-compile": "HF torch.compile", "cube": "cube"}
IMPL_ORDER = {"hf-eager": 0, "hf-compile": 1, "cube": 2}
MODE_NAMES = {
    "lora-rc": "LoRA r8 q,k,v + recompute",
    "lora": "LoRA r8 q,k,v",
    "full-rc": "full fine-tune + recompute",
    "full": "full fine-tune",
}
# The bars (issue 7).
BAR_COMPILE_S = 60.0
BAR_FP32_RATIO = 0.8


# ----------------------------------------------------------------------------------------------------
# small helpers

def split_variant(variant):
    """'lora-rc-bf16' -> ('lora-rc', 'bf16')."""
    mode, _, dtype = variant.rpartition("-")
    return mode, dtype


def describe_variant(variant):
    mode, dtype = split_variant(variant)
    return f"{MODE_NAMES.get(mode, mode)}, {dtype} ({variant})"


def precision_note(variant, impl):
    _, dtype = split_variant(variant)
    if dtype == "fp32":
        return "fp32, TF32 on" if os.environ.get("TF32") == "1" else "fp32, TF32 off"
    if dtype == "bf16":
        return "bf16, fp32 master weights" if impl == "cube" else "bf16 autocast (fp32 weights)"
    return dtype


def read_jsonl(path):
    """Every JSON object of a JSON-lines file; lines that are not JSON objects are skipped."""
    rows = []
    if not path or not os.path.exists(path):
        return rows
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict):
                rows.append(obj)
    return rows


def read_json(path, default=None):
    if not path or not os.path.exists(path):
        return default
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def write_json(path, obj):
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def emit(obj, out=None):
    """One JSON line, appended to OUT or printed."""
    line = json.dumps(obj, sort_keys=True)
    if out:
        with open(out, "a", encoding="utf-8") as f:
            f.write(line + "\n")
    else:
        print(line)


def tail_text(path, n=4000):
    if not path or not os.path.exists(path):
        return ""
    with open(path, "rb") as f:
        f.seek(0, 2)
        size = f.tell()
        f.seek(max(0, size - n))
        return f.read().decode("utf-8", errors="replace")


def shorten(text, n):
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 3] + "..."


# ----------------------------------------------------------------------------------------------------
# compile records

_LOC = re.compile(r"^\S+?:\d+:\d+: ")  # file:line:col:


def distill_errors(log_text):
    """The distinct error messages of a compile log, in order of first appearance, with their counts.
    MLIR's "file:line:col: error: " prefix is dropped; the driver's closing "compiling X failed" line
    counts only when nothing else was said."""
    found, wrappers = {}, {}
    for line in log_text.splitlines():
        line = line.strip()
        if "error:" not in line:
            continue
        msg = _LOC.sub("", line)
        if msg.startswith("error: "):
            msg = msg[len("error: "):]
        target = found
        if re.match(r"^cube (compile|trace): error: compiling .* failed", msg):
            target = wrappers
        target[msg] = target.get(msg, 0) + 1
    items = found or wrappers
    return [{"message": m, "count": c} for m, c in items.items()]


def error_summary(errors, fallback):
    if not errors:
        return fallback
    parts = [e["message"] + (f" (x{e['count']})" if e["count"] > 1 else "") for e in errors]
    return "; ".join(parts)


def short_compile_error(stage, errors, fallback):
    """The first distinct message, without the pass name in front, and how many other kinds there are."""
    if not errors:
        return f"{stage} failed: {fallback}"
    msg = shorten(re.sub(r"^cube-[a-z-]+: ", "", errors[0]["message"]), 100)
    more = len(errors) - 1
    return f"{stage} failed: {msg}" + (f" (+{more} more kind{'s' if more > 1 else ''} of error)" if more else "")


def stamp_diff(a, b):
    try:
        return round(float(b) - float(a), 3)
    except (TypeError, ValueError):
        return None


def cmd_compile_record(a):
    t0, t1, t2, t3, tend = a.stamps
    ok = a.stage == "done"
    rec = {
        "variant": a.variant,
        "ok": ok,
        "stage": a.stage,
        "seconds": stamp_diff(t0, tend),
        "trace_s": stamp_diff(t0, t1),
        "rewrite_s": stamp_diff(t1, t2),
        "codegen_s": stamp_diff(t2, t3),
        "pipeline": a.pipeline,
        "log": a.log,
    }
    log_text = tail_text(a.log, 1 << 20)
    if ok:
        plan = read_json(os.path.join(a.artifact, "plan.json"), {}) if a.artifact else {}
        if plan:
            rec["arena_bytes"] = plan.get("arena_bytes")
            rec["memory"] = plan.get("memory")
        print(f"   ok: {rec['seconds']:.1f} s (trace {rec['trace_s']:.1f} s, cube-opt rewrites "
              f"{rec['rewrite_s']:.1f} s, codegen {rec['codegen_s']:.1f} s)"
              + (f", arena {rec['arena_bytes'] / GiB:.2f} GiB" if rec.get("arena_bytes") else ""))
    else:
        errors = distill_errors(log_text)
        last = [l for l in log_text.splitlines() if l.strip()]
        fallback = f"failed at {a.stage}" + (f": {last[-1].strip()}" if last else " (no output)")
        rec["errors"] = errors
        rec["error"] = f"{a.stage} failed: " + error_summary(errors, fallback)
        rec["error_short"] = short_compile_error(a.stage, errors, fallback)
        print(f"   FAILED at {a.stage} (log {a.log}):")
        for e in errors[:8] or [{"message": fallback, "count": 1}]:
            print(f"     {e['message']}" + (f"  (x{e['count']})" if e["count"] > 1 else ""))
    write_json(a.out, rec)
    return 0


def cmd_compile_merge(a):
    records = {}
    for path in a.records:
        rec = read_json(path)
        if isinstance(rec, dict) and "variant" in rec:
            records[rec["variant"]] = rec
    out = {
        "preset": a.preset, "batch": a.batch, "seq": a.seq, "target": a.target,
        "cores": a.cores, "host_cores": a.host_cores, "pinned": a.pinned,
        "what": "wall seconds from trace to artifact (trace + cube-opt rewrites + codegen)",
        "variants": {v: records.get(v, {"variant": v, "ok": False, "error": "no compile record"})
                     for v in a.variants},
        "variant_order": a.variants,
    }
    write_json(a.out, out)
    if a.config_out:
        cfg = {"preset": a.preset, "batch": a.batch, "seq": a.seq, "target": a.target,
               "variants": a.variants, "tokens": "tokens.tok"}
        try:
            sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
            from cube.presets import PRESETS  # noqa: E402
            cfg["model_config"] = PRESETS.get(a.preset)
        except ImportError:
            pass
        write_json(a.config_out, cfg)
    return 0


# ----------------------------------------------------------------------------------------------------
# measurements

def smi_peak(path):
    """(max MiB, sample count) of a file of nvidia-smi memory.used samples (one integer per line)."""
    vals = []
    if path and os.path.exists(path):
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                tok = line.strip().split(",")[0].strip()
                try:
                    vals.append(float(tok))
                except ValueError:
                    continue
    return (max(vals) if vals else None), len(vals)


def cmd_smi_peak(a):
    peak, n = smi_peak(a.file)
    row = {"variant": a.variant, "impl": a.impl, "smi_samples": n}
    try:
        base = float(a.baseline)
    except (TypeError, ValueError):
        base = None
    if peak is not None and base is not None:
        row["smi_peak_bytes"] = int(max(0.0, peak - base) * MiB)
        row["smi_baseline_MiB"] = base
    emit(row, a.out)
    return 0


def step_times_ms(log_rows, tokens_per_step):
    """Per-step milliseconds from cube-run's --log rows (tokens_per_s is tokens / step wall time)."""
    out = []
    for r in log_rows:
        tps = r.get("tokens_per_s")
        if isinstance(tps, (int, float)) and tps > 0 and "step" in r:
            out.append((int(r["step"]), tokens_per_step / float(tps) * 1000.0))
    out.sort()
    return [ms for _, ms in out]


def cube_run_error(rc, stderr_text, timeout_s=None):
    lines = [l.strip() for l in stderr_text.splitlines() if l.strip()]
    errs = [l for l in lines if "error:" in l]
    if rc in (124, 137) and not errs:
        return f"cube-run timed out (exit {rc}" + (f", limit {timeout_s} s" if timeout_s else "") + ")"
    if errs:
        return f"cube-run exit {rc}: " + errs[-1]
    if lines:
        return f"cube-run exit {rc}: " + lines[-1]
    return f"cube-run exit {rc} (no output)"


def cmd_cube_result(a):
    row = {"variant": a.variant, "impl": "cube"}
    compile_rec = (read_json(a.compile_json, {}) or {}).get("variants", {}).get(a.variant)
    if compile_rec and not compile_rec.get("ok", False):
        row["error"] = "not compiled: " + compile_rec.get("error", "unknown compile error")
        if compile_rec.get("error_short"):
            row["error_short"] = "not compiled: " + compile_rec["error_short"]
        emit(row, a.out)
        return 0
    plan = read_json(os.path.join(a.artifact, "plan.json")) if a.artifact else None
    if not plan:
        row["error"] = f"no artifact ({a.artifact}/plan.json missing: run bench/prepare.sh)"
        emit(row, a.out)
        return 0
    row["arena_bytes"] = plan.get("arena_bytes")
    row["peak_bytes"] = plan.get("arena_bytes")
    if a.skipped:
        row["error"] = "skipped: " + a.skipped
        emit(row, a.out)
        return 0
    log_rows = read_jsonl(a.log)
    times = step_times_ms(log_rows, a.tokens_per_step)
    losses = [r["loss"] for r in sorted(log_rows, key=lambda r: r.get("step", 0))
              if isinstance(r.get("loss"), (int, float))]
    if losses:
        row["loss_first"], row["loss_last"] = losses[0], losses[-1]
    row["steps_logged"] = len(times)
    if a.wall_s is not None and times:
        row["startup_s"] = round(max(0.0, a.wall_s - sum(times) / 1000.0), 2)
    measured = times[a.skip:] if len(times) > a.skip else []
    if measured:
        med = statistics.median(measured)
        row.update(step_ms=round(med, 2), min_ms=round(min(measured), 2), steps_measured=len(measured),
                   tokens_per_s=round(a.tokens_per_step / med * 1000.0))
        if len(measured) < a.min_measured:
            row["note"] = f"only {len(measured)} measured steps (< {a.min_measured})"
    if a.rc != 0:
        err = cube_run_error(a.rc, tail_text(a.stderr_file), a.timeout_s)
        if measured:
            row["note"] = (row.get("note", "") + "; " if row.get("note") else "") + err
        else:
            row["error"] = err
    elif not measured:
        row["error"] = (f"cube-run logged {len(times)} steps, none after the first {a.skip} warm-up steps"
                        if times else "cube-run wrote no step to its log")
    if losses and not all(math.isfinite(x) for x in losses):
        row["note"] = (row.get("note", "") + "; " if row.get("note") else "") + "non-finite loss"
    emit(row, a.out)
    return 0


def cmd_ensure_row(a):
    rows = read_jsonl(a.file)
    if any(r.get("variant") == a.variant and r.get("impl") == a.impl for r in rows):
        return 0
    text = tail_text(a.stderr_file)
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    if a.rc in (124, 137):
        why = f"timed out (exit {a.rc}" + (f", limit {a.timeout_s} s" if a.timeout_s else "") + ")"
    else:
        why = f"exit {a.rc}"
    last = next((l for l in reversed(lines) if "Error" in l or "error" in l), lines[-1] if lines else "")
    emit({"variant": a.variant, "impl": a.impl,
          "error": f"{a.what} {why}" + (f": {shorten(last, 300)}" if last else " (no output)")}, a.file)
    return 0


# ----------------------------------------------------------------------------------------------------
# the table

def fmt_ms(x):
    return f"{x:,.1f}" if isinstance(x, (int, float)) else "n/a"


def fmt_int(x):
    return f"{int(round(x)):,}" if isinstance(x, (int, float)) else "n/a"


def fmt_gib(x):
    return f"{x / GiB:.2f}" if isinstance(x, (int, float)) else "n/a"


def fmt_loss(r):
    a, b = r.get("loss_first"), r.get("loss_last")
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return f"{a:.4f} → {b:.4f}"
    return "n/a"


def ok(r):
    return r is not None and "error" not in r and isinstance(r.get("step_ms"), (int, float))


def collect(hf_rows, cube_rows, smi_rows, variants):
    """{(variant, impl): row}: the last row of each pair wins; nvidia-smi peaks merged in."""
    rows = {}
    for r in list(hf_rows) + list(cube_rows):
        if "variant" in r and "impl" in r:
            rows[(r["variant"], r["impl"])] = dict(r)
    for s in smi_rows:
        key = (s.get("variant"), s.get("impl"))
        if key in rows and "smi_peak_bytes" in s:
            rows[key]["smi_peak_bytes"] = s["smi_peak_bytes"]
    order = {v: i for i, v in enumerate(variants)}
    keys = sorted(rows, key=lambda k: (order.get(k[0], len(order)), k[0], IMPL_ORDER.get(k[1], 9), k[1]))
    return rows, keys


def ratio_text(rows, variant, cube_row):
    if not ok(cube_row):
        return "n/a"
    parts = []
    for impl, label in (("hf-eager", "eager"), ("hf-compile", "compile")):
        ref = rows.get((variant, impl))
        if ok(ref) and ref["step_ms"] > 0:
            parts.append(f"{cube_row['step_ms'] / ref['step_ms']:.2f}x {label}")
    return ", ".join(parts) if parts else "n/a (no anchor)"


def variant_order(compile_times):
    recs = (compile_times or {}).get("variants") or {}
    order = [v for v in (compile_times or {}).get("variant_order") or [] if v in recs]
    return order + [v for v in recs if v not in order]


def compile_line(compile_times):
    if not compile_times:
        return "compile time: n/a (no compile_times.json: run bench/prepare.sh)"
    cores = compile_times.get("cores")
    head = (f"compile time ({compile_times.get('preset', '?')}, batch {compile_times.get('batch', '?')} x "
            f"seq {compile_times.get('seq', '?')}, trace -> {compile_times.get('target', '?')} artifact, wall, "
            f"{cores} core{'s' if cores != 1 else ''}): ")
    parts = []
    for v in variant_order(compile_times):
        rec = compile_times["variants"][v]
        if rec.get("ok") and isinstance(rec.get("seconds"), (int, float)):
            parts.append(f"{v} {rec['seconds']:.1f} s")
        else:
            parts.append(f"{v} n/a: {shorten(rec.get('error_short') or rec.get('error', 'not compiled'), 170)}")
    return head + ("; ".join(parts) if parts else "no variant")


def err_text(r):
    if not r:
        return "missing row"
    return r.get("error_short") or r.get("error") or "no step time"


def verdict(cond):
    return "PASS" if cond else "FAIL"


def bars(rows, compile_times):
    out = []
    # 1. LoRA + recompute bf16: step <= torch.compile's, peak <= torch.compile's.
    c, t = rows.get(("lora-rc-bf16", "cube")), rows.get(("lora-rc-bf16", "hf-compile"))
    name = "LoRA+recompute bf16: cube step <= HF torch.compile step and cube peak <= HF torch.compile peak"
    if ok(c) and ok(t) and isinstance(c.get("peak_bytes"), (int, float)) and \
            isinstance(t.get("peak_bytes"), (int, float)):
        good = c["step_ms"] <= t["step_ms"] and c["peak_bytes"] <= t["peak_bytes"]
        out.append(f"{name}: **{verdict(good)}** ({fmt_ms(c['step_ms'])} vs {fmt_ms(t['step_ms'])} ms; "
                   f"{fmt_gib(c['peak_bytes'])} vs {fmt_gib(t['peak_bytes'])} GiB)")
    else:
        why = err_text(c) if not ok(c) else (err_text(t) if t else "no HF torch.compile row")
        out.append(f"{name}: n/a ({shorten(why or 'missing row', 120)})")
    # 2. LoRA + recompute fp32: step <= 0.8 x HF eager fp32.
    c, e = rows.get(("lora-rc-fp32", "cube")), rows.get(("lora-rc-fp32", "hf-eager"))
    name = f"LoRA+recompute fp32: cube step <= {BAR_FP32_RATIO} x HF eager fp32 step"
    if ok(c) and ok(e):
        lim = BAR_FP32_RATIO * e["step_ms"]
        out.append(f"{name}: **{verdict(c['step_ms'] <= lim)}** ({fmt_ms(c['step_ms'])} ms vs "
                   f"{BAR_FP32_RATIO} x {fmt_ms(e['step_ms'])} = {fmt_ms(lim)} ms)")
    else:
        why = err_text(c) if not ok(c) else (err_text(e) if e else "no HF eager row")
        out.append(f"{name}: n/a ({shorten(why or 'missing row', 120)})")
    # 3. compile of mini-llama <= 60 s on 2 cores.
    name = f"compile of {(compile_times or {}).get('preset', 'the model')} <= {BAR_COMPILE_S:.0f} s on 2 cores"
    recs = (compile_times or {}).get("variants") or {}
    done = {v: r["seconds"] for v, r in recs.items() if r.get("ok") and isinstance(r.get("seconds"), (int, float))}
    if done:
        good = all(s <= BAR_COMPILE_S for s in done.values())
        cores = (compile_times or {}).get("cores")
        note = "" if cores == 2 else f"; measured on {cores} cores, not 2"
        failed = [v for v, r in recs.items() if not r.get("ok")]
        if failed:
            note += f"; not compiled: {', '.join(failed)}"
        out.append(f"{name}: **{verdict(good)}** (max {max(done.values()):.1f} s over "
                   f"{', '.join(done)}{note})")
    else:
        out.append(f"{name}: n/a (no variant compiled)")
    return out


def render(hf_rows, cube_rows, smi_rows, compile_times, env=None, only=None):
    variants = variant_order(compile_times)
    if only:
        variants = [v for v in only if v in variants] + [v for v in only if v not in variants]
        hf_rows = [r for r in hf_rows if r.get("variant") in only]
        cube_rows = [r for r in cube_rows if r.get("variant") in only]
    rows, keys = collect(hf_rows, cube_rows, smi_rows, variants)
    # a variant that was set up but has no cube row at all still gets one (so its absence is explained)
    for v in variants:
        if (v, "cube") not in rows:
            rec = ((compile_times or {}).get("variants") or {}).get(v)
            if rec is None:
                row = {"error": "no compile record (run bench/prepare.sh with this variant)"}
            elif not rec.get("ok"):
                row = {"error": "not compiled: " + rec.get("error", "?")}
                if rec.get("error_short"):
                    row["error_short"] = "not compiled: " + rec["error_short"]
            else:
                row = {"error": "cube was not run"}
            rows[(v, "cube")] = dict(row, variant=v, impl="cube")
    rows, keys = collect(list(rows.values()), [], smi_rows, variants)
    lines = []
    if env:
        lines.append("device: " + ", ".join(f"{k} {v}" for k, v in env.items() if v))
        lines.append("")
    lines.append("| variant | implementation | precision | step ms | tokens/s | peak GiB | nvidia-smi GiB "
                 "| cube / anchor (step time) | loss first → last |")
    lines.append("|---|---|---|---:|---:|---:|---:|---|---|")
    notes = []
    for key in keys:
        r = rows[key]
        variant, impl = key
        cells = [describe_variant(variant), IMPL_NAMES.get(impl, impl), precision_note(variant, impl)]
        if "error" in r:
            reason = shorten(r.get("error_short") or r["error"], 110)
            cells += [f"n/a: {reason}", "n/a", fmt_gib(r.get("peak_bytes")) if impl == "cube" else "n/a",
                      "n/a", "n/a", "n/a"]
            if r.get("error_short") or len(" ".join(r["error"].split())) > 110:
                notes.append(f"{variant} / {IMPL_NAMES.get(impl, impl)}: {r['error']}")
        else:
            cells += [fmt_ms(r.get("step_ms")), fmt_int(r.get("tokens_per_s")), fmt_gib(r.get("peak_bytes")),
                      fmt_gib(r.get("smi_peak_bytes")),
                      ratio_text(rows, variant, r) if impl == "cube" else "—", fmt_loss(r)]
            if r.get("note"):
                notes.append(f"{variant} / {IMPL_NAMES.get(impl, impl)}: {r['note']}")
            if impl == "hf-compile" and isinstance(r.get("warmup_s"), (int, float)):
                notes.append(f"{variant} / HF torch.compile: warm-up ({r.get('warmup', '?')} steps, compilation "
                             f"included) {r['warmup_s']:.1f} s")
            if impl == "cube" and isinstance(r.get("startup_s"), (int, float)):
                notes.append(f"{variant} / cube: cube-run start-up (plan load, PTX JIT, parameter init) "
                             f"{r['startup_s']:.1f} s")
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    lines.append("")
    lines.append(compile_line(compile_times))
    lines.append("")
    lines.append("Bars (issue 7):")
    lines += ["- " + b for b in bars(rows, compile_times)]
    if notes:
        lines.append("")
        lines.append("Notes:")
        lines += ["- " + shorten(n, 1000) for n in notes]
    return "\n".join(lines) + "\n"


def cmd_table(a):
    compile_times = read_json(a.compile)
    env = read_json(a.env) if a.env else None
    text = render(read_jsonl(a.hf), read_jsonl(a.cube), read_jsonl(a.smi), compile_times, env, a.variants)
    if a.out:
        with open(a.out, "w", encoding="utf-8") as f:
            f.write(text)
    sys.stdout.write(text)
    return 0


# ----------------------------------------------------------------------------------------------------

def parser():
    p = argparse.ArgumentParser(prog="bench/table.py", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)

    c = sub.add_parser("compile-record")
    c.add_argument("--out", required=True)
    c.add_argument("--variant", required=True)
    c.add_argument("--stage", required=True, help="done, or the stage that failed (trace, rewrite, codegen)")
    c.add_argument("--stamps", nargs=5, required=True, metavar="T",
                   help="epoch seconds: start, after trace, after rewrites, after codegen, end ('-' = none)")
    c.add_argument("--pipeline", default="")
    c.add_argument("--log")
    c.add_argument("--artifact")

    m = sub.add_parser("compile-merge")
    m.add_argument("--out", required=True)
    m.add_argument("--config-out")
    m.add_argument("--preset", required=True)
    m.add_argument("--batch", type=int, required=True)
    m.add_argument("--seq", type=int, required=True)
    m.add_argument("--target", required=True)
    m.add_argument("--cores", type=int, required=True)
    m.add_argument("--host-cores", type=int)
    m.add_argument("--pinned", default="")
    m.add_argument("--variants", nargs="+", required=True)
    m.add_argument("records", nargs="*")

    s = sub.add_parser("smi-peak")
    s.add_argument("--file", required=True)
    s.add_argument("--baseline")
    s.add_argument("--variant", required=True)
    s.add_argument("--impl", required=True)
    s.add_argument("--out")

    r = sub.add_parser("cube-result")
    r.add_argument("--variant", required=True)
    r.add_argument("--artifact", required=True)
    r.add_argument("--log", required=True)
    r.add_argument("--rc", type=int, default=0)
    r.add_argument("--stderr-file")
    r.add_argument("--tokens-per-step", type=int, required=True)
    r.add_argument("--skip", type=int, default=5, help="warm-up steps left out of the median (default 5)")
    r.add_argument("--min-measured", type=int, default=20)
    r.add_argument("--wall-s", type=float)
    r.add_argument("--timeout-s", type=int)
    r.add_argument("--compile-json")
    r.add_argument("--skipped", metavar="WHY", help="the run was not started (why)")
    r.add_argument("--out")

    e = sub.add_parser("ensure-row")
    e.add_argument("--file", required=True)
    e.add_argument("--variant", required=True)
    e.add_argument("--impl", required=True)
    e.add_argument("--rc", type=int, required=True)
    e.add_argument("--stderr-file")
    e.add_argument("--timeout-s", type=int)
    e.add_argument("--what", default="bench/hf_anchor.py")

    t = sub.add_parser("table")
    t.add_argument("--hf")
    t.add_argument("--cube")
    t.add_argument("--smi")
    t.add_argument("--compile")
    t.add_argument("--env")
    t.add_argument("--variants", nargs="*", help="only these variants, in this order (default: all, as prepared)")
    t.add_argument("--out")
    return p


def main(argv=None):
    a = parser().parse_args(argv)
    return {
        "compile-record": cmd_compile_record, "compile-merge": cmd_compile_merge, "smi-peak": cmd_smi_peak,
        "cube-result": cmd_cube_result, "ensure-row": cmd_ensure_row, "table": cmd_table,
    }[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
