// cube-autodiff's errors: a module without @forward, a forward not returning a rank-0 loss, an op without a
// VJP rule on the gradient path, bad options.
// RUN: not cube-opt %s --split-input-file --cube-autodiff=optimizer=none 2>&1 | FileCheck %s
// RUN: not cube-opt %s --split-input-file --cube-autodiff=optimizer=sgd 2>&1 | FileCheck %s --check-prefix=OPT

// CHECK: error: cube-autodiff: the module has no @forward function
// OPT: error: cube-autodiff: optimizer must be adamw or none, got 'sgd'
func.func @main() {
  return
}

// -----

func.func @forward(%x: tensor<4xf32>) -> tensor<4xf32> {
  // CHECK: error: cube-autodiff: @forward must return exactly one value, the rank-0 f32 loss (tensor<f32>)
  return %x : tensor<4xf32>
}

// -----

func.func @forward(%x: tensor<4xf32>) -> tensor<f32> {
  %w = "cube.param"() {name = "w", init = "zeros", trainable = true} : () -> tensor<4xf32>
  // CHECK: error: cube-autodiff: no VJP rule for 'cube.sumsq'
  %s = "cube.sumsq"(%w) : (tensor<4xf32>) -> tensor<f32>
  return %s : tensor<f32>
}
