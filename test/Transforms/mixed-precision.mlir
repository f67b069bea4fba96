// cube-mixed-precision: a trainable bf16 param becomes an f32 param cast to bf16 at its uses; a frozen one
// stays bf16 (all=true promotes it too). After cube-autodiff the trainable weight's AdamW update is in f32.
// RUN: cube-opt %s --cube-mixed-precision --cube-verify | FileCheck %s
// RUN: cube-opt %s --cube-mixed-precision='all=true' | FileCheck %s --check-prefix=ALL
// RUN: cube-opt %s --pass-pipeline='builtin.module(cube-mixed-precision,cube-autodiff{optimizer=adamw},cube-verify)' | FileCheck %s --check-prefix=AD

// CHECK: "cube.param"() {{{.*}}name = "model.embed_tokens.weight"{{.*}}trainable = false} : () -> tensor<16x8xbf16>
// CHECK: %[[W:.*]] = "cube.param"() {{{.*}}name = "lm_head.weight"{{.*}}trainable = true} : () -> tensor<16x8xf32>
// CHECK-NEXT: %[[C:.*]] = "cube.cast"(%[[W]]) {cube.scope = "lm_head"} : (tensor<16x8xf32>) -> tensor<16x8xbf16>
// CHECK: "cube.linear"(%{{.*}}, %[[C]])
// ALL-NOT: tensor<16x8xbf16>}
// ALL: name = "model.embed_tokens.weight"{{.*}} : () -> tensor<16x8xf32>
// AD: "cube.adamw_update"({{.*}}) {{.*}} : (tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x8xf32>
module attributes {cube.modules = [["", "LlamaForCausalLM"], ["model", "LlamaModel"], ["model.embed_tokens", "Embedding"], ["lm_head", "Linear"]]} {
  func.func @forward(%ids: tensor<2x4xi64>, %labels: tensor<2x4xi64>) -> tensor<f32> {
    %e = "cube.param"() {name = "model.embed_tokens.weight", init = "normal(std=0.02)", trainable = false, cube.scope = "model.embed_tokens"} : () -> tensor<16x8xbf16>
    %w = "cube.param"() {name = "lm_head.weight", init = "normal(std=0.02)", trainable = true, cube.scope = "lm_head"} : () -> tensor<16x8xbf16>
    %h = "cube.embedding"(%ids, %e) {cube.scope = "model.embed_tokens"} : (tensor<2x4xi64>, tensor<16x8xbf16>) -> tensor<2x4x8xbf16>
    %l = "cube.linear"(%h, %w) {cube.scope = "lm_head"} : (tensor<2x4x8xbf16>, tensor<16x8xbf16>) -> tensor<2x4x16xbf16>
    %r = "cube.reshape"(%l) {cube.scope = ""} : (tensor<2x4x16xbf16>) -> tensor<8x16xbf16>
    %y = "cube.reshape"(%labels) {cube.scope = ""} : (tensor<2x4xi64>) -> tensor<8xi64>
    %loss = "cube.cross_entropy"(%r, %y) {ignore_index = -100 : i64, cube.scope = ""} : (tensor<8x16xbf16>, tensor<8xi64>) -> tensor<f32>
    return %loss : tensor<f32>
  }
}
