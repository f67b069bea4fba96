// cube-lower-to-linalg rejects kernel functions it cannot trust (hand-edited grouped IR): a message at the
// kernel function, exit 1, never a crash.
// RUN: not cube-opt %s --split-input-file --pass-pipeline='builtin.module(cube-lower-to-linalg)' 2>&1 | FileCheck %s

// CHECK: error: cube-lower-to-linalg: a kernel function needs sym_name, cube.kernel_inputs and cube.kernel_scratch
func.func private @k0_neg(%a: tensor<4xf32>, %out: tensor<4xf32>) -> tensor<4xf32> attributes {cube.kernel = "cube.neg"} {
  %0 = "cube.neg"(%a) : (tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----
// CHECK: error: cube-lower-to-linalg: the kernel's signature does not match its op
func.func private @k0_neg(%a: tensor<4xf32>, %out: tensor<4xf32>) -> tensor<4xf32> attributes {cube.kernel = "cube.neg", cube.kernel_inputs = 2 : i64, cube.kernel_scratch = 0 : i64} {
  %0 = "cube.neg"(%a) : (tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----
// CHECK: error: cube-lower-to-linalg: the kernel's scratch arguments are not the ones its op needs
func.func private @k0_rmsnorm(%x: tensor<2x8xf32>, %w: tensor<8xf32>, %s: tensor<3xf32>, %out: tensor<2x8xf32>) -> tensor<2x8xf32> attributes {cube.kernel = "cube.rmsnorm", cube.kernel_inputs = 2 : i64, cube.kernel_scratch = 1 : i64} {
  %0 = "cube.rmsnorm"(%x, %w) {eps = 1.0e-06 : f64} : (tensor<2x8xf32>, tensor<8xf32>) -> tensor<2x8xf32>
  return %0 : tensor<2x8xf32>
}

// -----
// CHECK: error: cube-lower-to-linalg: 'cube.reshape' has no kernel (param and reshape stay in @forward, dropout is removed by cube-prepare-forward)
func.func private @k0_reshape(%x: tensor<2x8xf32>, %out: tensor<16xf32>) -> tensor<16xf32> attributes {cube.kernel = "cube.reshape", cube.kernel_inputs = 1 : i64, cube.kernel_scratch = 0 : i64} {
  %0 = "cube.reshape"(%x) : (tensor<2x8xf32>) -> tensor<16xf32>
  return %0 : tensor<16xf32>
}
