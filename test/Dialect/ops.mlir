// Round trip of every cube op in valid IR: parse, verify, print, parse the printed form again, verify.
// RUN: cube-opt %s | cube-opt | FileCheck %s

// CHECK-LABEL: module attributes
// CHECK-SAME: cube.modules = {{\[}}["", "LlamaForCausalLM"], ["model", "LlamaModel"]
module attributes {cube.modules = [["", "LlamaForCausalLM"], ["model", "LlamaModel"],
    ["model.embed_tokens", "Embedding"], ["model.layers", "ModuleList"], ["model.layers.0", "LlamaDecoderLayer"],
    ["model.layers.0.self_attn", "LlamaAttention"], ["model.layers.0.self_attn.q_proj", "Linear"],
    ["model.layers.0.self_attn.q_proj.lora_A", "ModuleDict"], ["model.layers.0.mlp", "LlamaMLP"],
    ["model.layers.0.mlp.act_fn", "SiLUActivation"], ["model.norm", "LlamaRMSNorm"],
    ["model.rotary_emb", "LlamaRotaryEmbedding"], ["lm_head", "Linear"]]} {

  // CHECK-LABEL: func.func @params
  func.func @params() -> (tensor<64x32xf32>, tensor<32xbf16>, tensor<8x32xf16>) {
    // CHECK: "cube.param"() {cube.scope = "model.embed_tokens", init = "normal(std=0.02)", name = "model.embed_tokens.weight", trainable = true} : () -> tensor<64x32xf32>
    %e = "cube.param"() {name = "model.embed_tokens.weight", init = "normal(std=0.02)", trainable = true,
                         cube.scope = "model.embed_tokens"} : () -> tensor<64x32xf32>
    // CHECK: "cube.param"() {init = "ones", name = "model.norm.weight", trainable = false} : () -> tensor<32xbf16>
    %n = "cube.param"() {name = "model.norm.weight", init = "ones", trainable = false} : () -> tensor<32xbf16>
    // CHECK: "cube.param"() {init = "kaiming_uniform(a=2.23606797749979)", name = "model.layers.0.self_attn.q_proj.lora_A.default.weight", trainable = true} : () -> tensor<8x32xf16>
    %a = "cube.param"() {name = "model.layers.0.self_attn.q_proj.lora_A.default.weight",
                         init = "kaiming_uniform(a=2.23606797749979)", trainable = true} : () -> tensor<8x32xf16>
    // CHECK: "cube.param"() {init = "zeros", name = "z", trainable = false} : () -> tensor<4xf32>
    %z = "cube.param"() {name = "z", init = "zeros", trainable = false} : () -> tensor<4xf32>
    // CHECK: "cube.param"() {init = "constant(value=-1.5)", name = "c", trainable = false} : () -> tensor<4xf32>
    %c = "cube.param"() {name = "c", init = "constant(value=-1.5)", trainable = false} : () -> tensor<4xf32>
    // CHECK: "cube.param"() {init = "normal(mean=0.5,std=2)", name = "m", trainable = false} : () -> tensor<4xf32>
    %m = "cube.param"() {name = "m", init = "normal(mean=0.5,std=2)", trainable = false} : () -> tensor<4xf32>
    // CHECK: "cube.param"() {init = "uniform(low=-1,high=1)", name = "u", trainable = false} : () -> tensor<4xf32>
    %u = "cube.param"() {name = "u", init = "uniform(low=-1,high=1)", trainable = false} : () -> tensor<4xf32>
    return %e, %n, %a : tensor<64x32xf32>, tensor<32xbf16>, tensor<8x32xf16>
  }

  // CHECK-LABEL: func.func @gemms
  func.func @gemms(%ids: tensor<2x8xi64>, %ids32: tensor<8xi32>, %emb: tensor<64x32xf32>, %x: tensor<2x8x32xf32>,
                   %w: tensor<16x32xf32>, %b: tensor<16xf32>, %lhs: tensor<2x4x8x16xf32>, %rhs: tensor<2x4x16x8xf32>,
                   %lhsT: tensor<2x16x8xbf16>, %rhsT: tensor<2x8x16xbf16>) {
    // CHECK: "cube.embedding"(%{{.*}}, %{{.*}}) {cube.scope = "model.embed_tokens"} : (tensor<2x8xi64>, tensor<64x32xf32>) -> tensor<2x8x32xf32>
    %0 = "cube.embedding"(%ids, %emb) {cube.scope = "model.embed_tokens"} : (tensor<2x8xi64>, tensor<64x32xf32>) -> tensor<2x8x32xf32>
    // CHECK: "cube.embedding"(%{{.*}}, %{{.*}}) : (tensor<8xi32>, tensor<64x32xf32>) -> tensor<8x32xf32>
    %1 = "cube.embedding"(%ids32, %emb) : (tensor<8xi32>, tensor<64x32xf32>) -> tensor<8x32xf32>
    // CHECK: "cube.linear"(%{{.*}}, %{{.*}}) {cube.scope = "model.layers.0.self_attn.q_proj"} : (tensor<2x8x32xf32>, tensor<16x32xf32>) -> tensor<2x8x16xf32>
    %2 = "cube.linear"(%x, %w) {cube.scope = "model.layers.0.self_attn.q_proj"} : (tensor<2x8x32xf32>, tensor<16x32xf32>) -> tensor<2x8x16xf32>
    // CHECK: "cube.linear"(%{{.*}}, %{{.*}}, %{{.*}}) : (tensor<2x8x32xf32>, tensor<16x32xf32>, tensor<16xf32>) -> tensor<2x8x16xf32>
    %3 = "cube.linear"(%x, %w, %b) : (tensor<2x8x32xf32>, tensor<16x32xf32>, tensor<16xf32>) -> tensor<2x8x16xf32>
    // CHECK: "cube.matmul"(%{{.*}}, %{{.*}}) : (tensor<2x4x8x16xf32>, tensor<2x4x16x8xf32>) -> tensor<2x4x8x8xf32>
    %4 = "cube.matmul"(%lhs, %rhs) : (tensor<2x4x8x16xf32>, tensor<2x4x16x8xf32>) -> tensor<2x4x8x8xf32>
    // CHECK: "cube.matmul"(%{{.*}}, %{{.*}}) {transpose_lhs = true, transpose_rhs = true} : (tensor<2x16x8xbf16>, tensor<2x8x16xbf16>) -> tensor<2x8x8xbf16>
    %5 = "cube.matmul"(%lhsT, %rhsT) {transpose_lhs = true, transpose_rhs = true} : (tensor<2x16x8xbf16>, tensor<2x8x16xbf16>) -> tensor<2x8x8xbf16>
    // CHECK: "cube.matmul"(%{{.*}}, %{{.*}}) {transpose_lhs = true, transpose_rhs = false} : (tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>) -> tensor<2x4x16x16xf32>
    %6 = "cube.matmul"(%lhs, %lhs) {transpose_rhs = false, transpose_lhs = true} : (tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>) -> tensor<2x4x16x16xf32>
    return
  }

  // CHECK-LABEL: func.func @elementwise
  func.func @elementwise(%a: tensor<2x8xf32>, %b: tensor<2x8xf32>, %h: tensor<4xf16>) {
    // CHECK: "cube.add"(%{{.*}}, %{{.*}}) : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
    %0 = "cube.add"(%a, %b) : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
    // CHECK: "cube.sub"(%{{.*}}, %{{.*}}) : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
    %1 = "cube.sub"(%a, %b) : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
    // CHECK: "cube.mul"(%{{.*}}, %{{.*}}) : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
    %2 = "cube.mul"(%a, %b) : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
    // CHECK: "cube.div"(%{{.*}}, %{{.*}}) : (tensor<4xf16>, tensor<4xf16>) -> tensor<4xf16>
    %3 = "cube.div"(%h, %h) : (tensor<4xf16>, tensor<4xf16>) -> tensor<4xf16>
    // CHECK: "cube.neg"(%{{.*}}) : (tensor<2x8xf32>) -> tensor<2x8xf32>
    %4 = "cube.neg"(%a) : (tensor<2x8xf32>) -> tensor<2x8xf32>
    // CHECK: "cube.silu"(%{{.*}}) : (tensor<2x8xf32>) -> tensor<2x8xf32>
    %5 = "cube.silu"(%a) : (tensor<2x8xf32>) -> tensor<2x8xf32>
    // CHECK: "cube.exp"(%{{.*}}) : (tensor<4xf16>) -> tensor<4xf16>
    %6 = "cube.exp"(%h) : (tensor<4xf16>) -> tensor<4xf16>
    // CHECK: "cube.rsqrt"(%{{.*}}) : (tensor<2x8xf32>) -> tensor<2x8xf32>
    %7 = "cube.rsqrt"(%a) : (tensor<2x8xf32>) -> tensor<2x8xf32>
    // CHECK: "cube.scale"(%{{.*}}) {factor = 2.000000e+00 : f64} : (tensor<2x8xf32>) -> tensor<2x8xf32>
    %8 = "cube.scale"(%a) {factor = 2.0 : f64} : (tensor<2x8xf32>) -> tensor<2x8xf32>
    // CHECK: "cube.cast"(%{{.*}}) : (tensor<2x8xf32>) -> tensor<2x8xbf16>
    %9 = "cube.cast"(%a) : (tensor<2x8xf32>) -> tensor<2x8xbf16>
    // CHECK: "cube.cast"(%{{.*}}) : (tensor<4xf16>) -> tensor<4xf32>
    %10 = "cube.cast"(%h) : (tensor<4xf16>) -> tensor<4xf32>
    // CHECK: "cube.dropout"(%{{.*}}) {p = 1.000000e-01 : f64, seed = 42 : i64} : (tensor<2x8xf32>) -> tensor<2x8xf32>
    %11 = "cube.dropout"(%a) {p = 0.1 : f64, seed = 42 : i64} : (tensor<2x8xf32>) -> tensor<2x8xf32>
    // CHECK: "cube.dropout"(%{{.*}}) {p = 0.000000e+00 : f64, seed = -1 : i64} : (tensor<2x8xf32>) -> tensor<2x8xf32>
    %12 = "cube.dropout"(%a) {p = 0.0 : f64, seed = -1} : (tensor<2x8xf32>) -> tensor<2x8xf32>
    return
  }

  // CHECK-LABEL: func.func @composites
  func.func @composites(%x: tensor<2x8x32xbf16>, %nw: tensor<32xbf16>, %q: tensor<2x8x16x4xf32>,
                        %k: tensor<2x2x16x4xf32>, %v: tensor<2x2x16x4xf32>, %kx: tensor<2x2x24x4xf32>,
                        %logits: tensor<2x8x64xf32>, %labels: tensor<2x8xi64>, %lg: tensor<16x64xbf16>,
                        %lb: tensor<16xi32>) {
    // CHECK: "cube.rmsnorm"(%{{.*}}, %{{.*}}) {cube.scope = "model.norm", eps = 9.9999999999999995E-7 : f64} : (tensor<2x8x32xbf16>, tensor<32xbf16>) -> tensor<2x8x32xbf16>
    %0 = "cube.rmsnorm"(%x, %nw) {eps = 1.0e-06 : f64, cube.scope = "model.norm"} : (tensor<2x8x32xbf16>, tensor<32xbf16>) -> tensor<2x8x32xbf16>
    // CHECK: "cube.rope"(%{{.*}}) {theta = 1.000000e+04 : f64} : (tensor<2x8x16x4xf32>) -> tensor<2x8x16x4xf32>
    %1 = "cube.rope"(%q) {theta = 10000.0 : f64} : (tensor<2x8x16x4xf32>) -> tensor<2x8x16x4xf32>
    // CHECK: "cube.softmax"(%{{.*}}) {dim = -1 : i64} : (tensor<2x8x32xbf16>) -> tensor<2x8x32xbf16>
    %2 = "cube.softmax"(%x) {dim = -1 : i64} : (tensor<2x8x32xbf16>) -> tensor<2x8x32xbf16>
    // CHECK: "cube.softmax"(%{{.*}}) {dim = 0 : i64} : (tensor<2x8x32xbf16>) -> tensor<2x8x32xbf16>
    %3 = "cube.softmax"(%x) {dim = 0} : (tensor<2x8x32xbf16>) -> tensor<2x8x32xbf16>
    // GQA: 8 query heads share 2 kv heads.
    // CHECK: "cube.attention"(%{{.*}}, %{{.*}}, %{{.*}}) {causal = true} : (tensor<2x8x16x4xf32>, tensor<2x2x16x4xf32>, tensor<2x2x16x4xf32>) -> tensor<2x8x16x4xf32>
    %4 = "cube.attention"(%q, %k, %v) {causal = true} : (tensor<2x8x16x4xf32>, tensor<2x2x16x4xf32>, tensor<2x2x16x4xf32>) -> tensor<2x8x16x4xf32>
    // Not causal: Skv may differ from S; explicit scale.
    // CHECK: "cube.attention"(%{{.*}}, %{{.*}}, %{{.*}}) {causal = false, scale = 1.250000e-01 : f64} : (tensor<2x8x16x4xf32>, tensor<2x2x24x4xf32>, tensor<2x2x24x4xf32>) -> tensor<2x8x16x4xf32>
    %5 = "cube.attention"(%q, %kx, %kx) {causal = false, scale = 0.125 : f64} : (tensor<2x8x16x4xf32>, tensor<2x2x24x4xf32>, tensor<2x2x24x4xf32>) -> tensor<2x8x16x4xf32>
    // CHECK: "cube.cross_entropy"(%{{.*}}, %{{.*}}) {ignore_index = -100 : i64} : (tensor<2x8x64xf32>, tensor<2x8xi64>) -> tensor<f32>
    %6 = "cube.cross_entropy"(%logits, %labels) {ignore_index = -100 : i64} : (tensor<2x8x64xf32>, tensor<2x8xi64>) -> tensor<f32>
    // CHECK: "cube.cross_entropy"(%{{.*}}, %{{.*}}) {ignore_index = -100 : i64} : (tensor<16x64xbf16>, tensor<16xi32>) -> tensor<f32>
    %7 = "cube.cross_entropy"(%lg, %lb) {ignore_index = -100} : (tensor<16x64xbf16>, tensor<16xi32>) -> tensor<f32>
    return
  }

  // CHECK-LABEL: func.func @layout
  func.func @layout(%x: tensor<2x8x32xf32>, %ids: tensor<2x8xi64>, %a: tensor<2x3xf16>, %b: tensor<2x5xf16>) {
    // CHECK: "cube.reshape"(%{{.*}}) : (tensor<2x8x32xf32>) -> tensor<2x8x4x8xf32>
    %0 = "cube.reshape"(%x) : (tensor<2x8x32xf32>) -> tensor<2x8x4x8xf32>
    // CHECK: "cube.reshape"(%{{.*}}) : (tensor<2x8x32xf32>) -> tensor<512xf32>
    %1 = "cube.reshape"(%x) : (tensor<2x8x32xf32>) -> tensor<512xf32>
    // CHECK: "cube.transpose"(%{{.*}}) {permutation = array<i64: 0, 2, 1>} : (tensor<2x8x32xf32>) -> tensor<2x32x8xf32>
    %2 = "cube.transpose"(%x) {permutation = array<i64: 0, 2, 1>} : (tensor<2x8x32xf32>) -> tensor<2x32x8xf32>
    // The causal-LM shift: logits 0..S-2 against labels 1..S-1 (slices of an integer tensor are fine).
    // CHECK: "cube.slice"(%{{.*}}) {offsets = array<i64: 0, 0, 0>} : (tensor<2x8x32xf32>) -> tensor<2x7x32xf32>
    %3 = "cube.slice"(%x) {offsets = array<i64: 0, 0, 0>} : (tensor<2x8x32xf32>) -> tensor<2x7x32xf32>
    // CHECK: "cube.slice"(%{{.*}}) {offsets = array<i64: 0, 1>} : (tensor<2x8xi64>) -> tensor<2x7xi64>
    %4 = "cube.slice"(%ids) {offsets = array<i64: 0, 1>} : (tensor<2x8xi64>) -> tensor<2x7xi64>
    // CHECK: "cube.concat"(%{{.*}}, %{{.*}}) {dim = 1 : i64} : (tensor<2x3xf16>, tensor<2x5xf16>) -> tensor<2x8xf16>
    %5 = "cube.concat"(%a, %b) {dim = 1} : (tensor<2x3xf16>, tensor<2x5xf16>) -> tensor<2x8xf16>
    // CHECK: "cube.concat"(%{{.*}}, %{{.*}}) {dim = -2 : i64} : (tensor<2x3xf16>, tensor<2x3xf16>) -> tensor<4x3xf16>
    %6 = "cube.concat"(%a, %a) {dim = -2} : (tensor<2x3xf16>, tensor<2x3xf16>) -> tensor<4x3xf16>
    return
  }

  // CHECK-LABEL: func.func private @recompute_0
  func.func private @recompute_0(%x: tensor<2x8x16xf32>, %y: tensor<2x8x16xf32>) -> (tensor<2x8x16xf32>, tensor<2x8x16xf32>) {
    // CHECK: "cube.add"(%{{.*}}, %{{.*}}) : (tensor<2x8x16xf32>, tensor<2x8x16xf32>) -> tensor<2x8x16xf32>
    %s = "cube.add"(%x, %y) : (tensor<2x8x16xf32>, tensor<2x8x16xf32>) -> tensor<2x8x16xf32>
    // CHECK: "cube.silu"(%{{.*}}) : (tensor<2x8x16xf32>) -> tensor<2x8x16xf32>
    %t = "cube.silu"(%s) : (tensor<2x8x16xf32>) -> tensor<2x8x16xf32>
    return %s, %t : tensor<2x8x16xf32>, tensor<2x8x16xf32>
  }

  // CHECK-LABEL: func.func @checkpointed
  func.func @checkpointed(%x: tensor<2x8x16xf32>, %y: tensor<2x8x16xf32>) -> tensor<2x8x16xf32> {
    // CHECK: call @recompute_0(%{{.*}}, %{{.*}}) {cube.checkpoint, cube.scope = "model.layers.0.mlp"} : (tensor<2x8x16xf32>, tensor<2x8x16xf32>) -> (tensor<2x8x16xf32>, tensor<2x8x16xf32>)
    %r:2 = func.call @recompute_0(%x, %y) {cube.checkpoint, cube.scope = "model.layers.0.mlp"} : (tensor<2x8x16xf32>, tensor<2x8x16xf32>) -> (tensor<2x8x16xf32>, tensor<2x8x16xf32>)
    return %r#1 : tensor<2x8x16xf32>
  }
}
