// The upstream GPU path through cube-opt: linalg on tensors -> parallel loops -> gpu.launch ->
// gpu-lower-to-nvvm-pipeline -> PTX text (cubin-format=isa needs no CUDA toolkit).
// RUN: cube-opt %s --pass-pipeline='builtin.module(one-shot-bufferize{bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map},func.func(convert-linalg-to-parallel-loops,scf-parallel-loop-tiling{parallel-loop-tile-sizes=256},gpu-map-parallel-loops,convert-parallel-loops-to-gpu),gpu-kernel-outlining,gpu-lower-to-nvvm-pipeline{cubin-chip=sm_90 cubin-features=+ptx80 cubin-format=isa opt-level=3})' --cube-dump-ptx | FileCheck %s
// CHECK: .version 8.0
// CHECK: .target sm_90
// CHECK: .visible .entry scale_kernel(
// The 4096 elements are tiled by 256: 16 blocks of 256 threads, not one thread per block.
// CHECK: mov.u32 {{.*}}%ctaid.x
// CHECK: mov.u32 {{.*}}%tid.x

// The same pipeline printing the module, whose gpu.binary holds the PTX.
// RUN: cube-opt %s --pass-pipeline='builtin.module(one-shot-bufferize{bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map},func.func(convert-linalg-to-parallel-loops,scf-parallel-loop-tiling{parallel-loop-tile-sizes=256},gpu-map-parallel-loops,convert-parallel-loops-to-gpu),gpu-kernel-outlining,gpu-lower-to-nvvm-pipeline{cubin-chip=sm_80 cubin-features=+ptx70 cubin-format=isa})' | FileCheck %s --check-prefix=IR
// IR: gpu.binary @scale_kernel
// IR-SAME: .target sm_80
// IR-SAME: .entry

func.func @scale(%x: tensor<4096xf32>, %out: tensor<4096xf32>) -> tensor<4096xf32> {
  %0 = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
                       iterator_types = ["parallel"]}
      ins(%x : tensor<4096xf32>) outs(%out : tensor<4096xf32>) {
  ^bb0(%a: f32, %o: f32):
    %c = arith.constant 2.0 : f32
    %m = arith.mulf %a, %c : f32
    linalg.yield %m : f32
  } -> tensor<4096xf32>
  return %0 : tensor<4096xf32>
}
