// A head dim the fused GPU attention does not take (6: not a multiple of 4) keeps the linalg kernel on
// target=cuda (its S x S scratch, no cube.kernel_gpu).

// FALLBACK: func.func private @k0_attention({{.*}}, %arg3: tensor<{{[0-9]+}}xf32>, %arg4: tensor<16xf32>, %arg5: tensor<16xf32>, %arg6: tensor<1x2x8x6xf32>)
// FALLBACK-NOT: cube.kernel_gpu
// RUN: cube-opt %s --pass-pipeline='builtin.module(cube-group-kernels{target=cuda})' | FileCheck %s --check-prefix=FALLBACK
module {
  func.func @forward(%q: tensor<1x2x8x6xf32>) -> tensor<1x2x8x6xf32> {
    %o = "cube.attention"(%q, %q, %q) {causal = true} : (tensor<1x2x8x6xf32>, tensor<1x2x8x6xf32>, tensor<1x2x8x6xf32>) -> tensor<1x2x8x6xf32>
    return %o : tensor<1x2x8x6xf32>
  }
}
