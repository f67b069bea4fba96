// Every error of cube-recompute, with its message.
// RUN: not cube-opt %s --split-input-file --pass-pipeline='builtin.module(cube-recompute{modules=LlamaDecoderLayr})' 2>&1 | FileCheck %s --check-prefix=UNKNOWN
// RUN: not cube-opt %s --split-input-file --pass-pipeline='builtin.module(cube-recompute{modules=})' 2>&1 | FileCheck %s --check-prefix=EMPTY
// RUN: not cube-opt %s --split-input-file --pass-pipeline='builtin.module(cube-recompute{modules=LlamaDecoderLayer,Dropout})' 2>&1 | FileCheck %s --check-prefix=NOINSTANCE
// RUN: not cube-opt %s --split-input-file --pass-pipeline='builtin.module(cube-recompute{modules=LlamaRotaryEmbedding})' 2>&1 | FileCheck %s --check-prefix=NOOPS
// RUN: not cube-opt %s --split-input-file --pass-pipeline='builtin.module(cube-recompute,cube-recompute)' 2>&1 | FileCheck %s --check-prefix=TWICE
// RUN: not cube-opt %s --split-input-file --pass-pipeline='builtin.module(cube-recompute{modules=LlamaMLP},cube-recompute{modules=LlamaDecoderLayer})' 2>&1 | FileCheck %s --check-prefix=NESTED
// RUN: not cube-opt %s --split-input-file --pass-pipeline='builtin.module(cube-recompute{modules=LlamaAttention})' 2>&1 | FileCheck %s --check-prefix=CYCLE
// RUN: not cube-opt %s --split-input-file --pass-pipeline='builtin.module(cube-recompute{modules=LlamaDecoderLayer})' 2>&1 | FileCheck %s --check-prefix=REGIONS

// UNKNOWN: error: cube-recompute: unknown module type 'LlamaDecoderLayr' (types present: LlamaForCausalLM, LlamaModel, ModuleList, LlamaDecoderLayer, LlamaAttention, Linear, LlamaMLP, LlamaRotaryEmbedding)
// EMPTY: pass 'cube-recompute' option 'modules' has value '', expected a comma-separated list of non-empty names
// NOINSTANCE: error: cube-recompute: module type 'Dropout' has no instance in this model (types present: LlamaForCausalLM, LlamaModel, ModuleList, LlamaDecoderLayer, LlamaAttention, Linear, LlamaMLP, LlamaRotaryEmbedding)
// NOOPS: error: cube-recompute: no op of the forward function belongs to a LlamaRotaryEmbedding instance (nothing to outline)
// TWICE: error: cube-recompute: 'model.layers.0' is already outlined (checkpoint call of @recompute_LlamaDecoderLayer); run cube-recompute once, listing every module type
// NESTED: error: cube-recompute: 'model.layers.0' contains the already outlined 'model.layers.0.mlp' (checkpoint call of @recompute_LlamaMLP); run cube-recompute once, listing every module type
// CYCLE: error: cube-recompute: cannot outline 'model.layers.0.self_attn': the op 'cube.neg' between its ops both uses its results and feeds it
// REGIONS: error: cube-recompute: cannot outline 'model.layers.0': its op 'scf.execute_region' has regions
// Without a scope table there is nothing to outline.
// UNKNOWN: error: cube-recompute: the module has no cube.modules scope table, so it has no module instances to outline
module attributes {cube.modules = [["", "LlamaForCausalLM"], ["model", "LlamaModel"], ["model.layers", "ModuleList"],
    ["model.layers.0", "LlamaDecoderLayer"], ["model.layers.0.self_attn", "LlamaAttention"],
    ["model.layers.0.self_attn.q_proj", "Linear"], ["model.layers.0.self_attn.k_proj", "Linear"],
    ["model.layers.0.mlp", "LlamaMLP"], ["model.rotary_emb", "LlamaRotaryEmbedding"]]} {
  func.func @forward(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
    %wq = "cube.param"() {name = "model.layers.0.self_attn.q_proj.weight", init = "normal(std=0.02)", trainable = true, cube.scope = "model.layers.0.self_attn.q_proj"} : () -> tensor<8x8xf32>
    %wk = "cube.param"() {name = "model.layers.0.self_attn.k_proj.weight", init = "normal(std=0.02)", trainable = true, cube.scope = "model.layers.0.self_attn.k_proj"} : () -> tensor<8x8xf32>
    %q = "cube.linear"(%x, %wq) {cube.scope = "model.layers.0.self_attn.q_proj"} : (tensor<2x8xf32>, tensor<8x8xf32>) -> tensor<2x8xf32>
    // Outside the attention (scope of the layer), but between its ops: reads q and feeds k_proj.
    %t = "cube.neg"(%q) {cube.scope = "model.layers.0"} : (tensor<2x8xf32>) -> tensor<2x8xf32>
    %k = "cube.linear"(%t, %wk) {cube.scope = "model.layers.0.self_attn.k_proj"} : (tensor<2x8xf32>, tensor<8x8xf32>) -> tensor<2x8xf32>
    %m = "cube.silu"(%k) {cube.scope = "model.layers.0.mlp"} : (tensor<2x8xf32>) -> tensor<2x8xf32>
    %h = "cube.add"(%x, %m) {cube.scope = "model.layers.0"} : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
    return %h : tensor<2x8xf32>
  }
}

// -----

func.func @no_table(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %y = "cube.neg"(%x) : (tensor<2x8xf32>) -> tensor<2x8xf32>
  return %y : tensor<2x8xf32>
}

// -----

module attributes {cube.modules = [["", "LlamaForCausalLM"], ["model", "LlamaModel"], ["model.layers", "ModuleList"],
    ["model.layers.0", "LlamaDecoderLayer"]]} {
  func.func @forward(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
    %r = scf.execute_region -> tensor<2x8xf32> {
      %n = "cube.neg"(%x) {cube.scope = "model.layers.0"} : (tensor<2x8xf32>) -> tensor<2x8xf32>
      scf.yield %n : tensor<2x8xf32>
    } {cube.scope = "model.layers.0"}
    return %r : tensor<2x8xf32>
  }
}
