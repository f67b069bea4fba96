// cube-group-kernels on fuse groups written by hand (cube.fuse_group = N on consecutive ops; cube-fuse writes
// them the same way): a valid group becomes one kernel function, including a lone op and a silu_grad with
// a scale by 1.0 (kept inside the group: x * 1.0 is exact); every malformed group is an error at the IR,
// never a crash.
// RUN: not cube-opt %s --split-input-file --pass-pipeline='builtin.module(cube-group-kernels{target=cpu},cube-verify)' 2>/dev/null | FileCheck %s --check-prefix=OK
// RUN: not cube-opt %s --split-input-file --pass-pipeline='builtin.module(cube-group-kernels{target=cpu})' 2>&1 | FileCheck %s

// The group's inputs are in first-use order (g, then x); a fused call without a scope gets none.
// OK-LABEL: func.func @forward
// OK:      %[[O:.*]] = tensor.empty() : tensor<8xf16>
// OK-NEXT: %[[R:.*]] = call @k0_fused(%arg1, %arg0, %[[O]]) {cube.op = "cube.fused"} : (tensor<8xf16>, tensor<8xf16>, tensor<8xf16>) -> tensor<8xf16>
// OK-NEXT: %[[O2:.*]] = tensor.empty() : tensor<8xf16>
// OK-NEXT: call @k1_fused(%[[R]], %[[O2]]) {cube.op = "cube.fused"}
// OK:      func.func private @k0_fused(%arg0: tensor<8xf16>, %arg1: tensor<8xf16>, %arg2: tensor<8xf16>) -> tensor<8xf16> attributes {cube.fused_ops = "cube.scale,cube.silu_grad", cube.kernel = "cube.fused", cube.kernel_inputs = 2 : i64, cube.kernel_scratch = 0 : i64}
// OK-NEXT: %[[S:.*]] = "cube.scale"(%arg0) {factor = 1.000000e+00 : f64}
// OK-NEXT: %[[G:.*]] = "cube.silu_grad"(%arg1, %[[S]])
// OK-NEXT: return %[[G]] : tensor<8xf16>
// OK:      func.func private @k1_fused(%arg0: tensor<8xf16>, %arg1: tensor<8xf16>) -> tensor<8xf16> attributes {cube.fused_ops = "cube.exp"
func.func @forward(%x: tensor<8xf16>, %g: tensor<8xf16>) -> tensor<8xf16> {
  %s = "cube.scale"(%g) {factor = 1.0 : f64, cube.fuse_group = 7 : i64} : (tensor<8xf16>) -> tensor<8xf16>
  %d = "cube.silu_grad"(%x, %s) {cube.fuse_group = 7 : i64} : (tensor<8xf16>, tensor<8xf16>) -> tensor<8xf16>
  %e = "cube.exp"(%d) {cube.fuse_group = 3 : i64} : (tensor<8xf16>) -> tensor<8xf16>
  return %e : tensor<8xf16>
}

// -----
// CHECK: error: cube-group-kernels: the ops of fuse group 1 are not consecutive (cube-fuse orders them so)
func.func @forward(%x: tensor<8xf32>) -> tensor<8xf32> {
  %a = "cube.neg"(%x) {cube.fuse_group = 1 : i64} : (tensor<8xf32>) -> tensor<8xf32>
  %b = "cube.exp"(%a) : (tensor<8xf32>) -> tensor<8xf32>
  %c = "cube.neg"(%b) {cube.fuse_group = 1 : i64} : (tensor<8xf32>) -> tensor<8xf32>
  return %c : tensor<8xf32>
}

// -----
// CHECK: error: cube-group-kernels: fuse group 2: 'cube.transpose' cannot be fused (only elementwise f32/bf16/f16 ops without broadcasting)
func.func @forward(%x: tensor<2x4xf32>) -> tensor<4x2xf32> {
  %a = "cube.neg"(%x) {cube.fuse_group = 2 : i64} : (tensor<2x4xf32>) -> tensor<2x4xf32>
  %b = "cube.transpose"(%a) {permutation = array<i64: 1, 0>, cube.fuse_group = 2 : i64} : (tensor<2x4xf32>) -> tensor<4x2xf32>
  return %b : tensor<4x2xf32>
}

// -----
// CHECK: error: cube-group-kernels: cube.fuse_group must be an integer
func.func @forward(%x: tensor<8xf32>) -> tensor<8xf32> {
  %a = "cube.neg"(%x) {cube.fuse_group = "one"} : (tensor<8xf32>) -> tensor<8xf32>
  return %a : tensor<8xf32>
}

// -----
// CHECK: error: cube-group-kernels: fuse group 0: its ops have different numbers of elements
func.func @forward(%x: tensor<8xf32>, %y: tensor<4xf32>) -> (tensor<8xf32>, tensor<4xf32>) {
  %a = "cube.neg"(%x) {cube.fuse_group = 0 : i64} : (tensor<8xf32>) -> tensor<8xf32>
  %b = "cube.neg"(%y) {cube.fuse_group = 0 : i64} : (tensor<4xf32>) -> tensor<4xf32>
  return %a, %b : tensor<8xf32>, tensor<4xf32>
}

// -----
// CHECK: error: cube-group-kernels: fuse group 5 has 1 inputs and 4 outputs (at most 8 and 3, and at least one output)
func.func @forward(%x: tensor<8xf32>) -> (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) {
  %a = "cube.neg"(%x) {cube.fuse_group = 5 : i64} : (tensor<8xf32>) -> tensor<8xf32>
  %b = "cube.neg"(%a) {cube.fuse_group = 5 : i64} : (tensor<8xf32>) -> tensor<8xf32>
  %c = "cube.neg"(%b) {cube.fuse_group = 5 : i64} : (tensor<8xf32>) -> tensor<8xf32>
  %d = "cube.neg"(%c) {cube.fuse_group = 5 : i64} : (tensor<8xf32>) -> tensor<8xf32>
  return %a, %b, %c, %d : tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>
}
