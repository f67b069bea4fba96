// cube-group-kernels: one kernel function per compute op, in destination-passing style (inputs, scratch,
// out), called from @forward on tensor.empty buffers; params and reshapes stay (a reshape is a buffer
// alias); linear/matmul are kernels on target=cpu and GEMM steps (marked cube.gemm) on target=cuda.
// RUN: cube-opt %s --pass-pipeline='builtin.module(cube-prepare-forward,cube-group-kernels{target=cpu},cube-verify)' | FileCheck %s --check-prefix=CPU
// RUN: cube-opt %s --pass-pipeline='builtin.module(cube-prepare-forward,cube-group-kernels{target=cuda},cube-verify)' | FileCheck %s --check-prefix=CUDA
// The grouped IR prints, parses and verifies again.
// RUN: cube-opt %s --pass-pipeline='builtin.module(cube-prepare-forward,cube-group-kernels{target=cpu})' | cube-opt --cube-verify | FileCheck %s --check-prefix=CPU

// CPU: module attributes {cube.modules = {{.*}}, cube.target = "cpu"}
// CPU-LABEL: func.func @forward(%arg0: tensor<2x4xi64>, %arg1: tensor<2x4xi64>) -> tensor<f32>
// CPU:      %[[W:.*]] = "cube.param"() {{.*}}name = "embed"
// CPU:      %[[LM:.*]] = "cube.param"() {{.*}}name = "lm_head"
// CPU:      %[[G:.*]] = "cube.param"() {{.*}}name = "norm"
// CPU:      %[[E0:.*]] = tensor.empty() : tensor<2x4x8xf32>
// CPU-NEXT: %[[X:.*]] = call @k0_embedding(%arg0, %[[W]], %[[E0]]) {cube.op = "cube.embedding", cube.scope = "model.embed_tokens"}
// The row sums of squares of rmsnorm are a scratch argument (8 rows).
// CPU-NEXT: %[[S:.*]] = tensor.empty() : tensor<8xf32>
// CPU-NEXT: %[[E1:.*]] = tensor.empty() : tensor<2x4x8xf32>
// CPU-NEXT: %[[N:.*]] = call @k1_rmsnorm(%[[X]], %[[G]], %[[S]], %[[E1]]) {cube.op = "cube.rmsnorm", cube.scope = "model.norm"}
// CPU-NEXT: %[[E2:.*]] = tensor.empty() : tensor<2x4x16xf32>
// CPU-NEXT: %[[L:.*]] = call @k2_linear(%[[N]], %[[LM]], %[[E2]]) {cube.op = "cube.linear", cube.scope = "lm_head"}
// CPU-NEXT: %[[R:.*]] = "cube.reshape"(%[[L]]) {cube.scope = ""} : (tensor<2x4x16xf32>) -> tensor<8x16xf32>
// CPU-NEXT: %[[RL:.*]] = "cube.reshape"(%arg1) {cube.scope = ""} : (tensor<2x4xi64>) -> tensor<8xi64>
// CPU-NEXT: tensor.empty() : tensor<8xf32>
// CPU-NEXT: tensor.empty() : tensor<8xf32>
// CPU-NEXT: tensor.empty() : tensor<1xf32>
// CPU-NEXT: %[[E3:.*]] = tensor.empty() : tensor<f32>
// CPU-NEXT: %[[LOSS:.*]] = call @k3_cross_entropy(%[[R]], %[[RL]], {{.*}}, %[[E3]]) {cube.op = "cube.cross_entropy", cube.scope = ""}
// CPU-NEXT: return %[[LOSS]] : tensor<f32>
// CPU:      func.func private @k0_embedding(%arg0: tensor<2x4xi64>, %arg1: tensor<16x8xf32>, %arg2: tensor<2x4x8xf32>) -> tensor<2x4x8xf32> attributes {cube.kernel = "cube.embedding", cube.kernel_inputs = 2 : i64, cube.kernel_scratch = 0 : i64}
// CPU-NEXT:   %0 = "cube.embedding"(%arg0, %arg1) {cube.scope = "model.embed_tokens"}
// CPU-NEXT:   return %0
// CPU:      func.func private @k1_rmsnorm({{.*}}tensor<8xf32>{{.*}} attributes {cube.kernel = "cube.rmsnorm", cube.kernel_inputs = 2 : i64, cube.kernel_scratch = 1 : i64}
// CPU:      func.func private @k2_linear(
// CPU:      func.func private @k3_cross_entropy({{.*}} attributes {cube.kernel = "cube.cross_entropy", cube.kernel_inputs = 2 : i64, cube.kernel_scratch = 3 : i64}

// CUDA: cube.target = "cuda"
// CUDA: call @k1_rmsnorm
// CUDA-NEXT: "cube.linear"({{.*}}) {cube.gemm, cube.scope = "lm_head"}
// CUDA-NOT: func.func private @k{{[0-9]+}}_linear

module attributes {cube.modules = [["", "LlamaForCausalLM"], ["model", "LlamaModel"], ["model.embed_tokens", "Embedding"],
    ["model.norm", "LlamaRMSNorm"], ["lm_head", "Linear"]]} {
  func.func @forward(%ids: tensor<2x4xi64>, %labels: tensor<2x4xi64>) -> tensor<f32> {
    %w = "cube.param"() {name = "embed", init = "normal(std=0.02)", trainable = true, cube.scope = "model.embed_tokens"} : () -> tensor<16x8xf32>
    %lm = "cube.param"() {name = "lm_head", init = "normal(std=0.02)", trainable = true, cube.scope = "lm_head"} : () -> tensor<16x8xf32>
    %g = "cube.param"() {name = "norm", init = "ones", trainable = true, cube.scope = "model.norm"} : () -> tensor<8xf32>
    %x = "cube.embedding"(%ids, %w) {cube.scope = "model.embed_tokens"} : (tensor<2x4xi64>, tensor<16x8xf32>) -> tensor<2x4x8xf32>
    %n = "cube.rmsnorm"(%x, %g) {eps = 1.0e-06 : f64, cube.scope = "model.norm"} : (tensor<2x4x8xf32>, tensor<8xf32>) -> tensor<2x4x8xf32>
    %l = "cube.linear"(%n, %lm) {cube.scope = "lm_head"} : (tensor<2x4x8xf32>, tensor<16x8xf32>) -> tensor<2x4x16xf32>
    %r = "cube.reshape"(%l) {cube.scope = ""} : (tensor<2x4x16xf32>) -> tensor<8x16xf32>
    %rl = "cube.reshape"(%labels) {cube.scope = ""} : (tensor<2x4xi64>) -> tensor<8xi64>
    %loss = "cube.cross_entropy"(%r, %rl) {ignore_index = -100 : i64, cube.scope = ""} : (tensor<8x16xf32>, tensor<8xi64>) -> tensor<f32>
    return %loss : tensor<f32>
  }
}
