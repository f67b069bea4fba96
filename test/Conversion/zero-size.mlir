// A result with no elements needs no kernel: cube-group-kernels leaves a tensor.empty (a buffer of 0 bytes
// in the plan, never read) and no step. Both targets.
// RUN: cube-opt %s --pass-pipeline='builtin.module(cube-prepare-forward,cube-group-kernels{target=cuda})' | FileCheck %s
// RUN: rm -rf %t && cube-opt %s --pass-pipeline='builtin.module(cube-prepare-forward,cube-group-kernels{target=cpu},cube-lower-to-linalg,cube-emit{out=%t})' -o /dev/null
// RUN: FileCheck %s --check-prefix=PLAN < %t/plan.json

// CHECK:      func.func @forward(%arg0: tensor<0x4xf32>, %arg1: tensor<5x4xf32>) -> tensor<0x5xf32>
// CHECK-NEXT:   %[[E:.*]] = tensor.empty() : tensor<0x5xf32>
// CHECK-NEXT:   return %[[E]]
// CHECK-NOT: func.func private

// PLAN: {"name": "result0", "kind": "output", "dtype": "f32", "shape": [0, 5], "bytes": 0,
// PLAN: "steps": []
func.func @forward(%x: tensor<0x4xf32>, %w: tensor<5x4xf32>) -> tensor<0x5xf32> {
  %0 = "cube.linear"(%x, %w) : (tensor<0x4xf32>, tensor<5x4xf32>) -> tensor<0x5xf32>
  return %0 : tensor<0x5xf32>
}
