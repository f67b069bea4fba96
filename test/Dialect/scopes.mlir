// Valid scope tables: HF's module tree as [path, type] pairs, and ops whose cube.scope names an entry.
// RUN: cube-opt %s --split-input-file | FileCheck %s

// A LoRA-wrapped Llama: peft's wrapper classes, "lora.Linear" and ModuleDicts of adapters.
// CHECK-LABEL: module attributes {cube.modules = {{\[}}["", "PeftModelForCausalLM"], ["base_model", "LoraModel"]
module attributes {cube.modules = [["", "PeftModelForCausalLM"], ["base_model", "LoraModel"],
    ["base_model.model", "LlamaForCausalLM"], ["base_model.model.model", "LlamaModel"],
    ["base_model.model.model.layers", "ModuleList"], ["base_model.model.model.layers.0", "LlamaDecoderLayer"],
    ["base_model.model.model.layers.0.self_attn", "LlamaAttention"],
    ["base_model.model.model.layers.0.self_attn.q_proj", "lora.Linear"],
    ["base_model.model.model.layers.0.self_attn.q_proj.base_layer", "Linear"],
    ["base_model.model.model.layers.0.self_attn.q_proj.lora_dropout", "ModuleDict"],
    ["base_model.model.model.layers.0.self_attn.q_proj.lora_dropout.default", "Dropout"],
    ["base_model.model.model.layers.0.self_attn.q_proj.lora_A", "ModuleDict"],
    ["base_model.model.model.layers.0.self_attn.q_proj.lora_A.default", "Linear"],
    ["base_model.model.model.layers.0.mlp", "LlamaMLP"], ["base_model.model.model.layers.0.mlp.act_fn", "SiLU"],
    ["base_model.model.model.layers.0.mlp.identity", "Identity"],
    ["base_model.model.model.embed_tokens", "Embedding"], ["base_model.model.model.norm", "LlamaRMSNorm"],
    ["base_model.model.model.rotary_emb", "LlamaRotaryEmbedding"], ["base_model.model.lm_head", "Linear"]]} {
  // CHECK: func.func @f
  func.func @f(%x: tensor<2x8xf32>, %w: tensor<4x8xf32>) -> tensor<2x4xf32> {
    // CHECK: "cube.linear"(%{{.*}}, %{{.*}}) {cube.scope = "base_model.model.model.layers.0.self_attn.q_proj.base_layer"}
    %0 = "cube.linear"(%x, %w) {cube.scope = "base_model.model.model.layers.0.self_attn.q_proj.base_layer"} : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x4xf32>
    // The root module's path is "".
    // CHECK: "cube.silu"(%{{.*}}) {cube.scope = ""}
    %1 = "cube.silu"(%0) {cube.scope = ""} : (tensor<2x4xf32>) -> tensor<2x4xf32>
    return %1 : tensor<2x4xf32>
  }
}

// -----

// An empty table is a table; ops without cube.scope need none.
// CHECK-LABEL: module attributes {cube.modules = []}
module attributes {cube.modules = []} {
  func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
    // CHECK: "cube.neg"(%{{.*}}) : (tensor<4xf32>) -> tensor<4xf32>
    %0 = "cube.neg"(%x) : (tensor<4xf32>) -> tensor<4xf32>
    return %0 : tensor<4xf32>
  }
}

// -----

// Non-cube ops may carry a scope as well; it must name an entry too.
// CHECK-LABEL: module attributes {cube.modules = {{\[}}["", "LlamaForCausalLM"], ["model", "LlamaModel"]]}
module attributes {cube.modules = [["", "LlamaForCausalLM"], ["model", "LlamaModel"]]} {
  // CHECK: func.func @f() attributes {cube.scope = "model"}
  func.func @f() attributes {cube.scope = "model"} {
    return
  }
}
