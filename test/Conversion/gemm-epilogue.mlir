// GEMM epilogues on target=cuda (cube-group-kernels, lib/Conversion/Plan.c):
//  - `scale(gemm)` where the scale is the GEMM result's only use: the scale's factor becomes the GEMM step's
//    alpha (cube.gemm_alpha), as in the attention gradient's dq and dk;
//  - `add(x, gemm)` where the add is the only use of both and x is computed before the GEMM: the add stays,
//    marked cube.gemm_accumulate, and the plan runs the GEMM with beta = 1 into x's buffer (C = A B + C) with
//    no step for the add, as a LoRA target's base output plus its B product.
// A scale or add of a GEMM result that is also read elsewhere stays a kernel; on target=cpu nothing changes
// (linear and matmul are kernels there). Numerics on the GPU: test/gpu/README.md (tiny-llama GPU vs CPU).
// RUN: cube-opt %s --pass-pipeline='builtin.module(cube-group-kernels{target=cuda},cube-verify)' | FileCheck %s
// RUN: rm -rf %t && cube-opt %s --pass-pipeline='builtin.module(cube-group-kernels{target=cuda},cube-lower-to-linalg,cube-emit{out=%t target=cuda chip=sm_90})' -o /dev/null
// RUN: FileCheck %s --check-prefix=PLAN < %t/plan.json
// RUN: cube-opt %s --pass-pipeline='builtin.module(cube-group-kernels{target=cpu},cube-verify)' | FileCheck %s --check-prefix=CPU

// CHECK-LABEL: func.func @forward
// CHECK:      %[[A:.*]] = "cube.matmul"(%arg0, %arg1) {cube.gemm, cube.gemm_alpha = 1.250000e-01 : f64, cube.scope = "a"}
// CHECK:      %[[B:.*]] = "cube.matmul"(%arg0, %arg1) {cube.gemm, cube.scope = "b"}
// CHECK:      call @k{{[0-9]+}}_scale(%[[B]],
// CHECK:      call @k{{[0-9]+}}_add(%[[B]],
// CHECK:      %[[BASE:.*]] = "cube.linear"(%arg2, %arg3) {cube.gemm, cube.scope = "q"}
// CHECK:      %[[LORA:.*]] = "cube.linear"(%arg2, %arg3) {cube.gemm, cube.scope = "q.lora_B.default"}
// CHECK:      "cube.add"(%[[BASE]], %[[LORA]]) {cube.gemm_accumulate, cube.scope = "q"}

// The accumulating GEMM's C is an alias of the base GEMM's output (the same bytes):
// PLAN: {"name": "[[ACC:t[0-9]+]]", "kind": "activation", "dtype": "f32", "shape": [4, 8], "bytes": 128, "offset": {{[0-9]+}}, "alias_of": "[[BASEBUF:t[0-9]+]]"}
// PLAN: {"op": "gemm", {{.*}} "alpha": 0.125, "beta": 0.0, "cube_op": "cube.matmul", "scope": "a"}
// PLAN: {"op": "gemm", {{.*}} "alpha": 1.0, "beta": 0.0, "cube_op": "cube.matmul", "scope": "b"}
// PLAN: {"op": "gemm", {{.*}} "c": {"buffer": "[[BASEBUF]]"}, {{.*}} "beta": 0.0, "cube_op": "cube.linear", "scope": "q"}
// PLAN-NEXT: {"op": "gemm", {{.*}} "c": {"buffer": "[[ACC]]"}, {{.*}} "alpha": 1.0, "beta": 1.0, "cube_op": "cube.linear", "scope": "q.lora_B.default"}
// PLAN-NEXT: {"op": "copy"

// CPU-COUNT-2: call @k{{[0-9]+}}_scale(
// CPU: call @k{{[0-9]+}}_add(
// CPU-NOT: cube.gemm

module attributes {cube.modules = [["", "LlamaForCausalLM"], ["a", "Linear"], ["b", "Linear"], ["c", "Linear"], ["q", "Linear"], ["q.lora_B", "ModuleDict"], ["q.lora_B.default", "Linear"]]} {
  func.func @forward(%x: tensor<2x8x16xf32>, %w: tensor<2x16x8xf32>, %h: tensor<4x16xf32>, %v: tensor<8x16xf32>) -> (tensor<2x8x8xf32>, tensor<2x8x8xf32>, tensor<2x8x8xf32>, tensor<4x8xf32>) {
    %m = "cube.matmul"(%x, %w) {cube.scope = "a"} : (tensor<2x8x16xf32>, tensor<2x16x8xf32>) -> tensor<2x8x8xf32>
    %s = "cube.scale"(%m) {cube.scope = "a", factor = 0.125 : f64} : (tensor<2x8x8xf32>) -> tensor<2x8x8xf32>
    %n = "cube.matmul"(%x, %w) {cube.scope = "b"} : (tensor<2x8x16xf32>, tensor<2x16x8xf32>) -> tensor<2x8x8xf32>
    %t = "cube.scale"(%n) {cube.scope = "b", factor = 0.125 : f64} : (tensor<2x8x8xf32>) -> tensor<2x8x8xf32>
    %u = "cube.add"(%n, %t) {cube.scope = "c"} : (tensor<2x8x8xf32>, tensor<2x8x8xf32>) -> tensor<2x8x8xf32>
    %base = "cube.linear"(%h, %v) {cube.scope = "q"} : (tensor<4x16xf32>, tensor<8x16xf32>) -> tensor<4x8xf32>
    %lora = "cube.linear"(%h, %v) {cube.scope = "q.lora_B.default"} : (tensor<4x16xf32>, tensor<8x16xf32>) -> tensor<4x8xf32>
    %y = "cube.add"(%base, %lora) {cube.scope = "q"} : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    return %s, %t, %u, %y : tensor<2x8x8xf32>, tensor<2x8x8xf32>, tensor<2x8x8xf32>, tensor<4x8xf32>
  }
}
