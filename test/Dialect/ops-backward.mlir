// Round trip of every backward and optimizer op (docs/dialect.md, "Backward and optimizer ops"): parse,
// verify, print, parse the printed form again, verify. Also: @forward and @train_step may declare the same
// parameter (same type, init and flag): it is one shared weight.
// RUN: cube-opt %s | cube-opt | FileCheck %s

// CHECK-LABEL: func.func @forward
func.func @forward() -> tensor<4x8xf32> {
  %w = "cube.param"() {name = "w", init = "zeros", trainable = true} : () -> tensor<4x8xf32>
  return %w : tensor<4x8xf32>
}

// CHECK-LABEL: func.func @train_step
func.func @train_step(%ids: tensor<2x3xi64>, %dout: tensor<2x3x8xf32>, %x: tensor<2x3x8xf32>,
                      %q: tensor<2x4x3x8xf32>, %k: tensor<2x2x3x8xf32>, %lr: tensor<f32>, %step: tensor<i64>) {
  // CHECK: "cube.embedding_grad"(%{{.*}}, %{{.*}}) {num_embeddings = 16 : i64} : (tensor<2x3xi64>, tensor<2x3x8xf32>) -> tensor<16x8xf32>
  %0 = "cube.embedding_grad"(%ids, %dout) {num_embeddings = 16 : i64} : (tensor<2x3xi64>, tensor<2x3x8xf32>) -> tensor<16x8xf32>
  %nw = "cube.param"() {name = "norm", init = "ones", trainable = true} : () -> tensor<8xf32>
  // CHECK: "cube.rmsnorm_grad"{{.*}} -> (tensor<2x3x8xf32>, tensor<8xf32>)
  %1:2 = "cube.rmsnorm_grad"(%x, %nw, %dout) {eps = 1.0e-06 : f64} : (tensor<2x3x8xf32>, tensor<8xf32>, tensor<2x3x8xf32>) -> (tensor<2x3x8xf32>, tensor<8xf32>)
  // CHECK: "cube.rope_grad"
  %2 = "cube.rope_grad"(%q) {theta = 10000.0 : f64} : (tensor<2x4x3x8xf32>) -> tensor<2x4x3x8xf32>
  // CHECK: "cube.softmax_grad"
  %3 = "cube.softmax_grad"(%x, %dout) {dim = -1 : i64} : (tensor<2x3x8xf32>, tensor<2x3x8xf32>) -> tensor<2x3x8xf32>
  // CHECK: "cube.attention_grad"{{.*}} -> (tensor<2x4x3x8xf32>, tensor<2x2x3x8xf32>, tensor<2x2x3x8xf32>)
  %4:3 = "cube.attention_grad"(%q, %k, %k, %q) {causal = true, scale = 0.5 : f64} : (tensor<2x4x3x8xf32>, tensor<2x2x3x8xf32>, tensor<2x2x3x8xf32>, tensor<2x4x3x8xf32>) -> (tensor<2x4x3x8xf32>, tensor<2x2x3x8xf32>, tensor<2x2x3x8xf32>)
  // CHECK: "cube.fill"() {value = 1.000000e+00 : f64} : () -> tensor<f32>
  %one = "cube.fill"() {value = 1.0 : f64} : () -> tensor<f32>
  // CHECK: "cube.cross_entropy_grad"
  %5 = "cube.cross_entropy_grad"(%x, %ids, %one) {ignore_index = -100 : i64} : (tensor<2x3x8xf32>, tensor<2x3xi64>, tensor<f32>) -> tensor<2x3x8xf32>
  // CHECK: "cube.silu_grad"
  %6 = "cube.silu_grad"(%x, %dout) : (tensor<2x3x8xf32>, tensor<2x3x8xf32>) -> tensor<2x3x8xf32>
  // CHECK: "cube.reduce_sum"{{.*}}dims = array<i64: 0, 1>{{.*}} -> tensor<8xf32>
  %7 = "cube.reduce_sum"(%x) {dims = array<i64: 0, 1>} : (tensor<2x3x8xf32>) -> tensor<8xf32>
  // CHECK: "cube.pad"{{.*}} -> tensor<2x5x8xf32>
  %8 = "cube.pad"(%x) {offsets = array<i64: 0, 1, 0>} : (tensor<2x3x8xf32>) -> tensor<2x5x8xf32>
  // pad's optional value: a float for float tensors, an i64 for integer ones (the causal-LM label shift).
  // CHECK: "cube.pad"(%{{.*}}) {offsets = array<i64: 0, 1, 0>, value = -1.500000e+00 : f64} : (tensor<2x3x8xf32>) -> tensor<2x5x8xf32>
  %p1 = "cube.pad"(%x) {offsets = array<i64: 0, 1, 0>, value = -1.5 : f64} : (tensor<2x3x8xf32>) -> tensor<2x5x8xf32>
  // CHECK: "cube.pad"(%{{.*}}) {offsets = array<i64: 0, 0>, value = -100 : i64} : (tensor<2x3xi64>) -> tensor<2x4xi64>
  %p2 = "cube.pad"(%ids) {offsets = array<i64: 0, 0>, value = -100 : i64} : (tensor<2x3xi64>) -> tensor<2x4xi64>
  // CHECK: "cube.sumsq"{{.*}} -> tensor<f32>
  %9 = "cube.sumsq"(%x) : (tensor<2x3x8xf32>) -> tensor<f32>
  // CHECK: "cube.minimum"
  %10 = "cube.minimum"(%9, %one) : (tensor<f32>, tensor<f32>) -> tensor<f32>
  %w = "cube.param"() {name = "w", init = "zeros", trainable = true} : () -> tensor<4x8xf32>
  // CHECK: "cube.opt_state"() {init = "zeros", name = "w.exp_avg", param = "w"}
  %m = "cube.opt_state"() {name = "w.exp_avg", init = "zeros", param = "w"} : () -> tensor<4x8xf32>
  %v = "cube.opt_state"() {name = "w.exp_avg_sq", init = "zeros", param = "w"} : () -> tensor<4x8xf32>
  %g = "cube.fill"() {value = 0.5 : f64} : () -> tensor<4x8xf32>
  // CHECK: "cube.adamw_update"({{.*}}) {beta1 = 9.000000e-01 : f64, beta2 = 0.99899999999999999 : f64, eps = 1.000000e-08 : f64, weight_decay = 0.000000e+00 : f64} : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<f32>, tensor<i64>, tensor<f32>) -> ()
  "cube.adamw_update"(%w, %g, %m, %v, %lr, %step, %10) {beta1 = 0.9 : f64, beta2 = 0.999 : f64, eps = 1.0e-8 : f64, weight_decay = 0.0 : f64} : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<f32>, tensor<i64>, tensor<f32>) -> ()
  return
}
