// Fused attention on target=cuda (lib/Conversion/GpuAttention.c): cube-group-kernels gives cube.attention
// and cube.attention_grad the gpu-dialect kernel (unit attr cube.kernel_gpu, no S x S scratch; the gradient
// takes lse and delta [B*Hq*S]); cube-lower-to-linalg leaves their bodies alone; cube-emit writes them as
// gpu.launch functions with shared-memory tiles: one launch for the forward (64 query rows per block), four
// for the gradient (stats, dq, dv, dk). target=cpu never uses them (gpu-attention-fallback.mlir: shapes
// the kernels do not take).
// RUN: cube-opt %s --pass-pipeline='builtin.module(cube-group-kernels{target=cuda},cube-lower-to-linalg)' | FileCheck %s --check-prefix=GROUP
// RUN: rm -rf %t && cube-opt %s --pass-pipeline='builtin.module(cube-group-kernels{target=cuda},cube-lower-to-linalg,cube-emit{out=%t dump=true})' -o /dev/null
// RUN: FileCheck %s --check-prefix=PLAN < %t/plan.json
// RUN: FileCheck %s --check-prefix=LOWERED < %t/kernels.lowered.mlir
// RUN: FileCheck %s --check-prefix=PTX < %t/kernels.ptx
// RUN: cube-opt %s --pass-pipeline='builtin.module(cube-group-kernels{target=cpu})' | FileCheck %s --check-prefix=CPU

// GROUP-LABEL: func.func private @k0_attention(%arg0: tensor<2x4x70x16xf32>, %arg1: tensor<2x2x70x16xf32>, %arg2: tensor<2x2x70x16xf32>, %arg3: tensor<2x4x70x16xf32>) -> tensor<2x4x70x16xf32>
// GROUP-SAME: cube.kernel_gpu
// GROUP-NEXT: "cube.attention"
// GROUP-LABEL: func.func private @k1_attention_grad(%arg0: tensor<2x4x70x16xf32>, %arg1: tensor<2x2x70x16xf32>, %arg2: tensor<2x2x70x16xf32>, %arg3: tensor<2x4x70x16xf32>, %arg4: tensor<560xf32>, %arg5: tensor<560xf32>, %arg6: tensor<2x4x70x16xf32>, %arg7: tensor<2x2x70x16xf32>, %arg8: tensor<2x2x70x16xf32>)
// GROUP-SAME: cube.kernel_gpu
// GROUP-NEXT: "cube.attention_grad"

// PLAN: {"op": "launch", "kernel": "k0_attention_0", "grid": [2, 8, 1], "block": [64, 1, 1], {{.*}} "cube_op": "cube.attention"
// PLAN-NEXT: {"op": "launch", "kernel": "k1_attention_grad_0", "grid": [2, 8, 1], "block": [64, 1, 1],
// PLAN-NEXT: {"op": "launch", "kernel": "k1_attention_grad_1", "grid": [2, 8, 1], "block": [64, 1, 1],
// PLAN-NEXT: {"op": "launch", "kernel": "k1_attention_grad_2", "grid": [2, 4, 1], "block": [64, 1, 1],
// PLAN-NEXT: {"op": "launch", "kernel": "k1_attention_grad_3", "grid": [2, 4, 1], "block": [64, 1, 1],

// LOWERED: gpu.func @k0_attention_0({{.*}}) workgroup(%{{.*}} : memref<1024xf32, #gpu.address_space<workgroup>>, %{{.*}} : memref<1024xf32, #gpu.address_space<workgroup>>)
// LOWERED: gpu.barrier
// LOWERED: vector.load {{.*}} : memref<1024xf32, #gpu.address_space<workgroup>>, vector<4xf32>

// PTX: .visible .entry k0_attention_0(
// PTX: .shared .align 4 .b8
// PTX: bar.sync
// PTX: ld.shared.v4

// CPU-NOT: cube.kernel_gpu
// CPU: func.func private @k0_attention({{.*}}, %arg3: tensor<39200xf32>, %arg4: tensor<560xf32>, %arg5: tensor<560xf32>, %arg6: tensor<2x4x70x16xf32>)
module {
  func.func @forward(%q: tensor<2x4x70x16xf32>, %k: tensor<2x2x70x16xf32>, %g: tensor<2x4x70x16xf32>) -> (tensor<2x4x70x16xf32>, tensor<2x4x70x16xf32>, tensor<2x2x70x16xf32>, tensor<2x2x70x16xf32>) {
    %o = "cube.attention"(%q, %k, %k) {causal = true} : (tensor<2x4x70x16xf32>, tensor<2x2x70x16xf32>, tensor<2x2x70x16xf32>) -> tensor<2x4x70x16xf32>
    %dq, %dk, %dv = "cube.attention_grad"(%q, %k, %k, %g) {causal = true} : (tensor<2x4x70x16xf32>, tensor<2x2x70x16xf32>, tensor<2x2x70x16xf32>, tensor<2x4x70x16xf32>) -> (tensor<2x4x70x16xf32>, tensor<2x2x70x16xf32>, tensor<2x2x70x16xf32>)
    return %o, %dq, %dk, %dv : tensor<2x4x70x16xf32>, tensor<2x4x70x16xf32>, tensor<2x2x70x16xf32>, tensor<2x2x70x16xf32>
  }
}

