// cube-freeze: glob patterns over HF parameter names set `trainable`.
// RUN: cube-opt %s --cube-freeze='patterns=model.embed_tokens.*,lm_head.weight' | FileCheck %s
// RUN: cube-opt %s --pass-pipeline='builtin.module(cube-freeze{patterns=* trainable=false},cube-freeze{patterns=lm_head.* trainable=true},cube-verify)' | FileCheck %s --check-prefix=ONLYHEAD
// RUN: cube-opt %s --cube-freeze='patterns=model.*' --cube-summary | FileCheck %s --check-prefix=SUMMARY
// RUN: not cube-opt %s --cube-freeze='patterns=model.nothing.*,lm_head.weight' 2>&1 | FileCheck %s --check-prefix=NOMATCH
// RUN: not cube-opt %s --cube-freeze 2>&1 | FileCheck %s --check-prefix=NOPATTERNS

// CHECK: name = "model.embed_tokens.weight", trainable = false
// CHECK: name = "model.norm.weight", trainable = true
// CHECK: name = "lm_head.weight", trainable = false

// ONLYHEAD: name = "model.embed_tokens.weight", trainable = false
// ONLYHEAD: name = "model.norm.weight", trainable = false
// ONLYHEAD: name = "lm_head.weight", trainable = true

// 256*16 + 16 elements frozen, 256*16 of lm_head still trainable.
// SUMMARY: "param_elements": 8208
// SUMMARY: "trainable_elements": 4096

// NOMATCH: error: cube-freeze: pattern 'model.nothing.*' matches no parameter name
// NOMATCH-NOT: lm_head
// NOPATTERNS: error: cube-freeze needs patterns=NAME[,NAME...] (glob patterns of parameter names)
module attributes {cube.modules = [["", "LlamaForCausalLM"], ["model", "LlamaModel"],
                                   ["model.embed_tokens", "Embedding"], ["model.norm", "LlamaRMSNorm"],
                                   ["lm_head", "Linear"]]} {
  func.func @forward(%ids: tensor<2x4xi64>) -> tensor<2x4x256xf32> {
    %e = "cube.param"() {name = "model.embed_tokens.weight", init = "normal(std=0.02)", trainable = true, cube.scope = "model.embed_tokens"} : () -> tensor<256x16xf32>
    %n = "cube.param"() {name = "model.norm.weight", init = "ones", trainable = true, cube.scope = "model.norm"} : () -> tensor<16xf32>
    %h = "cube.param"() {name = "lm_head.weight", init = "normal(std=0.02)", trainable = true, cube.scope = "lm_head"} : () -> tensor<256x16xf32>
    %x = "cube.embedding"(%ids, %e) {cube.scope = "model.embed_tokens"} : (tensor<2x4xi64>, tensor<256x16xf32>) -> tensor<2x4x16xf32>
    %y = "cube.rmsnorm"(%x, %n) {eps = 1.0e-06 : f64, cube.scope = "model.norm"} : (tensor<2x4x16xf32>, tensor<16xf32>) -> tensor<2x4x16xf32>
    %l = "cube.linear"(%y, %h) {cube.scope = "lm_head"} : (tensor<2x4x16xf32>, tensor<256x16xf32>) -> tensor<2x4x256xf32>
    return %l : tensor<2x4x256xf32>
  }
}
