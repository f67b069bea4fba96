"""The command line: ``python3 -m cube trace|compile|run|plot|data|check-weights ...``."""

import argparse
import os
import sys

from . import data, model_tree, trace, weights
from .config import ConfigError, load_config, parse_config
from .presets import PRESETS


def _parser():
    p = argparse.ArgumentParser(prog="cube", description="cube's Python front end: trace HF Llama models "
                                "into the cube dialect and check weights against a traced module.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("compile", help="compile a traced module into an artifact for cube-run (see compile --help)",
                   add_help=False)
    sub.add_parser("run", help="run cube-run on an artifact: evaluate or train (see run --help)", add_help=False)
    sub.add_parser("plot", help="plot a cube-run --log file's loss curve as a PNG (see plot --help)",
                   add_help=False)

    t = sub.add_parser("trace", help="emit the cube module of an HF Llama model",
                       description="Emit the cube module of LlamaForCausalLM's training forward pass "
                       "(input_ids, labels) -> loss, with HF's parameter names and module tree.")
    src = t.add_mutually_exclusive_group(required=True)
    src.add_argument("--preset", choices=sorted(PRESETS), help="a built-in model")
    src.add_argument("--config", metavar="CONFIG_JSON",
                     help="an HF Llama config.json (or a model directory holding one)")
    t.add_argument("--batch", type=int, metavar="B", help="batch size (needed for the IR)")
    t.add_argument("--seq", type=int, metavar="S", help="sequence length (needed for the IR)")
    t.add_argument("--dtype", choices=sorted(trace.DTYPES), default="f32",
                   help="element type of parameters and activations (default f32; the loss is f32)")
    t.add_argument("-o", "--output", metavar="FILE",
                   help="write the module to FILE ('-' = stdout; the default unless --print-model is given)")
    t.add_argument("--print-model", action="store_true",
                   help="print the module tree to stdout as PyTorch prints the HF model")

    c = sub.add_parser("check-weights", help="check .safetensors weights against a traced module",
                       description="Report parameters missing from the weights, unexpected tensors, and "
                       "shape and dtype mismatches. Exit status 0 when the weights match.")
    c.add_argument("module", help="a traced .mlir module")
    c.add_argument("weights", nargs="+", help=".safetensors files, or directories holding them (shards)")
    c.add_argument("--allow-cast", action="store_true",
                   help="accept float dtype mismatches (the loader casts), reporting them as notes")

    d = sub.add_parser("data", help="write a token data file for cube-run",
                       description="Write a cube token file (docs/data-format.md) from a text file, through "
                       "the byte-level tokenizer (one id per UTF-8 byte, vocab 256), or from a list of ids.")
    dsrc = d.add_mutually_exclusive_group(required=True)
    dsrc.add_argument("--text", metavar="FILE", help="a UTF-8 text file to tokenize byte by byte")
    dsrc.add_argument("--ids", metavar="FILE",
                      help="token ids (from an HF tokenizer, say): a JSON list or whitespace/comma-separated")
    d.add_argument("--vocab-size", type=int, metavar="V",
                   help="the tokenizer's vocab size (needed with --ids; 256 for --text)")
    d.add_argument("-o", "--output", metavar="FILE", required=True, help="the token file to write")
    return p


def _data(args):
    source = args.text or args.ids
    try:
        with open(source, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise data.DataError(f"cannot read {source}: {getattr(e, 'strerror', None) or e}") from None
    if args.text:
        ids, vocab = data.byte_tokenize(text), args.vocab_size or data.BYTE_VOCAB
        if vocab < data.BYTE_VOCAB:
            raise data.DataError(f"--vocab-size {vocab}: the byte-level tokenizer needs at least 256")
    else:
        if args.vocab_size is None:
            raise data.DataError("--ids needs --vocab-size (the tokenizer's vocabulary size)")
        ids, vocab = data.parse_ids(text, source), args.vocab_size
    if not ids:
        raise data.DataError(f"{source}: no tokens")
    try:
        data.write(args.output, ids, vocab)
    except OSError as e:
        raise data.DataError(f"cannot write {args.output}: {e.strerror or e}") from None
    print(f"wrote {len(ids)} tokens (vocab {vocab}) to {args.output}")
    return 0


def _error(command, msg):
    print(f"cube {command}: error: {msg}", file=sys.stderr)
    return 1


def _write(path, text):
    if path == "-":
        sys.stdout.write(text)
        return
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def _trace(args):
    if args.preset:
        cfg, source = parse_config(PRESETS[args.preset], f"preset {args.preset}"), f"--preset {args.preset}"
    else:
        cfg, source = load_config(args.config), f"--config {args.config}"
    output = args.output or (None if args.print_model else "-")
    if output is not None:
        if args.batch is None or args.seq is None:
            raise ConfigError("--batch and --seq are needed to emit the module")
        if args.batch < 1:
            raise ConfigError(f"--batch {args.batch}: expected a positive batch size")
        if args.seq < 2:
            raise ConfigError(f"--seq {args.seq}: the causal-LM loss needs at least 2 positions")
        if args.seq > cfg.max_position_embeddings:
            raise ConfigError(f"--seq {args.seq} is more than max_position_embeddings = "
                              f"{cfg.max_position_embeddings} ({source})")
    if args.print_model:
        print(model_tree.format_module(model_tree.build(cfg)))
    if output is not None:
        header = (f"Generated by: python3 -m cube trace {source} --batch {args.batch} --seq {args.seq} "
                  f"--dtype {args.dtype}" + (f" -o {output}" if output != "-" else ""))
        text = trace.trace(cfg, args.batch, args.seq, args.dtype, header=header)
        try:
            _write(output, text)
        except OSError as e:
            raise ConfigError(f"cannot write {output}: {e.strerror or e}") from None
    return 0


def _check_weights(args):
    problems, notes, summary = weights.check(args.module, args.weights, args.allow_cast)
    print(summary)
    for line in problems + notes:
        print("  " + line)
    if problems:
        print(f"FAIL: {len(problems)} problem{'s' if len(problems) != 1 else ''}")
        return 1
    casts = sum("(cast on load)" in n for n in notes)
    print("OK: every parameter is in the weights with its shape and " +
          (f"a float dtype ({casts} cast on load)" if casts else "dtype"))
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "compile":  # the compile driver has its own parser (compile.py)
        from . import compile as compile_cmd
        return compile_cmd.main(argv[1:])
    if argv and argv[0] == "run":  # a thin wrapper of build/bin/cube-run (run.py)
        from . import run as run_cmd
        return run_cmd.main(argv[1:])
    if argv and argv[0] == "plot":  # the loss curve of a --log file (plot.py)
        from . import plot as plot_cmd
        return plot_cmd.main(argv[1:])
    args = _parser().parse_args(argv)
    try:
        if args.command == "trace":
            return _trace(args)
        if args.command == "data":
            return _data(args)
        return _check_weights(args)
    except (ConfigError, weights.WeightsError, data.DataError) as e:
        return _error(args.command, str(e))
