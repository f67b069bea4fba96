// A GEMM epilogue on target=cuda: cube-group-kernels folds `scale(gemm)` into the GEMM step's alpha when the
// scale is the GEMM result's only use (cube.gemm_alpha, the plan's "alpha"), as in the attention gradient's
// dq and dk; a scale of a GEMM result that is also read elsewhere stays a kernel, and on target=cpu nothing
// changes (linear and matmul are kernels there).
// RUN: cube-opt %s --pass-pipeline='builtin.module(cube-group-kernels{target=cuda},cube-verify)' | FileCheck %s
// RUN: rm -rf %t && cube-opt %s --pass-pipeline='builtin.module(cube-group-kernels{target=cuda},cube-lower-to-linalg,cube-emit{out=%t target=cuda chip=sm_90})' -o /dev/null
// RUN: FileCheck %s --check-prefix=PLAN < %t/plan.json
// RUN: cube-opt %s --pass-pipeline='builtin.module(cube-group-kernels{target=cpu},cube-verify)' | FileCheck %s --check-prefix=CPU

// CHECK-LABEL: func.func @forward
// CHECK:      %[[A:.*]] = "cube.matmul"(%arg0, %arg1) {cube.gemm, cube.gemm_alpha = 1.250000e-01 : f64, cube.scope = "a"}
// CHECK:      %[[B:.*]] = "cube.matmul"(%arg0, %arg1) {cube.gemm, cube.scope = "b"}
// CHECK:      call @k{{[0-9]+}}_scale(%[[B]],
// CHECK:      call @k{{[0-9]+}}_add(%[[B]],
// CHECK-NOT:  cube.gemm_alpha

// PLAN: {"op": "gemm", {{.*}} "alpha": 0.125, "beta": 0.0, "cube_op": "cube.matmul", "scope": "a"}
// PLAN: {"op": "gemm", {{.*}} "alpha": 1.0, "beta": 0.0, "cube_op": "cube.matmul", "scope": "b"}

// CPU-COUNT-2: call @k{{[0-9]+}}_scale(
// CPU-NOT: cube.gemm_alpha

module attributes {cube.modules = [["", "LlamaForCausalLM"], ["a", "Linear"], ["b", "Linear"], ["c", "Linear"]]} {
  func.func @forward(%x: tensor<2x8x16xf32>, %w: tensor<2x16x8xf32>) -> (tensor<2x8x8xf32>, tensor<2x8x8xf32>, tensor<2x8x8xf32>) {
    %m = "cube.matmul"(%x, %w) {cube.scope = "a"} : (tensor<2x8x16xf32>, tensor<2x16x8xf32>) -> tensor<2x8x8xf32>
    %s = "cube.scale"(%m) {cube.scope = "a", factor = 0.125 : f64} : (tensor<2x8x8xf32>) -> tensor<2x8x8xf32>
    %n = "cube.matmul"(%x, %w) {cube.scope = "b"} : (tensor<2x8x16xf32>, tensor<2x16x8xf32>) -> tensor<2x8x8xf32>
    %t = "cube.scale"(%n) {cube.scope = "b", factor = 0.125 : f64} : (tensor<2x8x8xf32>) -> tensor<2x8x8xf32>
    %u = "cube.add"(%n, %t) {cube.scope = "c"} : (tensor<2x8x8xf32>, tensor<2x8x8xf32>) -> tensor<2x8x8xf32>
    return %s, %t, %u : tensor<2x8x8xf32>, tensor<2x8x8xf32>, tensor<2x8x8xf32>
  }
}
