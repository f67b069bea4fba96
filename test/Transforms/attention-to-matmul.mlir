// cube-attention-to-matmul: attention and its gradient as batched matmuls around a scaled, causal row
// softmax. GQA (4 query heads, 2 kv heads): q is viewed as [B*Hkv, G*S, D] = [4, 12, 8] and k, v as
// [4, 6, 8] (free reshapes); the softmax masks j > row mod S (causal_period = S); dq and dk are scaled by
// D^-0.5 once; every new op keeps the attention's scope; the result verifies. Numerics against PyTorch:
// test/numerics/test_ops.py and test_backward_ops.py (the `before` parameter).
// RUN: cube-opt %s --cube-attention-to-matmul --cube-verify-each | FileCheck %s
// RUN: cube-opt %s --cube-attention-to-matmul | FileCheck %s --check-prefix=NONE

// CHECK-LABEL: func.func @forward
// CHECK: %[[Q:.*]] = "cube.reshape"(%arg0) {cube.scope = "model.layers.0.self_attn"} : (tensor<2x4x6x8xf32>) -> tensor<4x12x8xf32>
// CHECK: %[[K:.*]] = "cube.reshape"(%arg1) {{.*}} : (tensor<2x2x6x8xf32>) -> tensor<4x6x8xf32>
// CHECK: %[[S:.*]] = "cube.matmul"(%[[Q]], %[[K]]) {cube.scope = "model.layers.0.self_attn", transpose_rhs = true} : (tensor<4x12x8xf32>, tensor<4x6x8xf32>) -> tensor<4x12x6xf32>
// CHECK: %[[P:.*]] = "cube.softmax"(%[[S]]) {causal_period = 6 : i64, cube.scope = "model.layers.0.self_attn", dim = 2 : i64, scale = 0.35355339059327379 : f64}
// CHECK: %[[V:.*]] = "cube.reshape"(%arg2)
// CHECK: %[[O:.*]] = "cube.matmul"(%[[P]], %[[V]]) {cube.scope = "model.layers.0.self_attn"} : (tensor<4x12x6xf32>, tensor<4x6x8xf32>) -> tensor<4x12x8xf32>
// CHECK: "cube.reshape"(%[[O]]) {{.*}} -> tensor<2x4x6x8xf32>
// CHECK-LABEL: func.func @grad
// CHECK: "cube.softmax"
// CHECK: %[[DV:.*]] = "cube.matmul"(%{{.*}}, %{{.*}}) {{{.*}}transpose_lhs = true} : (tensor<4x12x6xf32>, tensor<4x12x8xf32>) -> tensor<4x6x8xf32>
// CHECK: %[[DP:.*]] = "cube.matmul"(%{{.*}}, %{{.*}}) {{{.*}}transpose_rhs = true} : (tensor<4x12x8xf32>, tensor<4x6x8xf32>) -> tensor<4x12x6xf32>
// CHECK: %[[DS:.*]] = "cube.softmax_grad"(%{{.*}}, %[[DP]]) {{{.*}}dim = 2 : i64}
// CHECK: "cube.scale"({{.*}}) {{{.*}}factor = 0.35355339059327379 : f64}
// CHECK: "cube.scale"({{.*}}) {{{.*}}factor = 0.35355339059327379 : f64}
// NONE-NOT: cube.attention
module attributes {cube.modules = [["", "LlamaForCausalLM"], ["model", "LlamaModel"], ["model.layers", "ModuleList"], ["model.layers.0", "LlamaDecoderLayer"], ["model.layers.0.self_attn", "LlamaAttention"]]} {
  func.func @forward(%q: tensor<2x4x6x8xf32>, %k: tensor<2x2x6x8xf32>, %v: tensor<2x2x6x8xf32>) -> tensor<2x4x6x8xf32> {
    %o = "cube.attention"(%q, %k, %v) {causal = true, cube.scope = "model.layers.0.self_attn"} : (tensor<2x4x6x8xf32>, tensor<2x2x6x8xf32>, tensor<2x2x6x8xf32>) -> tensor<2x4x6x8xf32>
    return %o : tensor<2x4x6x8xf32>
  }
  func.func @grad(%q: tensor<2x4x6x8xf32>, %k: tensor<2x2x6x8xf32>, %v: tensor<2x2x6x8xf32>, %g: tensor<2x4x6x8xf32>) -> (tensor<2x4x6x8xf32>, tensor<2x2x6x8xf32>, tensor<2x2x6x8xf32>) {
    %dq, %dk, %dv = "cube.attention_grad"(%q, %k, %v, %g) {causal = true, cube.scope = "model.layers.0.self_attn"} : (tensor<2x4x6x8xf32>, tensor<2x2x6x8xf32>, tensor<2x2x6x8xf32>, tensor<2x4x6x8xf32>) -> (tensor<2x4x6x8xf32>, tensor<2x2x6x8xf32>, tensor<2x2x6x8xf32>)
    return %dq, %dk, %dv : tensor<2x4x6x8xf32>, tensor<2x2x6x8xf32>, tensor<2x2x6x8xf32>
  }
}

