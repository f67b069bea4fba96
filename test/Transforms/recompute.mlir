// cube-recompute on hand-written models: outlined function signatures (params passed in, never moved),
// relative scopes, sharing of structurally equal instances (_1 for a different one), the nesting rule, and
// an outside op that reads an instance's value from between its ops.
// RUN: cube-opt %s --split-input-file --pass-pipeline='builtin.module(cube-recompute{modules=LlamaDecoderLayer},cube-verify)' | FileCheck %s
// RUN: cube-opt %s --split-input-file --pass-pipeline='builtin.module(cube-recompute{modules=LlamaMLP,LlamaDecoderLayer},cube-verify)' | FileCheck %s
// RUN: cube-opt %s --split-input-file --pass-pipeline='builtin.module(cube-recompute{modules=LlamaMLP},cube-verify)' | FileCheck %s --check-prefix=MLP
// RUN: cube-opt %s --split-input-file --pass-pipeline='builtin.module(cube-recompute,cube-verify)' --cube-summary | FileCheck %s --check-prefix=SUMMARY

// Params stay in the forward function and are passed in, in order of first use.
// CHECK-LABEL: func.func @forward(%arg0: tensor<2x8xf32>) -> tensor<2x8xf32> {
// CHECK-COUNT-11: "cube.param"
// CHECK-NEXT: %[[C0:[0-9]+]] = call @recompute_LlamaDecoderLayer(%arg0, %0, %1, %2) {cube.checkpoint, cube.scope = "model.layers.0"} : (tensor<2x8xf32>, tensor<8xf32>, tensor<8x8xf32>, tensor<8x8xf32>) -> tensor<2x8xf32>
// CHECK-NEXT: %[[C1:[0-9]+]] = call @recompute_LlamaDecoderLayer_1(%[[C0]], %3, %4, %5, %6) {cube.checkpoint, cube.scope = "model.layers.1"}
// CHECK-NEXT: %[[C2:[0-9]+]] = call @recompute_LlamaDecoderLayer(%[[C1]], %7, %8, %9) {cube.checkpoint, cube.scope = "model.layers.2"}
// CHECK-NEXT: "cube.rmsnorm"(%[[C2]], %10) {cube.scope = "model.norm"
// Layers 0 and 2 share one function; scopes inside are relative to the instance.
// CHECK-LABEL: func.func private @recompute_LlamaDecoderLayer(%arg0: tensor<2x8xf32>, %arg1: tensor<8xf32>, %arg2: tensor<8x8xf32>, %arg3: tensor<8x8xf32>) -> tensor<2x8xf32> attributes {cube.instance_type = "LlamaDecoderLayer"} {
// CHECK-NEXT: %0 = "cube.rmsnorm"(%arg0, %arg1) {cube.scope = "input_layernorm"
// CHECK-NEXT: %1 = "cube.linear"(%0, %arg2) {cube.scope = "self_attn.q_proj"}
// CHECK-NEXT: %2 = "cube.silu"(%1) {cube.scope = "self_attn"}
// CHECK-NEXT: %3 = "cube.linear"(%2, %arg3) {cube.scope = "mlp.down_proj"}
// CHECK-NEXT: %4 = "cube.add"(%arg0, %3) {cube.scope = ""}
// CHECK-NEXT: return %4 : tensor<2x8xf32>
// Layer 1's q_proj has a bias: a different structure, a second function.
// CHECK-LABEL: func.func private @recompute_LlamaDecoderLayer_1(%arg0: tensor<2x8xf32>, %arg1: tensor<8xf32>, %arg2: tensor<8x8xf32>, %arg3: tensor<8xf32>, %arg4: tensor<8x8xf32>) -> tensor<2x8xf32> attributes {cube.instance_type = "LlamaDecoderLayer"} {
// CHECK-NEXT: "cube.rmsnorm"
// CHECK-NEXT: "cube.linear"(%0, %arg2, %arg3) {cube.scope = "self_attn.q_proj"}
// With LlamaMLP listed too, the decoder layer (the outermost instance) wins: no function of its own for the MLP.
// CHECK-NOT: recompute_LlamaMLP
// CHECK: // -----

// MLP-LABEL: func.func @forward
// MLP: %[[IN:[0-9]+]] = "cube.silu"({{.*}}) {cube.scope = "model.layers.0.self_attn"}
// MLP-NEXT: call @recompute_LlamaMLP(%[[IN]], %2) {cube.checkpoint, cube.scope = "model.layers.0.mlp"}
// MLP: call @recompute_LlamaMLP({{.*}}) {cube.checkpoint, cube.scope = "model.layers.1.mlp"}
// MLP: call @recompute_LlamaMLP({{.*}}) {cube.checkpoint, cube.scope = "model.layers.2.mlp"}
// MLP-LABEL: func.func private @recompute_LlamaMLP(%arg0: tensor<2x8xf32>, %arg1: tensor<8x8xf32>) -> tensor<2x8xf32> attributes {cube.instance_type = "LlamaMLP"} {
// MLP-NEXT: %0 = "cube.linear"(%arg0, %arg1) {cube.scope = "down_proj"}
// MLP-NEXT: return %0
// MLP-NOT: func.func
// MLP: // -----
// MLP: call @recompute_LlamaMLP({{.*}}) {cube.checkpoint, cube.scope = "model.layers.0.mlp"}
// MLP: func.func private @recompute_LlamaMLP(%arg0: tensor<2x8xf32>) -> tensor<2x8xf32> attributes {cube.instance_type = "LlamaMLP"} {
// MLP-NEXT: "cube.silu"(%arg0) {cube.scope = ""}

// SUMMARY: "checkpoints": 3,
// SUMMARY: "functions": 3,
// SUMMARY: "checkpoints": 1,
// SUMMARY: "functions": 2,
module attributes {cube.modules = [["", "LlamaForCausalLM"], ["model", "LlamaModel"], ["model.layers", "ModuleList"],
    ["model.layers.0", "LlamaDecoderLayer"], ["model.layers.0.self_attn", "LlamaAttention"], ["model.layers.0.self_attn.q_proj", "Linear"],
    ["model.layers.0.mlp", "LlamaMLP"], ["model.layers.0.mlp.down_proj", "Linear"], ["model.layers.0.input_layernorm", "LlamaRMSNorm"],
    ["model.layers.1", "LlamaDecoderLayer"], ["model.layers.1.self_attn", "LlamaAttention"], ["model.layers.1.self_attn.q_proj", "Linear"],
    ["model.layers.1.mlp", "LlamaMLP"], ["model.layers.1.mlp.down_proj", "Linear"], ["model.layers.1.input_layernorm", "LlamaRMSNorm"],
    ["model.layers.2", "LlamaDecoderLayer"], ["model.layers.2.self_attn", "LlamaAttention"], ["model.layers.2.self_attn.q_proj", "Linear"],
    ["model.layers.2.mlp", "LlamaMLP"], ["model.layers.2.mlp.down_proj", "Linear"], ["model.layers.2.input_layernorm", "LlamaRMSNorm"],
    ["model.norm", "LlamaRMSNorm"]]} {
  func.func @forward(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
    %model_layers_0_input_layernorm_weight = "cube.param"() {name = "model.layers.0.input_layernorm.weight", init = "ones", trainable = true, cube.scope = "model.layers.0.input_layernorm"} : () -> tensor<8xf32>
    %model_layers_0_self_attn_q_proj_weight = "cube.param"() {name = "model.layers.0.self_attn.q_proj.weight", init = "normal(std=0.02)", trainable = true, cube.scope = "model.layers.0.self_attn.q_proj"} : () -> tensor<8x8xf32>
    %model_layers_0_mlp_down_proj_weight = "cube.param"() {name = "model.layers.0.mlp.down_proj.weight", init = "normal(std=0.02)", trainable = true, cube.scope = "model.layers.0.mlp.down_proj"} : () -> tensor<8x8xf32>
    %model_layers_1_input_layernorm_weight = "cube.param"() {name = "model.layers.1.input_layernorm.weight", init = "ones", trainable = true, cube.scope = "model.layers.1.input_layernorm"} : () -> tensor<8xf32>
    %model_layers_1_self_attn_q_proj_weight = "cube.param"() {name = "model.layers.1.self_attn.q_proj.weight", init = "normal(std=0.02)", trainable = true, cube.scope = "model.layers.1.self_attn.q_proj"} : () -> tensor<8x8xf32>
    %model_layers_1_self_attn_q_proj_bias = "cube.param"() {name = "model.layers.1.self_attn.q_proj.bias", init = "zeros", trainable = true, cube.scope = "model.layers.1.self_attn.q_proj"} : () -> tensor<8xf32>
    %model_layers_1_mlp_down_proj_weight = "cube.param"() {name = "model.layers.1.mlp.down_proj.weight", init = "normal(std=0.02)", trainable = true, cube.scope = "model.layers.1.mlp.down_proj"} : () -> tensor<8x8xf32>
    %model_layers_2_input_layernorm_weight = "cube.param"() {name = "model.layers.2.input_layernorm.weight", init = "ones", trainable = true, cube.scope = "model.layers.2.input_layernorm"} : () -> tensor<8xf32>
    %model_layers_2_self_attn_q_proj_weight = "cube.param"() {name = "model.layers.2.self_attn.q_proj.weight", init = "normal(std=0.02)", trainable = true, cube.scope = "model.layers.2.self_attn.q_proj"} : () -> tensor<8x8xf32>
    %model_layers_2_mlp_down_proj_weight = "cube.param"() {name = "model.layers.2.mlp.down_proj.weight", init = "normal(std=0.02)", trainable = true, cube.scope = "model.layers.2.mlp.down_proj"} : () -> tensor<8x8xf32>
    %model_norm_weight = "cube.param"() {name = "model.norm.weight", init = "ones", trainable = true, cube.scope = "model.norm"} : () -> tensor<8xf32>
    %n0 = "cube.rmsnorm"(%x, %model_layers_0_input_layernorm_weight) {eps = 1.0e-06 : f64, cube.scope = "model.layers.0.input_layernorm"} : (tensor<2x8xf32>, tensor<8xf32>) -> tensor<2x8xf32>
    %q0 = "cube.linear"(%n0, %model_layers_0_self_attn_q_proj_weight) {cube.scope = "model.layers.0.self_attn.q_proj"} : (tensor<2x8xf32>, tensor<8x8xf32>) -> tensor<2x8xf32>
    %a0 = "cube.silu"(%q0) {cube.scope = "model.layers.0.self_attn"} : (tensor<2x8xf32>) -> tensor<2x8xf32>
    %d0 = "cube.linear"(%a0, %model_layers_0_mlp_down_proj_weight) {cube.scope = "model.layers.0.mlp.down_proj"} : (tensor<2x8xf32>, tensor<8x8xf32>) -> tensor<2x8xf32>
    %h0 = "cube.add"(%x, %d0) {cube.scope = "model.layers.0"} : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
    %n1 = "cube.rmsnorm"(%h0, %model_layers_1_input_layernorm_weight) {eps = 1.0e-06 : f64, cube.scope = "model.layers.1.input_layernorm"} : (tensor<2x8xf32>, tensor<8xf32>) -> tensor<2x8xf32>
    %q1 = "cube.linear"(%n1, %model_layers_1_self_attn_q_proj_weight, %model_layers_1_self_attn_q_proj_bias) {cube.scope = "model.layers.1.self_attn.q_proj"} : (tensor<2x8xf32>, tensor<8x8xf32>, tensor<8xf32>) -> tensor<2x8xf32>
    %a1 = "cube.silu"(%q1) {cube.scope = "model.layers.1.self_attn"} : (tensor<2x8xf32>) -> tensor<2x8xf32>
    %d1 = "cube.linear"(%a1, %model_layers_1_mlp_down_proj_weight) {cube.scope = "model.layers.1.mlp.down_proj"} : (tensor<2x8xf32>, tensor<8x8xf32>) -> tensor<2x8xf32>
    %h1 = "cube.add"(%h0, %d1) {cube.scope = "model.layers.1"} : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
    %n2 = "cube.rmsnorm"(%h1, %model_layers_2_input_layernorm_weight) {eps = 1.0e-06 : f64, cube.scope = "model.layers.2.input_layernorm"} : (tensor<2x8xf32>, tensor<8xf32>) -> tensor<2x8xf32>
    %q2 = "cube.linear"(%n2, %model_layers_2_self_attn_q_proj_weight) {cube.scope = "model.layers.2.self_attn.q_proj"} : (tensor<2x8xf32>, tensor<8x8xf32>) -> tensor<2x8xf32>
    %a2 = "cube.silu"(%q2) {cube.scope = "model.layers.2.self_attn"} : (tensor<2x8xf32>) -> tensor<2x8xf32>
    %d2 = "cube.linear"(%a2, %model_layers_2_mlp_down_proj_weight) {cube.scope = "model.layers.2.mlp.down_proj"} : (tensor<2x8xf32>, tensor<8x8xf32>) -> tensor<2x8xf32>
    %h2 = "cube.add"(%h1, %d2) {cube.scope = "model.layers.2"} : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
    %y = "cube.rmsnorm"(%h2, %model_norm_weight) {eps = 1.0e-06 : f64, cube.scope = "model.norm"} : (tensor<2x8xf32>, tensor<8xf32>) -> tensor<2x8xf32>
    return %y : tensor<2x8xf32>
  }
}

// -----

// An outside op between the instance's ops reads one of its values: the value becomes a second result and
// the op moves after the checkpoint.
// CHECK-LABEL: func.func @forward
// CHECK: %[[C:[0-9]+]]:2 = call @recompute_LlamaDecoderLayer(%arg0, %0, %1) {cube.checkpoint, cube.scope = "model.layers.0"} : (tensor<2x8xf32>, tensor<8xf32>, tensor<8x8xf32>) -> (tensor<2x8xf32>, tensor<2x8xf32>)
// CHECK-NEXT: %[[P:[0-9]+]] = "cube.neg"(%[[C]]#0) {cube.scope = ""}
// CHECK-NEXT: "cube.add"(%[[C]]#1, %[[P]]) {cube.scope = ""}
// CHECK-LABEL: func.func private @recompute_LlamaDecoderLayer
// CHECK-SAME: -> (tensor<2x8xf32>, tensor<2x8xf32>)
// CHECK: return %0, %3 : tensor<2x8xf32>, tensor<2x8xf32>
module attributes {cube.modules = [["", "LlamaForCausalLM"], ["model", "LlamaModel"], ["model.layers", "ModuleList"],
    ["model.layers.0", "LlamaDecoderLayer"], ["model.layers.0.input_layernorm", "LlamaRMSNorm"],
    ["model.layers.0.self_attn", "LlamaAttention"], ["model.layers.0.self_attn.q_proj", "Linear"],
    ["model.layers.0.mlp", "LlamaMLP"]]} {
  func.func @forward(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
    %wn = "cube.param"() {name = "model.layers.0.input_layernorm.weight", init = "ones", trainable = true, cube.scope = "model.layers.0.input_layernorm"} : () -> tensor<8xf32>
    %wq = "cube.param"() {name = "model.layers.0.self_attn.q_proj.weight", init = "normal(std=0.02)", trainable = true, cube.scope = "model.layers.0.self_attn.q_proj"} : () -> tensor<8x8xf32>
    %n = "cube.rmsnorm"(%x, %wn) {eps = 1.0e-06 : f64, cube.scope = "model.layers.0.input_layernorm"} : (tensor<2x8xf32>, tensor<8xf32>) -> tensor<2x8xf32>
    %probe = "cube.neg"(%n) {cube.scope = ""} : (tensor<2x8xf32>) -> tensor<2x8xf32>
    %q = "cube.linear"(%n, %wq) {cube.scope = "model.layers.0.self_attn.q_proj"} : (tensor<2x8xf32>, tensor<8x8xf32>) -> tensor<2x8xf32>
    %m = "cube.silu"(%q) {cube.scope = "model.layers.0.mlp"} : (tensor<2x8xf32>) -> tensor<2x8xf32>
    %h = "cube.add"(%x, %m) {cube.scope = "model.layers.0"} : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
    %y = "cube.add"(%h, %probe) {cube.scope = ""} : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
    return %y : tensor<2x8xf32>
  }
}
