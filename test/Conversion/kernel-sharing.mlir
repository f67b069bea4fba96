// cube-group-kernels shares kernel functions (lib/Conversion/KernelDedup.c): an op whose kernel function
// would be identical to an earlier one's (same types, attributes and body; only cube.scope,
// cube.recomputed and cube.fuse_group may differ) calls the earlier function instead of getting its own,
// as the layers of a Llama do. A different attribute (scale's factor) or type is a kernel of its own.
// RUN: cube-opt %s --pass-pipeline='builtin.module(cube-group-kernels{target=cpu},cube-verify)' | FileCheck %s
// The plan calls the shared kernel twice, on different buffers; the CPU kernels file has it once.
// RUN: rm -rf %t && cube-opt %s --pass-pipeline='builtin.module(cube-group-kernels{target=cpu},cube-lower-to-linalg,cube-emit{out=%t})' -o /dev/null
// RUN: FileCheck %s --check-prefix=PLAN < %t/plan.json

// CHECK-LABEL: func.func @forward
// CHECK:      %[[A:.*]] = call @k0_silu(%arg0, %{{.*}}) {cube.op = "cube.silu", cube.scope = "model.layers.0.mlp"}
// CHECK:      %[[B:.*]] = call @k0_silu(%[[A]], %{{.*}}) {cube.op = "cube.silu", cube.scope = "model.layers.1.mlp"}
// CHECK:      %[[C:.*]] = call @k2_scale(%[[B]], %{{.*}}) {cube.op = "cube.scale", cube.scope = "a"}
// CHECK:      %[[D:.*]] = call @k3_scale(%[[C]], %{{.*}}) {cube.op = "cube.scale", cube.scope = "b"}
// CHECK:      %[[E:.*]] = call @k2_scale(%[[D]], %{{.*}}) {cube.op = "cube.scale", cube.scope = "c"}
// CHECK:      %[[F:.*]] = call @k5_silu(%{{.*}}, %{{.*}}) {cube.op = "cube.silu", cube.scope = "model.layers.2.mlp"}
// CHECK-COUNT-4: func.func private @k
// CHECK-NOT: func.func private @k

// PLAN-COUNT-2: {"op": "call", "kernel": "k0_silu"
// PLAN-COUNT-2: {"op": "call", "kernel": "k2_scale"

module attributes {cube.modules = [["", "LlamaForCausalLM"], ["model", "LlamaModel"], ["model.layers", "ModuleList"], ["model.layers.0", "LlamaDecoderLayer"], ["model.layers.0.mlp", "LlamaMLP"], ["model.layers.1", "LlamaDecoderLayer"], ["model.layers.1.mlp", "LlamaMLP"], ["model.layers.2", "LlamaDecoderLayer"], ["model.layers.2.mlp", "LlamaMLP"], ["a", "Linear"], ["b", "Linear"], ["c", "Linear"]]} {
  func.func @forward(%x: tensor<4x8xf32>, %y: tensor<2x8xf32>) -> (tensor<4x8xf32>, tensor<2x8xf32>) {
    %a = "cube.silu"(%x) {cube.scope = "model.layers.0.mlp"} : (tensor<4x8xf32>) -> tensor<4x8xf32>
    %b = "cube.silu"(%a) {cube.scope = "model.layers.1.mlp", cube.recomputed} : (tensor<4x8xf32>) -> tensor<4x8xf32>
    %c = "cube.scale"(%b) {cube.scope = "a", factor = 2.0 : f64} : (tensor<4x8xf32>) -> tensor<4x8xf32>
    %d = "cube.scale"(%c) {cube.scope = "b", factor = 3.0 : f64} : (tensor<4x8xf32>) -> tensor<4x8xf32>
    %e = "cube.scale"(%d) {cube.scope = "c", factor = 2.0 : f64} : (tensor<4x8xf32>) -> tensor<4x8xf32>
    %f = "cube.silu"(%y) {cube.scope = "model.layers.2.mlp"} : (tensor<2x8xf32>) -> tensor<2x8xf32>
    return %e, %f : tensor<4x8xf32>, tensor<2x8xf32>
  }
}
