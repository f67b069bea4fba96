"""Checks for the run_mini.sh workflow tests: `loss LOG.jsonl` (the last logged loss is below the first),
`png FILE` (a PNG signature and an IHDR chunk), `adapter DIR` (peft's files, the lora keys)."""
import json
import struct
import sys


def loss(path):
    recs = [json.loads(line) for line in open(path) if line.strip()]
    first, last = recs[0]["loss"], recs[-1]["loss"]
    if not last < first:
        sys.exit(f"FAIL: the loss did not decrease: {first} -> {last}")
    print(f"OK: the loss decreased over {len(recs)} steps (steps {recs[0]['step']}..{recs[-1]['step']})")


def png(path):
    b = open(path, "rb").read()
    if b[:8] != b"\x89PNG\r\n\x1a\n" or b[12:16] != b"IHDR":
        sys.exit(f"FAIL: {path} is not a PNG")
    w, h = struct.unpack(">II", b[16:24])
    print(f"OK: PNG {w}x{h}")


def adapter(d):
    cfg = json.load(open(f"{d}/adapter_config.json"))
    b = open(f"{d}/adapter_model.safetensors", "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    keys = sorted(k for k in json.loads(b[8:8 + n]) if k != "__metadata__")
    print(f"adapter r={cfg['r']} alpha={cfg['lora_alpha']} targets={','.join(sorted(cfg['target_modules']))}")
    print("\n".join(keys))


{"loss": loss, "png": png, "adapter": adapter}[sys.argv[1]](sys.argv[2])
