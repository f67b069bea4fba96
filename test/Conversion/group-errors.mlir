// Every error of cube-group-kernels and cube-lower-to-linalg: a message at the IR, exit 1, never a crash.
// RUN: not cube-opt %s --split-input-file --pass-pipeline='builtin.module(cube-group-kernels{target=cpu})' 2>&1 | FileCheck %s
// RUN: not cube-opt %s --split-input-file --pass-pipeline='builtin.module(cube-group-kernels{target=tpu})' 2>&1 | FileCheck %s --check-prefix=TARGET
// TARGET: error: cube-group-kernels: unknown target 'tpu' (expected cpu or cuda)

// CHECK: error: cube-group-kernels: @forward still has checkpoints or dropout; run cube-prepare-forward first
func.func @forward(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = "cube.dropout"(%x) {p = 0.1 : f64, seed = 1 : i64} : (tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----
// CHECK: error: cube-group-kernels: @forward still has checkpoints or dropout
func.func @forward(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = call @f(%x) {cube.checkpoint} : (tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}
func.func private @f(%x: tensor<4xf32>) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}

// -----
// CHECK: error: cube-group-kernels: the module has 2 functions and none is named @forward
func.func @a(%x: tensor<4xf32>) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}
func.func @b(%x: tensor<4xf32>) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}

// -----
// CHECK: error: cube-group-kernels: the module has no @forward function (with a body) to compile
func.func private @forward(%x: tensor<4xf32>) -> tensor<4xf32>

// -----
// CHECK: error: cube-group-kernels: no kernel for 'arith.addf' in @forward (already grouped?)
func.func @forward(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = arith.addf %x, %x : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----
// CHECK: error: cube-group-kernels: the module is already grouped
module attributes {cube.target = "cpu"} {
  func.func @forward(%x: tensor<4xf32>) -> tensor<4xf32> {
    return %x : tensor<4xf32>
  }
}

// -----
// CHECK: error: cube-group-kernels: 'cube.concat' has an operand with no elements but a result with some; zero-sized operands are not supported
func.func @forward(%a: tensor<2x0xf32>, %b: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %0 = "cube.concat"(%a, %b) {dim = 1 : i64} : (tensor<2x0xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}
