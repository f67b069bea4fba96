// Printing flags: generic form, locations, and --cube-verify-each.
// RUN: cube-opt %s --mlir-print-op-generic | FileCheck %s --check-prefix=GENERIC
// GENERIC: "func.func"() <{function_type = (tensor<4xf32>) -> tensor<4xf32>, sym_name = "f"}>
// GENERIC: "cube.neg"(%{{.*}}) : (tensor<4xf32>) -> tensor<4xf32>
// GENERIC: "func.return"

// RUN: cube-opt %s --mlir-print-debuginfo | FileCheck %s --check-prefix=DEBUGINFO
// DEBUGINFO: "cube.neg"(%{{.*}}) : (tensor<4xf32>) -> tensor<4xf32> loc([[LOC:#loc[0-9]*]])
// DEBUGINFO: [[LOC]] = loc("{{.*}}printing.mlir":[[@LINE+13]]:8)

// --cube-verify-each adds cube-verify after every top-level pass.
// RUN: cube-opt %s --cube-verify-each --print-ir-after-all --pass-pipeline='builtin.module(cse,canonicalize)' 2>&1 >/dev/null | FileCheck %s --check-prefix=EACH
// EACH: IR Dump After CSE
// EACH-NEXT: {{^}}module
// EACH: IR Dump After cube-verify
// EACH: IR Dump After Canonicalizer
// EACH: IR Dump After cube-verify

// RUN: cube-opt --help | FileCheck %s --check-prefix=HELP
// HELP: --cube-verify-each
func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = "cube.neg"(%x) : (tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}
