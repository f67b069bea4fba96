// cube-lora on a hand-written two-layer model: new params (shapes, init, flags), the rewritten linear, the
// scaling constant (alpha/rank, rslora), dropout, bias modes, target matching and the scope table.
// RUN: cube-opt %s --pass-pipeline='builtin.module(cube-lora{rank=4 alpha=8 targets=q_proj},cube-verify)' | FileCheck %s
// RUN: cube-opt %s --pass-pipeline='builtin.module(cube-lora{rank=4 alpha=8 targets=q_proj use-rslora=true},cube-verify)' | FileCheck %s --check-prefix=RSLORA
// RUN: cube-opt %s --pass-pipeline='builtin.module(cube-lora{rank=4 alpha=8 targets=q_proj dropout=0.25},cube-verify)' | FileCheck %s --check-prefix=DROP
// RUN: cube-opt %s --pass-pipeline='builtin.module(cube-lora{rank=4 alpha=8 targets=q_proj dropout=0.25},cube-verify)' --cube-print-module-tree | FileCheck %s --check-prefix=DROPTREE
// RUN: cube-opt %s --pass-pipeline='builtin.module(cube-lora{rank=4 targets=q_proj bias=all},cube-verify)' | FileCheck %s --check-prefix=BIASALL
// RUN: cube-opt %s --pass-pipeline='builtin.module(cube-lora{rank=4 targets=q_proj bias=lora_only},cube-verify)' | FileCheck %s --check-prefix=LORAONLY
// RUN: cube-opt %s --pass-pipeline='builtin.module(cube-lora{rank=2 targets=model.layers.1.self_attn.q_proj,mlp.down_proj},cube-verify)' | FileCheck %s --check-prefix=PATHS
// RUN: cube-opt %s --pass-pipeline='builtin.module(cube-lora{rank=4 alpha=8 targets=q_proj},cube-verify)' --cube-summary | FileCheck %s --check-prefix=SUMMARY
// RUN: cube-opt %s --pass-pipeline='builtin.module(cube-lora{rank=4 alpha=8 targets=q_proj},cube-verify)' --cube-print-module-tree | FileCheck %s --check-prefix=TREE

// The scope table: q_proj becomes a lora.Linear followed by peft's children, in peft's order.
// CHECK: module attributes {cube.modules = [
// CHECK-SAME: ["model.layers.0.self_attn.q_proj", "lora.Linear"], ["model.layers.0.self_attn.q_proj.base_layer", "Linear"], ["model.layers.0.self_attn.q_proj.lora_dropout", "ModuleDict"], ["model.layers.0.self_attn.q_proj.lora_dropout.default", "Identity"], ["model.layers.0.self_attn.q_proj.lora_A", "ModuleDict"], ["model.layers.0.self_attn.q_proj.lora_A.default", "Linear"], ["model.layers.0.self_attn.q_proj.lora_B", "ModuleDict"], ["model.layers.0.self_attn.q_proj.lora_B.default", "Linear"], ["model.layers.0.self_attn.q_proj.lora_embedding_A", "ParameterDict"], ["model.layers.0.self_attn.q_proj.lora_embedding_B", "ParameterDict"], ["model.layers.0.self_attn.q_proj.lora_magnitude_vector", "ModuleDict"], ["model.layers.0.self_attn.v_proj", "Linear"]
// CHECK-SAME: ["model.layers.1.self_attn.q_proj", "lora.Linear"], ["model.layers.1.self_attn.q_proj.base_layer", "Linear"]
// Every param that is not a LoRA param is frozen; the LoRA params follow the others.
// CHECK-LABEL: func.func @forward
// CHECK: %[[WQ0:[0-9]+]] = "cube.param"() {{.*}} name = "model.layers.0.self_attn.q_proj.weight", trainable = false} : () -> tensor<8x8xf32>
// CHECK: %[[BQ0:[0-9]+]] = "cube.param"() {{.*}} name = "model.layers.0.self_attn.q_proj.bias", trainable = false}
// CHECK: name = "model.layers.0.mlp.down_proj.bias", trainable = false
// CHECK: name = "lm_head.weight", trainable = false
// CHECK-NEXT: %[[A0:[0-9]+]] = "cube.param"() {cube.scope = "model.layers.0.self_attn.q_proj.lora_A.default", init = "kaiming_uniform(a=2.23606797749979)", name = "model.layers.0.self_attn.q_proj.lora_A.weight", trainable = true} : () -> tensor<4x8xf32>
// CHECK-NEXT: %[[B0:[0-9]+]] = "cube.param"() {cube.scope = "model.layers.0.self_attn.q_proj.lora_B.default", init = "zeros", name = "model.layers.0.self_attn.q_proj.lora_B.weight", trainable = true} : () -> tensor<8x4xf32>
// CHECK-NEXT: "cube.param"() {cube.scope = "model.layers.1.self_attn.q_proj.lora_A.default", init = "kaiming_uniform(a=2.23606797749979)", name = "model.layers.1.self_attn.q_proj.lora_A.weight", trainable = true} : () -> tensor<4x8xf32>
// CHECK-NEXT: "cube.param"() {cube.scope = "model.layers.1.self_attn.q_proj.lora_B.default", init = "zeros", name = "model.layers.1.self_attn.q_proj.lora_B.weight", trainable = true} : () -> tensor<8x4xf32>
// y = base(x) + (alpha / rank) * B(A(x)); the users of the old result read the sum.
// CHECK-NEXT: %[[BASE:[0-9]+]] = "cube.linear"(%arg0, %[[WQ0]], %[[BQ0]]) {cube.scope = "model.layers.0.self_attn.q_proj.base_layer"} : (tensor<2x4x8xf32>, tensor<8x8xf32>, tensor<8xf32>) -> tensor<2x4x8xf32>
// CHECK-NEXT: %[[LA:[0-9]+]] = "cube.linear"(%arg0, %[[A0]]) {cube.scope = "model.layers.0.self_attn.q_proj.lora_A.default"} : (tensor<2x4x8xf32>, tensor<4x8xf32>) -> tensor<2x4x4xf32>
// CHECK-NEXT: %[[LB:[0-9]+]] = "cube.linear"(%[[LA]], %[[B0]]) {cube.scope = "model.layers.0.self_attn.q_proj.lora_B.default"} : (tensor<2x4x4xf32>, tensor<8x4xf32>) -> tensor<2x4x8xf32>
// CHECK-NEXT: %[[SC:[0-9]+]] = "cube.scale"(%[[LB]]) {cube.scope = "model.layers.0.self_attn.q_proj", factor = 2.000000e+00 : f64}
// CHECK-NEXT: %[[Q:[0-9]+]] = "cube.add"(%[[BASE]], %[[SC]]) {cube.scope = "model.layers.0.self_attn.q_proj"}
// CHECK-NEXT: %[[V:[0-9]+]] = "cube.linear"(%arg0, %{{[0-9]+}}) {cube.scope = "model.layers.0.self_attn.v_proj"}
// CHECK-NEXT: "cube.mul"(%[[Q]], %[[V]])
// CHECK-NOT: cube.dropout

// alpha / sqrt(rank) = 8 / 2
// RSLORA-COUNT-2: "cube.scale"({{.*}}factor = 4.000000e+00 : f64}

// DROP: ["model.layers.0.self_attn.q_proj.lora_dropout.default", "Dropout"]
// DROP: %[[D:[0-9]+]] = "cube.dropout"(%arg0) {cube.scope = "model.layers.0.self_attn.q_proj.lora_dropout.default", p = 2.500000e-01 : f64, seed = [[SEED:[0-9]+]] : i64}
// DROP-NEXT: "cube.linear"(%[[D]], %{{[0-9]+}}) {cube.scope = "model.layers.0.self_attn.q_proj.lora_A.default"}
// The seed leaves out the layer index: equal layers stay equal (and can share an outlined function).
// DROP: "cube.dropout"({{.*}}cube.scope = "model.layers.1.self_attn.q_proj.lora_dropout.default", p = 2.500000e-01 : f64, seed = [[SEED]] : i64}

// DROPTREE:      (lora_dropout): ModuleDict(
// DROPTREE-NEXT:   (default): Dropout(p=0.25, inplace=False)
// DROPTREE-NEXT: )

// bias=all: every *.bias trains; bias=lora_only: only the biases of the targeted linears.
// BIASALL: name = "model.layers.0.self_attn.q_proj.bias", trainable = true
// BIASALL: name = "model.layers.0.mlp.down_proj.weight", trainable = false
// BIASALL: name = "model.layers.0.mlp.down_proj.bias", trainable = true
// LORAONLY: name = "model.layers.0.self_attn.q_proj.weight", trainable = false
// LORAONLY: name = "model.layers.0.self_attn.q_proj.bias", trainable = true
// LORAONLY: name = "model.layers.0.mlp.down_proj.bias", trainable = false

// A target matches a whole path or a path suffix that starts after a dot.
// PATHS: ["model.layers.0.self_attn.q_proj", "Linear"]
// PATHS: ["model.layers.0.mlp.down_proj", "lora.Linear"]
// PATHS: ["model.layers.1.self_attn.q_proj", "lora.Linear"]
// PATHS: ["model.layers.1.mlp.down_proj", "lora.Linear"]
// PATHS-NOT: model.layers.0.self_attn.q_proj.lora_A.weight
// PATHS: name = "model.layers.0.mlp.down_proj.lora_A.weight", trainable = true} : () -> tensor<2x8xf32>
// PATHS: name = "model.layers.1.self_attn.q_proj.lora_A.weight", trainable = true} : () -> tensor<2x8xf32>
// PATHS: name = "model.layers.1.mlp.down_proj.lora_B.weight", trainable = true} : () -> tensor<8x2xf32>

// Two adapters of 4x8 + 8x4 elements train, nothing else.
// SUMMARY: "ModuleDict": 8,
// SUMMARY: "ParameterDict": 4,
// SUMMARY: "lora.Linear": 2
// SUMMARY: "cube.add": 4,
// SUMMARY: "cube.linear": 11,
// SUMMARY: "cube.param": 15,
// SUMMARY: "cube.scale": 2,
// SUMMARY: "params": 15,
// SUMMARY: "trainable_elements": 128

// TREE:      (self_attn): LlamaAttention(
// TREE-NEXT:   (q_proj): lora.Linear(
// TREE-NEXT:     (base_layer): Linear(in_features=8, out_features=8, bias=True)
// TREE-NEXT:     (lora_dropout): ModuleDict(
// TREE-NEXT:       (default): Identity()
// TREE-NEXT:     )
// TREE-NEXT:     (lora_A): ModuleDict(
// TREE-NEXT:       (default): Linear(in_features=8, out_features=4, bias=False)
// TREE-NEXT:     )
// TREE-NEXT:     (lora_B): ModuleDict(
// TREE-NEXT:       (default): Linear(in_features=4, out_features=8, bias=False)
// TREE-NEXT:     )
// TREE-NEXT:     (lora_embedding_A): ParameterDict()
// TREE-NEXT:     (lora_embedding_B): ParameterDict()
// TREE-NEXT:     (lora_magnitude_vector): ModuleDict()
// TREE-NEXT:   )
// TREE-NEXT:   (v_proj): Linear(in_features=8, out_features=8, bias=False)
// TREE-NEXT: )
module attributes {cube.modules = [["", "LlamaForCausalLM"], ["model", "LlamaModel"], ["model.layers", "ModuleList"],
    ["model.layers.0", "LlamaDecoderLayer"], ["model.layers.0.self_attn", "LlamaAttention"],
    ["model.layers.0.self_attn.q_proj", "Linear"], ["model.layers.0.self_attn.v_proj", "Linear"],
    ["model.layers.0.mlp", "LlamaMLP"], ["model.layers.0.mlp.down_proj", "Linear"],
    ["model.layers.1", "LlamaDecoderLayer"], ["model.layers.1.self_attn", "LlamaAttention"],
    ["model.layers.1.self_attn.q_proj", "Linear"], ["model.layers.1.self_attn.v_proj", "Linear"],
    ["model.layers.1.mlp", "LlamaMLP"], ["model.layers.1.mlp.down_proj", "Linear"], ["lm_head", "Linear"]]} {
  func.func @forward(%x: tensor<2x4x8xf32>) -> tensor<2x4x16xf32> {
    %wq0 = "cube.param"() {name = "model.layers.0.self_attn.q_proj.weight", init = "normal(std=0.02)", trainable = true, cube.scope = "model.layers.0.self_attn.q_proj"} : () -> tensor<8x8xf32>
    %bq0 = "cube.param"() {name = "model.layers.0.self_attn.q_proj.bias", init = "zeros", trainable = true, cube.scope = "model.layers.0.self_attn.q_proj"} : () -> tensor<8xf32>
    %wv0 = "cube.param"() {name = "model.layers.0.self_attn.v_proj.weight", init = "normal(std=0.02)", trainable = true, cube.scope = "model.layers.0.self_attn.v_proj"} : () -> tensor<8x8xf32>
    %wd0 = "cube.param"() {name = "model.layers.0.mlp.down_proj.weight", init = "normal(std=0.02)", trainable = true, cube.scope = "model.layers.0.mlp.down_proj"} : () -> tensor<8x8xf32>
    %bd0 = "cube.param"() {name = "model.layers.0.mlp.down_proj.bias", init = "zeros", trainable = true, cube.scope = "model.layers.0.mlp.down_proj"} : () -> tensor<8xf32>
    %wq1 = "cube.param"() {name = "model.layers.1.self_attn.q_proj.weight", init = "normal(std=0.02)", trainable = true, cube.scope = "model.layers.1.self_attn.q_proj"} : () -> tensor<8x8xf32>
    %bq1 = "cube.param"() {name = "model.layers.1.self_attn.q_proj.bias", init = "zeros", trainable = true, cube.scope = "model.layers.1.self_attn.q_proj"} : () -> tensor<8xf32>
    %wv1 = "cube.param"() {name = "model.layers.1.self_attn.v_proj.weight", init = "normal(std=0.02)", trainable = true, cube.scope = "model.layers.1.self_attn.v_proj"} : () -> tensor<8x8xf32>
    %wd1 = "cube.param"() {name = "model.layers.1.mlp.down_proj.weight", init = "normal(std=0.02)", trainable = true, cube.scope = "model.layers.1.mlp.down_proj"} : () -> tensor<8x8xf32>
    %bd1 = "cube.param"() {name = "model.layers.1.mlp.down_proj.bias", init = "zeros", trainable = true, cube.scope = "model.layers.1.mlp.down_proj"} : () -> tensor<8xf32>
    %wh = "cube.param"() {name = "lm_head.weight", init = "normal(std=0.02)", trainable = true, cube.scope = "lm_head"} : () -> tensor<16x8xf32>
    %q0 = "cube.linear"(%x, %wq0, %bq0) {cube.scope = "model.layers.0.self_attn.q_proj"} : (tensor<2x4x8xf32>, tensor<8x8xf32>, tensor<8xf32>) -> tensor<2x4x8xf32>
    %v0 = "cube.linear"(%x, %wv0) {cube.scope = "model.layers.0.self_attn.v_proj"} : (tensor<2x4x8xf32>, tensor<8x8xf32>) -> tensor<2x4x8xf32>
    %a0 = "cube.mul"(%q0, %v0) {cube.scope = "model.layers.0.self_attn"} : (tensor<2x4x8xf32>, tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
    %d0 = "cube.linear"(%a0, %wd0, %bd0) {cube.scope = "model.layers.0.mlp.down_proj"} : (tensor<2x4x8xf32>, tensor<8x8xf32>, tensor<8xf32>) -> tensor<2x4x8xf32>
    %h0 = "cube.add"(%x, %d0) {cube.scope = "model.layers.0"} : (tensor<2x4x8xf32>, tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
    %q1 = "cube.linear"(%h0, %wq1, %bq1) {cube.scope = "model.layers.1.self_attn.q_proj"} : (tensor<2x4x8xf32>, tensor<8x8xf32>, tensor<8xf32>) -> tensor<2x4x8xf32>
    %v1 = "cube.linear"(%h0, %wv1) {cube.scope = "model.layers.1.self_attn.v_proj"} : (tensor<2x4x8xf32>, tensor<8x8xf32>) -> tensor<2x4x8xf32>
    %a1 = "cube.mul"(%q1, %v1) {cube.scope = "model.layers.1.self_attn"} : (tensor<2x4x8xf32>, tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
    %d1 = "cube.linear"(%a1, %wd1, %bd1) {cube.scope = "model.layers.1.mlp.down_proj"} : (tensor<2x4x8xf32>, tensor<8x8xf32>, tensor<8xf32>) -> tensor<2x4x8xf32>
    %h1 = "cube.add"(%h0, %d1) {cube.scope = "model.layers.1"} : (tensor<2x4x8xf32>, tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
    %y = "cube.linear"(%h1, %wh) {cube.scope = "lm_head"} : (tensor<2x4x8xf32>, tensor<16x8xf32>) -> tensor<2x4x16xf32>
    return %y : tensor<2x4x16xf32>
  }
}
