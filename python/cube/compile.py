"""``python3 -m cube compile model.mlir --target cpu|cuda [--chip sm_90] -o ARTIFACT``: compiles a traced
model into an artifact directory for cube-run (docs/plan-format.md, docs/codegen.md).

It runs cube-opt with the codegen pipeline

    builtin.module(cube-prepare-forward, cube-fuse, cube-group-kernels{target=T}, cube-lower-to-linalg,
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


def rewrites(args, has_program):
    """The model rewrites in front of code generation, from the seed's switches: cube-recompute, cube-lora
    and, for a training program the module does not hold yet, cube-autodiff."""
    passes = []
    if args.recompute:
        passes.append(f"cube-recompute{{modules={_quote(args.recompute)}}}")
    if args.use_lora:
        lora = [f"rank={args.lora_rank}", f"alpha={args.lora_alpha:g}", f"dropout={args.lora_dropout:g}",
                f"targets={_quote(args.target_modules)}", f"bias={_quote(args.lora_bias)}"]
        if args.use_rslora:
            lora.append("use-rslora=true")
        passes.append(f"cube-lora{{{' '.join(lora)}}}")
    if args.master_weights_f32:
        passes.append("cube-mixed-precision")
    if args.program != "forward" and not has_program:
        opt = "none" if args.program == "grad_step" else "adamw"
        ad = [f"optimizer={opt}"]
        if opt == "adamw":
            ad += [f"beta1={args.beta1:g}", f"beta2={args.beta2:g}", f"eps={args.eps:g}",
                   f"weight-decay={args.weight_decay:g}", f"clip-norm={args.clip_norm:g}"]
        passes.append(f"cube-autodiff{{{' '.join(ad)}}}")
    if passes:
        passes.append("cube-verify")
    return passes


def chunk_loss(args):
    """cube-chunk-loss (the lm_head + cross-entropy and their gradients in row chunks: no whole [N, V] logits),
    after the rewrites, on a training program."""
    if args.chunk_loss == 1:
        return []
    if args.chunk_loss < 1:
        raise ValueError(f"--chunk-loss: {args.chunk_loss} is not a positive number of chunks")
    if args.program == "forward":
        raise ValueError("--chunk-loss needs --program train_step or grad_step (it chunks the loss's gradient too)")
    return [f"cube-chunk-loss{{func={args.program} chunks={args.chunk_loss}}}", "cube-verify"]


def data_parallel(args):
    """cube-data-parallel (gradients and loss averaged over the ranks of `cube-run --nproc N`), last of the
    rewrites so that it sees the final gradients."""
    if not args.data_parallel:
        return []
    if args.program == "forward":
        raise ValueError("--data-parallel needs --program train_step or grad_step (a forward has no gradients)")
    if not args.bucket_mb >= 0:
        raise ValueError(f"--bucket-mb: {args.bucket_mb:g} is negative")
    return [f"cube-data-parallel{{func={args.program} bucket-mb={args.bucket_mb:g}}}", "cube-verify"]


def pipeline(target, out, chip=None, cuda_path=None, dump=False, program="forward", memory_report=False,
             plan_memory=True, before=(), fuse=True, fuse_report=False):
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
    head = "".join(p + "," for p in before)
    # cube-fuse (on by default; --no-fuse): each elementwise chain becomes one kernel (docs/codegen.md)
    fz = ([] if program == "forward" else [f"func={program}"]) + (["report=true"] if fuse_report else [])
    fusing = (f"cube-fuse{{{' '.join(fz)}}}," if fz else "cube-fuse,") if fuse else ""
    # cube-group-kernels' row patterns (add + rmsnorm, rmsnorm_grad + add on cuda) are fusion too
    rows = "" if fuse else " row-patterns=false"
    if program == "forward":
        return (f"builtin.module({head}cube-prepare-forward,{fusing}cube-group-kernels{{target={target}{rows}}},"
                f"cube-lower-to-linalg,cube-emit{{{' '.join(emit)}}})")
    return (f"builtin.module({head}cube-prepare-forward{{func={program}}},{fusing}"
            f"cube-group-kernels{{target={target} func={program}{rows}}},cube-lower-to-linalg,"
            f"cube-emit{{{' '.join(emit)}}})")


def attention_matmul(args):
    """Whether cube-attention-to-matmul runs: --attention matmul, or auto on target cuda (the faster form;
    on mini-llama 8 x 1024 its scores do not raise the step's memory peak, which lies at the logits)."""
    return args.attention == "matmul" or (args.attention == "auto" and args.target == "cuda")


def attention_passes(args):
    """cube-attention-to-matmul + cube-cse when attention_matmul(args); with auto, a forward attention that the
    tensor-core flash kernel takes (bf16, head dim 64, causal) stays one kernel (keep-flash)."""
    if not attention_matmul(args):
        return []
    return ["cube-attention-to-matmul{keep-flash=true}" if args.attention == "auto" else "cube-attention-to-matmul",
            "cube-cse"]


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
    p.add_argument("--attention", choices=["auto", "fused", "matmul"], default="auto",
                   help="fused: one kernel per attention (flash-style on cuda: no S x S buffer); matmul: "
                   "cube-attention-to-matmul, batched GEMMs around a row softmax (cuBLASLt, tensor cores in bf16; "
                   "faster, but the [B*H, S, S] scores exist during each attention op); auto (default): on cuda "
                   "matmul, except that a forward attention the tensor-core flash kernel takes (bf16, head dim 64, "
                   "causal) stays fused; fused for cpu")
    p.add_argument("--print-command", action="store_true", help="print the cube-opt command, then run it")
    p.add_argument("--no-fuse", action="store_true",
                   help="one kernel per op: do not fuse elementwise chains (cube-fuse, on by default) nor the "
                        "add + rmsnorm / rmsnorm_grad + add row patterns (cube-group-kernels{row-patterns})")
    p.add_argument("--fuse-report", action="store_true", help="print the groups cube-fuse fused to stderr")
    p.add_argument("--chunk-loss", type=int, default=1, metavar="K",
                   help="compute the lm_head, the cross-entropy and their gradients in K row chunks, so that the "
                        "[N, V] logits never exist whole (cube-chunk-loss; training programs; default 1: off)")
    p.add_argument("--kernel-registry", metavar="DIR",
                   help="use the GPU kernels registered in DIR/kernels.json for their ops or op patterns "
                        "(target cuda; docs/kernel-registry.md)")
    g = p.add_argument_group("model rewrites (the seed's switches)")
    g.add_argument("--recompute", metavar="TYPES", help="module types to recompute, e.g. LlamaDecoderLayer[,LlamaMLP]")
    g.add_argument("--use-lora", action="store_true", help="apply LoRA (cube-lora) with the options below")
    g.add_argument("--lora-rank", type=int, default=8, metavar="R")
    g.add_argument("--lora-alpha", type=float, default=8.0, metavar="A")
    g.add_argument("--lora-dropout", type=float, default=0.0, metavar="P")
    g.add_argument("--target-modules", default="q_proj,k_proj,v_proj", metavar="NAMES")
    g.add_argument("--lora-bias", default="none", choices=["none", "all", "lora_only"])
    g.add_argument("--use-rslora", action="store_true")
    g.add_argument("--master-weights-f32", action="store_true",
                   help="bf16/f16 models: keep the trainable parameters, their gradients and AdamW's state in f32 "
                   "(cube-mixed-precision before cube-autodiff)")
    d = p.add_argument_group("data parallelism (cube-run --nproc N; docs/runtime.md \"Data parallelism\")")
    d.add_argument("--data-parallel", action="store_true",
                   help="average the gradients and the loss over the ranks (cube-data-parallel)")
    d.add_argument("--bucket-mb", type=float, default=25.0, metavar="MB",
                   help="gradients per all-reduce bucket, in MiB (default 25, as DDP; 0: one per gradient)")
    o = p.add_argument_group("optimizer (with --program train_step, when the module has no @train_step yet)")
    o.add_argument("--beta1", type=float, default=0.9)
    o.add_argument("--beta2", type=float, default=0.999)
    o.add_argument("--eps", type=float, default=1e-8)
    o.add_argument("--weight-decay", type=float, default=0.0)
    o.add_argument("--clip-norm", type=float, default=0.0, help="clip the global gradient norm (0 = off)")
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    if args.chip and args.target != "cuda":
        print("cube compile: error: --chip needs --target cuda", file=sys.stderr)
        return 1
    if args.kernel_registry and args.target != "cuda":
        print("cube compile: error: --kernel-registry needs --target cuda (registered kernels are GPU kernels)",
              file=sys.stderr)
        return 1
    if args.model != "-" and not os.path.isfile(args.model):
        print(f"cube compile: error: {args.model}: no such file", file=sys.stderr)
        return 1
    lora_flags = [f for f in ("--lora-rank", "--lora-alpha", "--lora-dropout", "--target-modules", "--lora-bias",
                              "--use-rslora") if any(a == f or a.startswith(f + "=") for a in (argv or sys.argv[1:]))]
    if lora_flags and not args.use_lora:
        print(f"cube compile: error: {', '.join(lora_flags)} given without --use-lora", file=sys.stderr)
        return 1
    has_program = False
    if args.program != "forward" and args.model != "-":
        with open(args.model, encoding="utf-8", errors="replace") as f:
            has_program = f"@{args.program}(" in f.read()
    try:
        pipe = pipeline(args.target, os.path.abspath(args.output), args.chip, args.cuda_path, args.dump,
                        args.program, args.memory_report, not args.no_plan_memory,
                        rewrites(args, has_program) + chunk_loss(args) + attention_passes(args)
                        + data_parallel(args), fuse=not args.no_fuse, fuse_report=args.fuse_report)
    except ValueError as e:
        print(f"cube compile: error: {e}", file=sys.stderr)
        return 1
    cmd = [find_cube_opt(), args.model, f"--pass-pipeline={pipe}", "-o", os.devnull]
    if args.kernel_registry:
        cmd.insert(2, f"--cube-kernel-registry={os.path.abspath(args.kernel_registry)}")
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
