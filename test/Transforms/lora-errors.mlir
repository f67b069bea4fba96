// Every error of cube-lora, with its message.
// RUN: not cube-opt %s --split-input-file --pass-pipeline='builtin.module(cube-lora{targets=wq,wk})' 2>&1 | FileCheck %s --check-prefix=NOMATCH
// RUN: not cube-opt %s --split-input-file --pass-pipeline='builtin.module(cube-lora{targets=q_proj,mlp})' 2>&1 | FileCheck %s --check-prefix=NOTLINEAR
// RUN: not cube-opt %s --split-input-file --pass-pipeline='builtin.module(cube-lora{rank=0})' 2>&1 | FileCheck %s --check-prefix=RANK0
// RUN: not cube-opt %s --split-input-file --pass-pipeline='builtin.module(cube-lora{rank=-4})' 2>&1 | FileCheck %s --check-prefix=RANKNEG
// RUN: not cube-opt %s --split-input-file --pass-pipeline='builtin.module(cube-lora{alpha=0})' 2>&1 | FileCheck %s --check-prefix=ALPHA0
// RUN: not cube-opt %s --split-input-file --pass-pipeline='builtin.module(cube-lora{alpha=-16})' 2>&1 | FileCheck %s --check-prefix=ALPHANEG
// RUN: not cube-opt %s --split-input-file --pass-pipeline='builtin.module(cube-lora{dropout=1})' 2>&1 | FileCheck %s --check-prefix=DROP1
// RUN: not cube-opt %s --split-input-file --pass-pipeline='builtin.module(cube-lora{dropout=-0.1})' 2>&1 | FileCheck %s --check-prefix=DROPNEG
// RUN: not cube-opt %s --split-input-file --pass-pipeline='builtin.module(cube-lora{bias=some})' 2>&1 | FileCheck %s --check-prefix=BIAS
// RUN: not cube-opt %s --split-input-file --pass-pipeline='builtin.module(cube-lora{targets=q_proj},cube-lora{targets=q_proj})' 2>&1 | FileCheck %s --check-prefix=TWICE
// RUN: not cube-opt %s --split-input-file --pass-pipeline='builtin.module(cube-lora{targets=q_proj},cube-lora{targets=base_layer})' 2>&1 | FileCheck %s --check-prefix=INSIDE
// RUN: not cube-opt %s --split-input-file --pass-pipeline='builtin.module(cube-lora{targets=})' 2>&1 | FileCheck %s --check-prefix=EMPTY
// RUN: not cube-opt %s --split-input-file --pass-pipeline='builtin.module(cube-lora{targets=o_proj})' 2>&1 | FileCheck %s --check-prefix=NOOP
// RUN: not cube-opt %s --split-input-file --pass-pipeline='builtin.module(cube-lora)' 2>&1 | FileCheck %s --check-prefix=NOTABLE
// RUN: not cube-opt %s --split-input-file --pass-pipeline='builtin.module(cube-lora{targets=proj})' 2>&1 | FileCheck %s --check-prefix=NESTED

// NOMATCH: error: cube-lora: no Linear module matches the targets 'wq,wk' (known Linear modules: q_proj, v_proj, o_proj, lm_head)
// NOTLINEAR: error: cube-lora: target 'mlp' matches 'model.layers.0.mlp', a LlamaMLP; LoRA wraps Linear modules only
// RANK0: error: invalid pass pipeline 'builtin.module(cube-lora{rank=0})': pass 'cube-lora' option 'rank' has value '0', expected an integer in [1, 65536]
// RANKNEG: pass 'cube-lora' option 'rank' has value '-4', expected an integer in [1, 65536]
// ALPHA0: error: cube-lora: alpha must be > 0, got 0
// ALPHANEG: error: cube-lora: alpha must be > 0, got -16
// DROP1: error: cube-lora: dropout must be in [0, 1), got 1
// DROPNEG: error: cube-lora: dropout must be in [0, 1), got -0.1
// BIAS: error: cube-lora: unknown bias mode 'some' (expected none, all or lora_only)
// TWICE: error: cube-lora: 'model.layers.0.self_attn.q_proj' is already a lora.Linear (LoRA applied twice to the same module)
// INSIDE: error: cube-lora: target 'base_layer' matches 'model.layers.0.self_attn.q_proj.base_layer', which is inside the lora.Linear 'model.layers.0.self_attn.q_proj' (LoRA applied twice to the same module)
// EMPTY: pass 'cube-lora' option 'targets' has value '', expected a comma-separated list of non-empty names
// NOOP: error: cube-lora: 'model.layers.0.self_attn.o_proj' is a Linear of the scope table but no cube.linear carries its scope
// NOTABLE: error: cube-lora: the module has no cube.modules scope table, so no Linear module can be targeted
// NESTED: error: cube-lora: @recompute_LlamaDecoderLayer contains a checkpoint (calling @recompute_LlamaMLP); nested checkpoints are not supported
module attributes {cube.modules = [["", "LlamaForCausalLM"], ["model", "LlamaModel"], ["model.layers", "ModuleList"],
    ["model.layers.0", "LlamaDecoderLayer"], ["model.layers.0.self_attn", "LlamaAttention"],
    ["model.layers.0.self_attn.q_proj", "Linear"], ["model.layers.0.self_attn.v_proj", "Linear"],
    ["model.layers.0.self_attn.o_proj", "Linear"], ["model.layers.0.mlp", "LlamaMLP"],
    ["model.layers.1", "LlamaDecoderLayer"], ["model.layers.1.self_attn", "LlamaAttention"],
    ["model.layers.1.self_attn.q_proj", "Linear"], ["model.layers.1.self_attn.v_proj", "Linear"], ["lm_head", "Linear"]]} {
  func.func @forward(%x: tensor<3x8xf32>) -> tensor<3x16xf32> {
    %wq0 = "cube.param"() {name = "model.layers.0.self_attn.q_proj.weight", init = "normal(std=0.02)", trainable = true, cube.scope = "model.layers.0.self_attn.q_proj"} : () -> tensor<8x8xf32>
    %wv0 = "cube.param"() {name = "model.layers.0.self_attn.v_proj.weight", init = "normal(std=0.02)", trainable = true, cube.scope = "model.layers.0.self_attn.v_proj"} : () -> tensor<8x8xf32>
    %wq1 = "cube.param"() {name = "model.layers.1.self_attn.q_proj.weight", init = "normal(std=0.02)", trainable = true, cube.scope = "model.layers.1.self_attn.q_proj"} : () -> tensor<8x8xf32>
    %wv1 = "cube.param"() {name = "model.layers.1.self_attn.v_proj.weight", init = "normal(std=0.02)", trainable = true, cube.scope = "model.layers.1.self_attn.v_proj"} : () -> tensor<8x8xf32>
    %wh = "cube.param"() {name = "lm_head.weight", init = "normal(std=0.02)", trainable = true, cube.scope = "lm_head"} : () -> tensor<16x8xf32>
    %q0 = "cube.linear"(%x, %wq0) {cube.scope = "model.layers.0.self_attn.q_proj"} : (tensor<3x8xf32>, tensor<8x8xf32>) -> tensor<3x8xf32>
    %v0 = "cube.linear"(%q0, %wv0) {cube.scope = "model.layers.0.self_attn.v_proj"} : (tensor<3x8xf32>, tensor<8x8xf32>) -> tensor<3x8xf32>
    %q1 = "cube.linear"(%v0, %wq1) {cube.scope = "model.layers.1.self_attn.q_proj"} : (tensor<3x8xf32>, tensor<8x8xf32>) -> tensor<3x8xf32>
    %v1 = "cube.linear"(%q1, %wv1) {cube.scope = "model.layers.1.self_attn.v_proj"} : (tensor<3x8xf32>, tensor<8x8xf32>) -> tensor<3x8xf32>
    %y = "cube.linear"(%v1, %wh) {cube.scope = "lm_head"} : (tensor<3x8xf32>, tensor<16x8xf32>) -> tensor<3x16xf32>
    return %y : tensor<3x16xf32>
  }
}

// -----

func.func @no_table(%x: tensor<3x8xf32>, %w: tensor<8x8xf32>) -> tensor<3x8xf32> {
  %y = "cube.linear"(%x, %w) : (tensor<3x8xf32>, tensor<8x8xf32>) -> tensor<3x8xf32>
  return %y : tensor<3x8xf32>
}

// -----

// A checkpoint inside an outlined function (cube-recompute never writes one).
module attributes {cube.modules = [["", "LlamaForCausalLM"], ["layers", "ModuleList"], ["layers.0", "LlamaDecoderLayer"],
    ["layers.0.mlp", "LlamaMLP"], ["layers.0.mlp.proj", "Linear"]]} {
  func.func @forward(%x: tensor<8x8xf32>) -> tensor<8x8xf32> {
    %w = "cube.param"() {name = "layers.0.mlp.proj.weight", init = "normal(std=0.02)", trainable = true, cube.scope = "layers.0.mlp.proj"} : () -> tensor<8x8xf32>
    %y = call @recompute_LlamaDecoderLayer(%x, %w) {cube.checkpoint, cube.scope = "layers.0"} : (tensor<8x8xf32>, tensor<8x8xf32>) -> tensor<8x8xf32>
    return %y : tensor<8x8xf32>
  }
  func.func private @recompute_LlamaDecoderLayer(%a: tensor<8x8xf32>, %w: tensor<8x8xf32>) -> tensor<8x8xf32> attributes {cube.instance_type = "LlamaDecoderLayer"} {
    %r = call @recompute_LlamaMLP(%a, %w) {cube.checkpoint, cube.scope = "mlp"} : (tensor<8x8xf32>, tensor<8x8xf32>) -> tensor<8x8xf32>
    return %r : tensor<8x8xf32>
  }
  func.func private @recompute_LlamaMLP(%a: tensor<8x8xf32>, %w: tensor<8x8xf32>) -> tensor<8x8xf32> attributes {cube.instance_type = "LlamaMLP"} {
    %r = "cube.linear"(%a, %w) {cube.scope = "proj"} : (tensor<8x8xf32>, tensor<8x8xf32>) -> tensor<8x8xf32>
    return %r : tensor<8x8xf32>
  }
}
