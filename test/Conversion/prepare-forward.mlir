// cube-prepare-forward: checkpoints are inlined with their scopes made absolute again, the outlined
// functions are erased, and dropout (the identity in eval) is removed.
// RUN: cube-opt %s --pass-pipeline='builtin.module(cube-prepare-forward,cube-verify)' | FileCheck %s
// The same on a model that cube-recompute outlined: the result is the model as traced, less nothing.
// RUN: cube-opt %cube_src/examples/models/tiny-llama.mlir --pass-pipeline='builtin.module(cube-recompute,cube-prepare-forward)' | FileCheck %s --check-prefix=TINY
// RUN: cube-opt %cube_src/examples/models/tiny-llama.mlir --pass-pipeline='builtin.module(cube-recompute)' | FileCheck %s --check-prefix=OUTLINED
// OUTLINED: cube.checkpoint

// CHECK-LABEL: func.func @forward(%arg0: tensor<2x8xf32>) -> tensor<2x8xf32>
// CHECK:      %[[W0:.*]] = "cube.param"() {{.*}}name = "model.layers.0.w"
// CHECK:      %[[W1:.*]] = "cube.param"() {{.*}}name = "model.layers.1.w"
// CHECK:      %[[L0:.*]] = "cube.linear"(%arg0, %[[W0]]) {cube.scope = "model.layers.0.proj"}
// CHECK-NEXT: %[[A0:.*]] = "cube.silu"(%[[L0]]) {cube.scope = "model.layers.0"}
// CHECK-NEXT: %[[L1:.*]] = "cube.linear"(%[[A0]], %[[W1]]) {cube.scope = "model.layers.1.proj"}
// CHECK-NEXT: %[[A1:.*]] = "cube.silu"(%[[L1]]) {cube.scope = "model.layers.1"}
// CHECK-NEXT: return %[[A1]]
// CHECK-NOT: cube.dropout
// CHECK-NOT: func.func private @recompute
// CHECK-NOT: call

// TINY-NOT: cube.checkpoint
// TINY-NOT: recompute_
// TINY: "cube.rmsnorm"({{.*}}) {cube.scope = "model.layers.1.post_attention_layernorm"
// TINY: "cube.linear"({{.*}}) {cube.scope = "model.layers.1.mlp.down_proj"}
// TINY: "cube.cross_entropy"

module attributes {cube.modules = [["", "LlamaForCausalLM"], ["model", "LlamaModel"], ["model.layers", "ModuleList"],
    ["model.layers.0", "LlamaDecoderLayer"], ["model.layers.0.proj", "Linear"],
    ["model.layers.1", "LlamaDecoderLayer"], ["model.layers.1.proj", "Linear"]]} {
  func.func @forward(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
    %w0 = "cube.param"() {name = "model.layers.0.w", init = "normal(std=0.02)", trainable = true, cube.scope = "model.layers.0.proj"} : () -> tensor<8x8xf32>
    %w1 = "cube.param"() {name = "model.layers.1.w", init = "normal(std=0.02)", trainable = true, cube.scope = "model.layers.1.proj"} : () -> tensor<8x8xf32>
    %0 = call @recompute_LlamaDecoderLayer(%x, %w0) {cube.checkpoint, cube.scope = "model.layers.0"} : (tensor<2x8xf32>, tensor<8x8xf32>) -> tensor<2x8xf32>
    %1 = call @recompute_LlamaDecoderLayer(%0, %w1) {cube.checkpoint, cube.scope = "model.layers.1"} : (tensor<2x8xf32>, tensor<8x8xf32>) -> tensor<2x8xf32>
    return %1 : tensor<2x8xf32>
  }
  func.func private @recompute_LlamaDecoderLayer(%x: tensor<2x8xf32>, %w: tensor<8x8xf32>) -> tensor<2x8xf32> attributes {cube.instance_type = "LlamaDecoderLayer"} {
    %0 = "cube.linear"(%x, %w) {cube.scope = "proj"} : (tensor<2x8xf32>, tensor<8x8xf32>) -> tensor<2x8xf32>
    %1 = "cube.dropout"(%0) {p = 0.1 : f64, seed = 3 : i64, cube.scope = ""} : (tensor<2x8xf32>) -> tensor<2x8xf32>
    %2 = "cube.silu"(%1) {cube.scope = ""} : (tensor<2x8xf32>) -> tensor<2x8xf32>
    return %2 : tensor<2x8xf32>
  }
}
