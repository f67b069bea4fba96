// cube-attention-to-matmul on a non-causal attention: the softmax gets a scale and no causal_period.
// RUN: cube-opt %s --cube-attention-to-matmul --cube-verify-each 2>&1 | FileCheck %s --check-prefix=NONCAUSAL
// NONCAUSAL-LABEL: func.func @noncausal
// NONCAUSAL: "cube.softmax"(%{{.*}}) {dim = 2 : i64, scale = 0.35355339059327379 : f64}
module {
  func.func @noncausal(%q: tensor<1x2x6x8xf32>) -> tensor<1x2x6x8xf32> {
    %o = "cube.attention"(%q, %q, %q) {causal = false} : (tensor<1x2x6x8xf32>, tensor<1x2x6x8xf32>, tensor<1x2x6x8xf32>) -> tensor<1x2x6x8xf32>
    return %o : tensor<1x2x6x8xf32>
  }
}
