// The scope-table rules (on builtin.module) and the cube.scope rules (on every op).
// RUN: not cube-opt %s --split-input-file 2>&1 | FileCheck %s --implicit-check-not="error:"

// CHECK: :[[@LINE+1]]:1: error: 'builtin.module' op cube.modules must be an array of ["path", "ModuleType"] pairs, got "LlamaForCausalLM"
module attributes {cube.modules = "LlamaForCausalLM"} {
  func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
    // A malformed table is reported once, not again for every scope.
    %0 = "cube.neg"(%x) {cube.scope = "model"} : (tensor<4xf32>) -> tensor<4xf32>
    return %0 : tensor<4xf32>
  }
}

// -----

// CHECK: :[[@LINE+4]]:1: error: 'builtin.module' op cube.modules entry #1 must be a pair of strings ["path", "ModuleType"], got ["model"]
// CHECK: :[[@LINE+3]]:1: error: 'builtin.module' op cube.modules entry #2 must be a pair of strings ["path", "ModuleType"], got ["model.norm", 3]
// CHECK: :[[@LINE+2]]:1: error: 'builtin.module' op cube.modules entry #3 must be a pair of strings ["path", "ModuleType"], got "lm_head"
// CHECK: :[[@LINE+1]]:1: error: 'builtin.module' op cube.modules entry #4 must be a pair of strings ["path", "ModuleType"], got ["a", "Linear", "b"]
module attributes {cube.modules = [["", "LlamaForCausalLM"], ["model"], ["model.norm", 3], "lm_head", ["a", "Linear", "b"]]} {
}

// -----

// CHECK: :[[@LINE+1]]:1: error: 'builtin.module' op cube.modules lists 'model.norm' twice (entries #2 and #3)
module attributes {cube.modules = [["", "LlamaForCausalLM"], ["model", "LlamaModel"], ["model.norm", "LlamaRMSNorm"],
                                   ["model.norm", "LlamaRMSNorm"]]} {
}

// -----

// CHECK: :[[@LINE+1]]:1: error: 'builtin.module' op unknown module type 'LlamaFoo' for 'model' in cube.modules (known: LlamaForCausalLM, LlamaModel, ModuleList, ModuleDict, Embedding, LlamaDecoderLayer, LlamaAttention, LlamaMLP, LlamaRMSNorm, LlamaRotaryEmbedding, Linear, SiLU, SiLUActivation, Dropout, Identity, lora.Linear, LoraModel, PeftModelForCausalLM, ParameterDict)
module attributes {cube.modules = [["", "LlamaForCausalLM"], ["model", "LlamaFoo"]]} {
}

// -----

// CHECK: :[[@LINE+1]]:1: error: 'builtin.module' op module 'model.layers.0' has no parent 'model.layers' in cube.modules
module attributes {cube.modules = [["", "LlamaForCausalLM"], ["model", "LlamaModel"], ["model.layers.0", "LlamaDecoderLayer"]]} {
}

// -----

// The parent of a top-level path is the root "".
// CHECK: :[[@LINE+1]]:1: error: 'builtin.module' op module 'model' has no parent '' in cube.modules
module attributes {cube.modules = [["model", "LlamaModel"]]} {
}

// -----

// Every table problem is reported, in table order.
// CHECK: :[[@LINE+4]]:1: error: 'builtin.module' op unknown module type 'Foo' for 'model'
// CHECK: :[[@LINE+3]]:1: error: 'builtin.module' op cube.modules entry #2 must be a pair of strings ["path", "ModuleType"], got []
// CHECK: :[[@LINE+2]]:1: error: 'builtin.module' op cube.modules lists 'model' twice (entries #1 and #3)
// CHECK: :[[@LINE+1]]:1: error: 'builtin.module' op module 'x.y' has no parent 'x' in cube.modules
module attributes {cube.modules = [["", "LlamaForCausalLM"], ["model", "Foo"], [], ["model", "LlamaModel"], ["x.y", "Linear"]]} {
}

// -----

module attributes {cube.modules = [["", "LlamaForCausalLM"], ["model", "LlamaModel"]]} {
  func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
    // CHECK: :[[@LINE+1]]:10: error: 'cube.neg' op scope 'model.x' is not in the module's cube.modules table
    %0 = "cube.neg"(%x) {cube.scope = "model.x"} : (tensor<4xf32>) -> tensor<4xf32>
    // CHECK: :[[@LINE+1]]:10: error: 'cube.neg' op cube.scope must be a string (an HF module path), got 3 : i64
    %1 = "cube.neg"(%0) {cube.scope = 3} : (tensor<4xf32>) -> tensor<4xf32>
    return %1 : tensor<4xf32>
  }
  // Scopes on other ops are checked too.
  // CHECK: :[[@LINE+1]]:3: error: 'func.func' op scope 'lm_head' is not in the module's cube.modules table
  func.func private @g() attributes {cube.scope = "lm_head"} {
    return
  }
}

// -----

func.func @f(%x: tensor<2x8xf32>, %w: tensor<4x8xf32>) -> tensor<2x4xf32> {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.linear' op has cube.scope 'model' but the module has no cube.modules table
  %0 = "cube.linear"(%x, %w) {cube.scope = "model"} : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

// Checkpoints of a function outlined from a module type: the call carries the instance path, the ops inside
// carry scopes relative to it.
module attributes {cube.modules = [["", "LlamaForCausalLM"], ["layers", "ModuleList"],
    ["layers.0", "LlamaDecoderLayer"], ["layers.0.mlp", "LlamaMLP"], ["layers.1", "LlamaDecoderLayer"],
    ["norm", "LlamaRMSNorm"]]} {
  func.func private @recompute_LlamaDecoderLayer(%x: tensor<4xf32>) -> tensor<4xf32> attributes {cube.instance_type = "LlamaDecoderLayer"} {
    // CHECK: :[[@LINE+1]]:10: error: 'cube.silu' op relative scope 'mlp' under the checkpoint at {{.*}}invalid-scopes.mlir:[[@LINE+9]]:10 (scope 'layers.1') names 'layers.1.mlp', which is not in the module's cube.modules table
    %0 = "cube.silu"(%x) {cube.scope = "mlp"} : (tensor<4xf32>) -> tensor<4xf32>
    %1 = "cube.neg"(%0) {cube.scope = ""} : (tensor<4xf32>) -> tensor<4xf32>
    return %1 : tensor<4xf32>
  }
  func.func @forward(%x: tensor<4xf32>) -> tensor<4xf32> {
    %0 = func.call @recompute_LlamaDecoderLayer(%x) {cube.checkpoint, cube.scope = "layers.0"} : (tensor<4xf32>) -> tensor<4xf32>
    // CHECK: :[[@LINE+1]]:10: error: 'func.call' op scope 'norm' is a 'LlamaRMSNorm' but the callee was outlined from a 'LlamaDecoderLayer'
    %1 = func.call @recompute_LlamaDecoderLayer(%0) {cube.checkpoint, cube.scope = "norm"} : (tensor<4xf32>) -> tensor<4xf32>
    %2 = func.call @recompute_LlamaDecoderLayer(%1) {cube.checkpoint, cube.scope = "layers.1"} : (tensor<4xf32>) -> tensor<4xf32>
    // CHECK: :[[@LINE+1]]:10: error: 'func.call' op checkpoint of a function outlined from 'LlamaDecoderLayer' needs the instance path as cube.scope
    %3 = func.call @recompute_LlamaDecoderLayer(%2) {cube.checkpoint} : (tensor<4xf32>) -> tensor<4xf32>
    return %3 : tensor<4xf32>
  }
}
