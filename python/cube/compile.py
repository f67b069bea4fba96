"""``python3 -m cube compile model.mlir --target cpu|cuda [--chip sm_90] -o ARTIFACT``: compiles a traced
model into an artifact directory for cube-run (docs/plan-format.md, docs/codegen.md).

It runs cube-opt with the codegen pipeline

    builtin.module(cube-prepare-forward, cube-group-kernels{target=T}, cube-lower-to-linalg,
                   cube-emit{out=ARTIFACT target=T chip=C})

so the same compilation is one cube-opt command (``--print-command`` shows it). cube-opt is $CUBE_OPT, else
build/bin/cube-opt of this source tree, else cube-opt on PATH. Exposes ``main(argv)`` (cli.py wires it in).
"""
import argparse
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def find_cube_opt():
    env = os.environ.get("CUBE_OPT")
    if env:
        return env
    built = os.path.normpath(os.path.join(HERE, "..", "..", "build", "bin", "cube-opt"))
    if os.access(built, os.X_OK):
        return built
    return shutil.which("cube-opt") or built


def _quote(value):
    """A pass option value: quoted when it holds spaces or pipeline punctuation."""
    if any(c in value for c in " \t{}(),=\"'"):
        if '"' in value:
            raise ValueError(f"cannot pass {value!r} as a pass option (it contains a double quote)")
        return f'"{value}"'
    return value


def pipeline(target, out, chip=None, cuda_path=None, dump=False, program="forward", memory_report=False,
             plan_memory=True):
    emit = [f"out={_quote(out)}", f"target={target}"]
    if memory_report:
        emit.append("report=true")
    if not plan_memory:
        emit.append("plan-memory=false")
    if chip:
        emit.append(f"chip={_quote(chip)}")
    if cuda_path:
        emit.append(f"cuda-path={_quote(cuda_path)}")
    if dump:
        emit.append("dump=true")
    if program == "forward":
        return (f"builtin.module(cube-prepare-forward,cube-group-kernels{{target={target}}},cube-lower-to-linalg,"
                f"cube-emit{{{' '.join(emit)}}})")
    # A training program: cube-autodiff writes it from @forward unless the module already has it.
    return (f"builtin.module(cube-prepare-forward{{func={program}}},"
            f"cube-group-kernels{{target={target} func={program}}},cube-lower-to-linalg,cube-emit{{{' '.join(emit)}}})")


def parser():
    p = argparse.ArgumentParser(prog="cube compile", description="Compile a traced model (.mlir) into an "
                                "artifact directory (plan.json, kernels.so or kernels.ptx, final.mlir) for cube-run.")
    p.add_argument("model", help="a traced .mlir module ('-' = stdin)")
    p.add_argument("--target", choices=["cpu", "cuda"], default="cpu",
                   help="cpu: kernels.so (linear/matmul as generated kernels); cuda: PTX + cuBLASLt GEMM steps")
    p.add_argument("--chip", metavar="SM", help="CUDA chip of the PTX (target cuda; default sm_90)")
    p.add_argument("--cuda-path", metavar="DIR",
                   help="CUDA toolkit holding nvvm/libdevice (default: $CUDA_HOME, $CUDA_PATH, /usr/local/cuda)")
    p.add_argument("-o", "--output", metavar="ARTIFACT", required=True, help="the artifact directory to write")
    p.add_argument("--dump", action="store_true", help="also write kernels.lowered.mlir (for debugging)")
    p.add_argument("--program", choices=["forward", "train_step", "grad_step"], default="forward",
                   help="the function to compile: forward (eval), or train_step / grad_step (the module must hold it: "
                   "run cube-autodiff first)")
    p.add_argument("--memory-report", action="store_true",
                   help="print the memory report (params, grads, optimizer state, activation peak, arena) to stderr")
    p.add_argument("--no-plan-memory", action="store_true",
                   help="give every buffer bytes of its own (no liveness-based reuse), for comparison")
    p.add_argument("--print-command", action="store_true", help="print the cube-opt command, then run it")
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    if args.chip and args.target != "cuda":
        print("cube compile: error: --chip needs --target cuda", file=sys.stderr)
        return 1
    if args.model != "-" and not os.path.isfile(args.model):
        print(f"cube compile: error: {args.model}: no such file", file=sys.stderr)
        return 1
    try:
        pipe = pipeline(args.target, os.path.abspath(args.output), args.chip, args.cuda_path, args.dump,
                        args.program, args.memory_report, not args.no_plan_memory)
    except ValueError as e:
        print(f"cube compile: error: {e}", file=sys.stderr)
        return 1
    cmd = [find_cube_opt(), args.model, f"--pass-pipeline={pipe}", "-o", os.devnull]
    if args.print_command:
        print(" ".join(f"'{c}'" if any(x in c for x in " {}(),") else c for c in cmd))
    try:
        r = subprocess.run(cmd)
    except OSError as e:
        print(f"cube compile: error: cannot run cube-opt ({cmd[0]}): {e.strerror or e}; build it "
              "(cmake --build build) or set CUBE_OPT", file=sys.stderr)
        return 1
    if r.returncode != 0:
        print(f"cube compile: error: compiling {args.model} failed (cube-opt exited with {r.returncode})",
              file=sys.stderr)
        return 1
    print(f"wrote {args.output} (target {args.target}, program {args.program})" if args.program != "forward"
          else f"wrote {args.output} (target {args.target})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
