// The tensor-core flash forward (lib/Conversion/GpuAttentionMma.c): cube-attention-to-matmul{keep-flash=true}
// (what `compile --attention auto` runs on cuda) leaves a forward attention that is not recomputed and that
// the kernel takes (bf16, head dim 64, causal, S a multiple of 64) as one op; a recomputed one and an f32 one
// become matmuls around a softmax as before. cube-emit then writes the kept one as one launch of 128 threads
// per 64 query rows of one (batch, head), with mma.sync on bf16 in the PTX. Numerics on the GPU: mini-llama's
// bf16 forward gives 10.549175 with it, 10.549235 with the matmul form and 10.549147 in fp32
// (test/gpu/README.md).
// RUN: cube-opt %s --pass-pipeline='builtin.module(cube-attention-to-matmul{keep-flash=true},cube-verify)' | FileCheck %s
// RUN: cube-opt %s --pass-pipeline='builtin.module(cube-attention-to-matmul,cube-verify)' | FileCheck %s --check-prefix=ALL
// RUN: rm -rf %t && cube-opt %s --pass-pipeline='builtin.module(cube-attention-to-matmul{keep-flash=true},cube-prepare-forward,cube-group-kernels{target=cuda},cube-lower-to-linalg,cube-emit{out=%t target=cuda chip=sm_90})' -o /dev/null
// RUN: FileCheck %s --check-prefix=PLAN < %t/plan.json
// RUN: FileCheck %s --check-prefix=PTX < %t/kernels.ptx

// CHECK-LABEL: func.func @forward
// CHECK:     "cube.attention"(%arg0, %arg1, %arg2) {causal = true, cube.scope = "model.layers.0.self_attn"} : (tensor<1x2x128x64xbf16>, tensor<1x1x128x64xbf16>, tensor<1x1x128x64xbf16>) -> tensor<1x2x128x64xbf16>
// CHECK-NOT: "cube.attention"
// CHECK:     "cube.softmax"
// CHECK:     "cube.softmax"
// ALL-NOT:   "cube.attention"

// PLAN: {"op": "launch", "kernel": "{{k[0-9]+}}_attention_0", "grid": [2, 2, 1], "block": [128, 1, 1], "shared_bytes": 0, "args": [{"buffer": "arg0"}, {"buffer": "arg1"}, {"buffer": "arg2"}, {"buffer": "result0"}], "cube_op": "cube.attention"
// PTX: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32

module attributes {cube.modules = [["", "LlamaForCausalLM"], ["model", "LlamaModel"], ["model.layers", "ModuleList"], ["model.layers.0", "LlamaDecoderLayer"], ["model.layers.0.self_attn", "LlamaAttention"]]} {
  func.func @forward(%q: tensor<1x2x128x64xbf16>, %k: tensor<1x1x128x64xbf16>, %v: tensor<1x1x128x64xbf16>, %qf: tensor<1x2x128x64xf32>, %kf: tensor<1x1x128x64xf32>) -> (tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16>, tensor<1x2x128x64xf32>) {
    %a = "cube.attention"(%q, %k, %v) {causal = true, cube.scope = "model.layers.0.self_attn"} : (tensor<1x2x128x64xbf16>, tensor<1x1x128x64xbf16>, tensor<1x1x128x64xbf16>) -> tensor<1x2x128x64xbf16>
    %r = "cube.attention"(%q, %k, %v) {causal = true, cube.recomputed, cube.scope = "model.layers.0.self_attn"} : (tensor<1x2x128x64xbf16>, tensor<1x1x128x64xbf16>, tensor<1x1x128x64xbf16>) -> tensor<1x2x128x64xbf16>
    %f = "cube.attention"(%qf, %kf, %kf) {causal = true, cube.scope = "model.layers.0.self_attn"} : (tensor<1x2x128x64xf32>, tensor<1x1x128x64xf32>, tensor<1x1x128x64xf32>) -> tensor<1x2x128x64xf32>
    return %a, %r, %f : tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16>, tensor<1x2x128x64xf32>
  }
}
