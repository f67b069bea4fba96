"""Independent reference for the runtime's toy artifact (toy_plan.json + toy_kernels.c), pure Python.

  toy.py write DIR                     writes the weights and token files the tests use into DIR
  toy.py check DIR OUTPUT (--weights | --seed N) [--batches N]
                                       recomputes every batch loss in double precision (parameters from the
                                       weights file's values or from a re-implementation of cube/Init.h's
                                       RNG) and compares with `cube-run -v` OUTPUT: relative error <= 1e-5.
"""
import json
import math
import re
import struct
import sys

B, S, V, D = 2, 4, 8, 4
M64 = (1 << 64) - 1


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def bf16_bits(x):
    u = struct.unpack("<I", struct.pack("<f", x))[0]
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) & 0xFFFF  # round to nearest even (no NaNs here)


def bf16(x):
    return struct.unpack("<f", struct.pack("<I", bf16_bits(x) << 16))[0]


# ---- cube/Init.h's RNG, re-implemented from its documentation ----
def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & M64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return state, z ^ (z >> 31)


def fnv1a64(name):
    h = 0xCBF29CE484222325
    for c in name.encode():
        h = ((h ^ c) * 0x100000001B3) & M64
    return h


class Xoshiro:
    def __init__(self, seed, name):
        _, key = splitmix64(seed ^ fnv1a64(name))
        self.s = []
        for _ in range(4):
            key, v = splitmix64(key)
            self.s.append(v)

    def next(self):
        s = self.s
        rotl = lambda x, k: ((x << k) | (x >> (64 - k))) & M64
        result = (rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    def uniform(self):
        return (self.next() >> 11) * 2.0 ** -53


def init_normal(n, seed, name, std):
    r, out = Xoshiro(seed, name), []
    for _ in range(n):
        u1, u2 = r.uniform(), r.uniform()
        out.append(f32(std * math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(6.283185307179586476925 * u2)))
    return out


def init_uniform(n, seed, name, low, high):
    r = Xoshiro(seed, name)
    return [f32(low + (high - low) * r.uniform()) for _ in range(n)]


def init_kaiming(shape, seed, name, a):
    fan_in = 1
    for d in shape[1:]:
        fan_in *= d
    bound = math.sqrt(6.0 / ((1.0 + a * a) * fan_in))
    r = Xoshiro(seed, name)
    return [f32(-bound + 2.0 * bound * r.uniform()) for _ in range(shape[0] * fan_in)]


def init_params(seed):
    return (init_normal(V * D, seed, "model.embed_tokens.weight", 1.0),
            init_kaiming([V, D], seed, "lm_head.weight", 2.23606797749979),
            init_uniform(V, seed, "lm_head.bias", -0.5, 0.5))


# ---- the files ----
def weights_values():
    emb = [f32(math.sin(0.37 * i + 0.1) * 1.5) for i in range(V * D)]
    w = [f32(math.cos(0.23 * i - 0.4)) for i in range(V * D)]
    bias = [f32(0.1 * (i - 3.5)) for i in range(V)]
    return emb, w, bias


def tokens():
    return [(7 * i + 3 * (i // 5) + 1) % V for i in range(20)]  # 2 whole batches of 8, 4 left over


def write_safetensors(path, tensors):
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name, dtype, shape, values in tensors:
        if dtype == "F32":
            blob = struct.pack("<%df" % len(values), *values)
        elif dtype == "BF16":
            blob = struct.pack("<%dH" % len(values), *[bf16_bits(v) for v in values])
        elif dtype == "I64":
            blob = struct.pack("<%dq" % len(values), *values)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(blob)]}
        blobs.append(blob)
        off += len(blob)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def write_tokens(path, vocab, ids):
    with open(path, "wb") as f:
        f.write(b"CUBETOK\0" + struct.pack("<IIQ", 1, vocab, len(ids)) + struct.pack("<%di" % len(ids), *ids))


def write(d):
    emb, w, bias = weights_values()
    good = [("model.embed_tokens.weight", "F32", [V, D], emb), ("lm_head.weight", "BF16", [V, D], w),
            ("lm_head.bias", "F32", [V], bias)]
    write_safetensors(d + "/weights.safetensors", good)
    write_safetensors(d + "/weights-extra.safetensors", good + [("model.norm.weight", "F32", [D], [1.0] * D)])
    write_safetensors(d + "/weights-missing.safetensors", good[:2])
    write_safetensors(d + "/weights-shape.safetensors", [good[0], ("lm_head.weight", "F32", [D, V], w), good[2]])
    write_safetensors(d + "/weights-dtype.safetensors",
                      [("model.embed_tokens.weight", "I64", [V, D], list(range(V * D)))] + good[1:])
    with open(d + "/weights.safetensors", "rb") as f:
        data = f.read()
    with open(d + "/weights-truncated.safetensors", "wb") as f:
        f.write(data[:-40])
    with open(d + "/weights-corrupt.safetensors", "wb") as f:
        f.write(data[:8] + b"{not json" + data[17:])
    write_tokens(d + "/tokens.tok", V, tokens())
    write_tokens(d + "/tokens-short.tok", V, tokens()[:7])
    write_tokens(d + "/tokens-oob.tok", 16, tokens()[:3] + [9] + tokens()[4:])


# ---- the reference forward pass, in double precision ----
def batch_loss(emb, w, bias, ids):
    total = 0.0
    for b in range(B):
        for t in range(S - 1):
            tok, nxt = ids[b * S + t], ids[b * S + t + 1]
            h = emb[tok * D:(tok + 1) * D]
            logits = [sum(h[d] * w[v * D + d] for d in range(D)) + bias[v] for v in range(V)]
            m = max(logits)
            total += math.log(sum(math.exp(x - m) for x in logits)) + m - logits[nxt]
    return total / (B * (S - 1))


def check(d, output, args):
    if "--weights" in args:
        emb, w, bias = weights_values()
        w = [bf16(x) for x in w]  # the file stores lm_head.weight as BF16
    else:
        emb, w, bias = init_params(int(args[args.index("--seed") + 1]))
    ids = tokens()
    n = int(args[args.index("--batches") + 1]) if "--batches" in args else len(ids) // (B * S)
    expected = [batch_loss(emb, w, bias, ids[i * B * S:(i + 1) * B * S]) for i in range(n)]
    text = open(output).read()
    got = [float(x) for x in re.findall(r"^batch \d+: loss (\S+)", text, re.M)]
    mean = re.search(r"mean loss (\S+)", text)
    if len(got) != n or not mean:
        sys.exit("toy check: expected %d batch losses and a mean in:\n%s" % (n, text))
    pairs = list(zip(got, expected)) + [(float(mean.group(1)), sum(expected) / n)]
    for g, e in pairs:
        if abs(g - e) > 1e-5 * abs(e):
            sys.exit("toy check: cube-run printed %.6f, the reference is %.9f (relative error %.2e > 1e-5)"
                     % (g, e, abs(g - e) / abs(e)))
    print("toy check ok: %d batches, mean loss %.6f (reference %.9f)" % (n, pairs[-1][0], pairs[-1][1]))


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2])
    else:
        check(sys.argv[2], sys.argv[3], sys.argv[4:])
