// Pipelines mix cube passes and upstream ones, nested anchors and options in MLIR's syntax.
// RUN: cube-opt %s --pass-pipeline='builtin.module(cube-verify,canonicalize,func.func(cse),cube-freeze{patterns=w.* trainable=false})' | FileCheck %s
// A bare list is taken as nested under builtin.module.
// RUN: cube-opt %s --pass-pipeline='cube-verify,cse,cube-freeze{patterns=w.*}' | FileCheck %s
// Single-pass flags, in order, with options after '='.
// RUN: cube-opt %s --cube-verify --cse --canonicalize='max-iterations=3' --cube-freeze='patterns=w.*' | FileCheck %s
// Quoted option values and spaces around elements.
// RUN: cube-opt %s --pass-pipeline='builtin.module( cube-freeze{patterns="w.*"} , func.func( cse ) )' | FileCheck %s

// CHECK-LABEL: func.func @f
// CHECK-DAG: "cube.param"() {{.*}}name = "w.weight", trainable = false
// CHECK-DAG: %[[C:.*]] = arith.constant 1.0
// CSE merged the two identical arith.constant ops.
// CHECK: return %{{.*}}, %[[C]], %[[C]]
func.func @f() -> (tensor<4x4xf32>, f32, f32) {
  %w = "cube.param"() {name = "w.weight", init = "normal(std=0.02)", trainable = true} : () -> tensor<4x4xf32>
  %a = arith.constant 1.0 : f32
  %b = arith.constant 1.0 : f32
  return %w, %a, %b : tensor<4x4xf32>, f32, f32
}

// --print-ir-after-all prints to stderr after every pass, with the pass name.
// RUN: cube-opt %s --print-ir-after-all --pass-pipeline='builtin.module(cube-verify,func.func(cse))' 2>&1 >/dev/null | FileCheck %s --check-prefix=AFTER
// AFTER: // -----// IR Dump After cube-verify
// AFTER: "cube.param"
// AFTER: // -----// IR Dump After CSE
// AFTER: func.func @f

// Pipeline errors are reported before the input is read.
// RUN: not cube-opt %s --pass-pipeline='builtin.module(cube-freeze{patterns=w.* depth=3})' 2>&1 | FileCheck %s --check-prefix=BADOPT
// BADOPT: cube-opt: error: invalid pass pipeline {{.*}}: pass 'cube-freeze' has no option 'depth' (options: patterns trainable)
// RUN: not cube-opt %s --cube-freeze='trainable=maybe' 2>&1 | FileCheck %s --check-prefix=BADBOOL
// BADBOOL: pass 'cube-freeze' option 'trainable' has value 'maybe', expected true or false
// RUN: not cube-opt %s --cube-verify='strict=1' 2>&1 | FileCheck %s --check-prefix=NOOPTS
// NOOPTS: pass 'cube-verify' has no option 'strict' (it takes none)
// RUN: not cube-opt %s --cube-freeze='patterns=a,,b' 2>&1 | FileCheck %s --check-prefix=BADLIST
// BADLIST: pass 'cube-freeze' option 'patterns' has value 'a,,b', expected a comma-separated list of non-empty names
// RUN: not cube-opt %s --pass-pipeline='builtin.module(func.func(cube-verify))' 2>&1 | FileCheck %s --check-prefix=ANCHOR
// ANCHOR: pass 'cube-verify' runs on a different op than the pipeline it is nested in
// RUN: not cube-opt %s --pass-pipeline='builtin.module(cse' 2>&1 | FileCheck %s --check-prefix=UNBALANCED
// UNBALANCED: expected ')' at the end of the pipeline
// RUN: not cube-opt %s --pass-pipeline='builtin.module(cube-freeze{patterns=w)' 2>&1 | FileCheck %s --check-prefix=BRACE
// BRACE: unbalanced '{' in pass options
// RUN: not cube-opt %s --pass-pipeline='nosuch.op(cse)' 2>&1 | FileCheck %s --check-prefix=NOOP
// NOOP: 'nosuch.op' is not a registered operation to nest a pipeline under
// RUN: not cube-opt %s --pass-pipeline='builtin.module(cse)x' 2>&1 | FileCheck %s --check-prefix=TRAILING
// TRAILING: unexpected text after the pipeline: 'x'
// RUN: not cube-opt %s --pass-pipeline='builtin.module(canonicalize{bogus=1})' 2>&1 | FileCheck %s --check-prefix=UPSTREAMOPT
// UPSTREAMOPT: in pass 'canonicalize': {{.*}}no such option bogus
// RUN: not cube-opt %s --pass-pipeline='builtin.module(cse,,cse)' 2>&1 | FileCheck %s --check-prefix=EMPTYELT
// EMPTYELT: expected a pass or op name
// RUN: not cube-opt %s --pass-pipeline='builtin.module(func.func{x=1}(cse))' 2>&1 | FileCheck %s --check-prefix=ANCHOROPTS
// ANCHOROPTS: 'func.func(...)' is an op anchor and takes no options

// A pass that fails reports at the IR and exits 1.
// RUN: not cube-opt %s --cube-freeze='patterns=nothing.matches' 2>&1 | FileCheck %s --check-prefix=PASSFAIL
// PASSFAIL: error: cube-freeze: pattern 'nothing.matches' matches no parameter name
