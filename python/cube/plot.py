"""``python3 -m cube plot LOG.jsonl [-o loss.png]``: the loss curve of a cube-run --log file as a PNG.

Uses matplotlib (Debian's python3-matplotlib, in scripts/install-deps.sh) when it is there; otherwise a
small built-in rasteriser (zlib + the PNG format, no axes labels), so a plot is always written;
CUBE_PLOT_BUILTIN=1 forces the built-in one.
"""

import argparse
import json
import os
import struct
import sys
import zlib


class PlotError(Exception):
    pass


def read_log(path):
    """The (step, loss) pairs of a cube-run --log JSONL file, in file order."""
    steps, losses = [], []
    try:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as e:
                    raise PlotError(f"{path}:{n}: not JSON ({e.msg})") from None
                if "loss" in rec and "step" in rec:
                    steps.append(rec["step"])
                    losses.append(float(rec["loss"]))
    except OSError as e:
        raise PlotError(f"cannot read {path}: {e.strerror or e}") from None
    if not losses:
        raise PlotError(f"{path}: no step with a loss")
    return steps, losses


def _png_fallback(steps, losses, out, width=640, height=400):
    """A line plot on a white canvas with a grey frame: the loss (blue) against the step."""
    pix = [[(255, 255, 255)] * width for _ in range(height)]
    l, r, t, b = 40, width - 20, 20, height - 30

    def put(x, y, c):
        if 0 <= x < width and 0 <= y < height:
            pix[y][x] = c

    for x in range(l, r + 1):
        put(x, t, (160, 160, 160))
        put(x, b, (160, 160, 160))
    for y in range(t, b + 1):
        put(l, y, (160, 160, 160))
        put(r, y, (160, 160, 160))
    s0, s1 = min(steps), max(steps)
    lo, hi = min(losses), max(losses)
    s1 = s1 if s1 > s0 else s0 + 1
    hi = hi if hi > lo else lo + 1

    def xy(s, v):
        return (int(round(l + (s - s0) / (s1 - s0) * (r - l))), int(round(b - (v - lo) / (hi - lo) * (b - t))))

    pts = [xy(s, v) for s, v in zip(steps, losses)]
    blue = (31, 119, 180)
    for (x0, y0), (x1, y1) in zip(pts, pts[1:] or pts):
        n = max(abs(x1 - x0), abs(y1 - y0), 1)
        for i in range(n + 1):
            x, y = x0 + (x1 - x0) * i // n, y0 + (y1 - y0) * i // n
            for dx in (0, 1):
                for dy in (0, 1):
                    put(x + dx, y + dy, blue)
    raw = b"".join(b"\x00" + bytes(c for p in row for c in p) for row in pix)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) +
           chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
    with open(out, "wb") as f:
        f.write(png)


def plot(log, out, title=None):
    """Writes the loss curve of LOG to OUT; returns the backend used ('matplotlib' or 'builtin')."""
    steps, losses = read_log(log)
    if os.environ.get("CUBE_PLOT_BUILTIN"):
        _png_fallback(steps, losses, out)
        return "builtin"
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        _png_fallback(steps, losses, out)
        return "builtin"
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    ax.plot(steps, losses, color="tab:blue", linewidth=1.2)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title or os.path.basename(log))
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, format="png")
    plt.close(fig)
    return "matplotlib"


def main(argv):
    p = argparse.ArgumentParser(prog="cube plot", description="Plot the loss curve of a cube-run --log "
                                "JSONL file as a PNG (matplotlib when installed, else a built-in plotter).")
    p.add_argument("log", help="the JSONL log written by cube-run --log")
    p.add_argument("-o", "--output", metavar="PNG", help="the PNG to write (default: LOG with .png)")
    p.add_argument("--title", help="the plot's title (default: the log's file name)")
    args = p.parse_args(argv)
    out = args.output or os.path.splitext(args.log)[0] + ".png"
    try:
        steps, losses = read_log(args.log)
        backend = plot(args.log, out, args.title)
    except (PlotError, OSError) as e:
        print(f"cube plot: error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {out} ({len(losses)} steps, loss {losses[0]:.4f} -> {losses[-1]:.4f}, {backend})")
    return 0
