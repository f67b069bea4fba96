"""Independent reference for the runtime's training artifact (toy_train_plan.json + toy_train_kernels.c):
the same model in PyTorch (autograd, torch.optim.AdamW, LambdaLR with HF's schedule formulas), in fp32.

  toy_train.py write DIR          tokens.tok (28 ids: 3 whole batches of 2x4, so runs wrap around), short.tok
                                  (5 ids), weights.safetensors (every parameter, lora_B non-zero)
  toy_train.py check DIR LOG CKPT --steps N --lr LR [--warmup W --schedule S --min-lr L]
                                  trains N steps from DIR/weights.safetensors and compares every step's loss,
                                  grad_norm and lr in LOG (cube-run --log) and the parameters and AdamW states in
                                  the checkpoint CKPT: relative error <= 1e-5 (losses), absolute <= 1e-5 (tensors)
  toy_train.py down LOG           the last loss is at most half the first
  toy_train.py same LOG1 LOG2 K   steps K.. of LOG1 have bit-identical losses and grad norms to LOG2's
  toy_train.py adapter ADAPTER CKPT   peft's adapter_config.json fields and adapter_model.safetensors keys/values
  toy_train.py merged MERGED CKPT     W + 2 * B @ A, base names, no LoRA tensors
"""
import json
import math
import struct
import sys

import numpy as np
import torch

B, S, V, D, R = 2, 4, 8, 4, 2
SCALE = 4 / R
NAMES = ["model.embed_tokens.weight", "lm_head.weight", "lm_head.lora_A.weight", "lm_head.lora_B.weight"]
TRAINABLE = [NAMES[0], NAMES[2], NAMES[3]]


def fail(msg):
    print("toy_train FAILED: " + msg)
    sys.exit(1)


def read_st(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        assert v["dtype"] == "F32", v
        b, e = v["data_offsets"]
        out[k] = np.frombuffer(raw[8 + n + b:8 + n + e], dtype="<f4").reshape(v["shape"]).copy()
    return out


def write_st(path, tensors):
    header, data = {}, b""
    for k, a in tensors.items():
        a = np.ascontiguousarray(a, dtype="<f4")
        header[k] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [len(data), len(data) + a.nbytes]}
        data += a.tobytes()
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    open(path, "wb").write(struct.pack("<Q", len(h)) + h + data)


def write_tokens(path, ids):
    open(path, "wb").write(b"CUBETOK\0" + struct.pack("<IIQ", 1, V, len(ids)) + struct.pack("<%di" % len(ids), *ids))


def read_log(path):
    return [json.loads(line) for line in open(path) if line.strip()]


def hf_lambda(schedule, warmup, total, min_lr_rate):
    def f(s):  # HF's get_*_schedule_with_warmup lambdas (s = steps done before this update)
        if s < warmup:
            return s / max(1, warmup)
        if schedule == "constant":
            return 1.0
        progress = (s - warmup) / max(1, total - warmup)
        if schedule == "linear":
            x = max(0.0, (total - s) / max(1, total - warmup))
        else:
            x = max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))
        return x * (1 - min_lr_rate) + min_lr_rate
    return f


def opts(argv):
    o = {"--warmup": "0", "--schedule": "constant", "--min-lr": "0"}
    for i in range(0, len(argv), 2):
        o[argv[i]] = argv[i + 1]
    return o


def check(d, log_path, ckpt, argv):
    o = opts(argv)
    steps, lr, warmup, min_lr = int(o["--steps"]), float(o["--lr"]), int(o["--warmup"]), float(o["--min-lr"])
    raw = open(d + "/tokens.tok", "rb").read()
    count = struct.unpack("<Q", raw[16:24])[0]
    ids = np.frombuffer(raw[24:24 + 4 * count], dtype="<i4").astype(np.int64)
    nb = count // (B * S)
    w0 = read_st(d + "/weights.safetensors")
    p = {k: torch.tensor(w0[k], requires_grad=k in TRAINABLE) for k in NAMES}
    opt = torch.optim.AdamW([p[k] for k in TRAINABLE], lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, hf_lambda(o["--schedule"], warmup, steps, min_lr / lr if lr else 0))
    log = read_log(log_path)
    if len(log) != steps:
        fail("%d log lines, expected %d" % (len(log), steps))
    for step in range(1, steps + 1):
        batch = torch.tensor(ids[((step - 1) % nb) * B * S:((step - 1) % nb + 1) * B * S].reshape(B, S))
        h = p[NAMES[0]][batch]
        logits = h @ p[NAMES[1]].T + SCALE * (h @ p[NAMES[2]].T) @ p[NAMES[3]].T
        loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, V), batch[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        gnorm = math.sqrt(sum(float((p[k].grad.double() ** 2).sum()) for k in TRAINABLE))
        cur_lr = opt.param_groups[0]["lr"]
        opt.step()
        sched.step()
        got = log[step - 1]
        for what, ref, val in (("loss", float(loss), got["loss"]), ("grad_norm", gnorm, got["grad_norm"]),
                               ("lr", cur_lr, got["lr"])):
            if abs(val - ref) > 1e-5 * max(abs(ref), 1e-3):
                fail("step %d %s: cube-run %.9g, reference %.9g" % (step, what, val, ref))
        if got["step"] != step:
            fail("log line %d has step %d" % (step, got["step"]))
    model, state = read_st(ckpt + "/model.safetensors"), read_st(ckpt + "/optimizer.safetensors")
    worst = 0.0
    for k in NAMES:
        worst = max(worst, float(np.abs(model[k] - p[k].detach().numpy()).max()))
    for k in TRAINABLE:
        st = opt.state[p[k]]
        for s in ("exp_avg", "exp_avg_sq"):
            worst = max(worst, float(np.abs(state[k + "." + s] - st[s].numpy()).max()))
    if set(state) != {k + s for k in TRAINABLE for s in (".exp_avg", ".exp_avg_sq")}:
        fail("optimizer.safetensors has %s" % sorted(state))
    if worst > 1e-5:
        fail("parameters/states differ from torch's AdamW by %.3g" % worst)
    print("toy_train check ok: %d steps, last loss %.6f, max tensor error %.2g" % (steps, float(loss), worst))


def main():
    cmd = sys.argv[1]
    if cmd == "write":
        d = sys.argv[2]
        base = [1, 2, 3, 4, 5, 6, 7, 0]
        write_tokens(d + "/tokens.tok", (base * 4)[:28])
        write_tokens(d + "/short.tok", [1, 2, 3, 4, 5])
        rng = np.random.default_rng(1)
        write_st(d + "/weights.safetensors", {
            NAMES[0]: rng.normal(0, 0.5, (V, D)), NAMES[1]: rng.normal(0, 0.5, (V, D)),
            NAMES[2]: rng.uniform(-0.5, 0.5, (R, D)), NAMES[3]: rng.normal(0, 0.1, (V, R))})
    elif cmd == "check":
        check(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:])
    elif cmd == "down":
        log = read_log(sys.argv[2])
        first, last = log[0]["loss"], log[-1]["loss"]
        if not last <= first / 2:
            fail("loss went from %.6f to %.6f (not halved)" % (first, last))
        print("toy_train down ok: %.6f -> %.6f over %d steps" % (first, last, len(log)))
    elif cmd == "same":
        a, b, k = read_log(sys.argv[2]), read_log(sys.argv[3]), int(sys.argv[4])
        a = [x for x in a if x["step"] >= k]
        b = [x for x in b if x["step"] >= k]
        if not a or [(x["step"], x["loss"], x["grad_norm"]) for x in a] != [(x["step"], x["loss"], x["grad_norm"]) for x in b]:
            fail("steps from %d differ:\n%s\n%s" % (k, a, b))
        print("toy_train same ok: %d steps identical" % len(a))
    elif cmd == "adapter":
        ad, ckpt = sys.argv[2], sys.argv[3]
        cfg = json.load(open(ad + "/adapter_config.json"))
        want = {"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": 2, "lora_alpha": 4, "lora_dropout": 0.0,
                "target_modules": ["lm_head"], "bias": "none", "base_model_name_or_path": "toy-train",
                "use_rslora": False, "fan_in_fan_out": False, "inference_mode": True}
        for k, v in want.items():
            if cfg.get(k) != v:
                fail("adapter_config.json: %s is %r, expected %r" % (k, cfg.get(k), v))
        t, model = read_st(ad + "/adapter_model.safetensors"), read_st(ckpt + "/model.safetensors")
        keys = ["base_model.model.lm_head.lora_A.weight", "base_model.model.lm_head.lora_B.weight"]
        if sorted(t) != keys:
            fail("adapter keys %s, expected %s" % (sorted(t), keys))
        for k in keys:
            if not np.array_equal(t[k], model[k[len("base_model.model."):]]):
                fail("adapter tensor %s differs from the checkpoint's" % k)
        print("toy_train adapter ok: %s" % ", ".join(keys))
    elif cmd == "merged":
        m, c = read_st(sys.argv[2]), read_st(sys.argv[3] + "/model.safetensors")
        if sorted(m) != ["lm_head.weight", "model.embed_tokens.weight"]:
            fail("merged keys %s" % sorted(m))
        ref = c["lm_head.weight"].astype(np.float64) + SCALE * c[NAMES[3]].astype(np.float64) @ c[NAMES[2]].astype(np.float64)
        err = float(np.abs(m["lm_head.weight"] - ref).max())
        if err > 1e-6 or not np.array_equal(m[NAMES[0]], c[NAMES[0]]):
            fail("merged weights differ by %.3g" % err)
        if np.abs(c[NAMES[3]]).max() == 0:
            fail("lora_B is zero: the merge test checks nothing")
        print("toy_train merged ok: max error %.2g" % err)


if __name__ == "__main__":
    main()
