// cube-fuse on target=cuda, down to PTX (no GPU needed): the bf16 chain add -> silu -> mul -> cast becomes ONE
// vectorised gpu-dialect kernel (GpuFused.c: 4 elements per thread here, as the f32 output is the widest
// element; every bf16 intermediate rounded to bf16 before the next op reads it), one launch step of the
// plan; the 6-element f32 chain (not a multiple of the width) becomes one fused linalg kernel instead, also
// one launch.
// RUN: rm -rf %t && cube-opt %s --pass-pipeline='builtin.module(cube-fuse,cube-group-kernels{target=cuda},cube-lower-to-linalg,cube-emit{out=%t target=cuda chip=sm_90 dump=true})' -o /dev/null
// RUN: FileCheck %s --check-prefix=PLAN < %t/plan.json
// RUN: FileCheck %s --check-prefix=PTX < %t/kernels.ptx
// RUN: FileCheck %s --check-prefix=DUMP < %t/kernels.lowered.mlir
// RUN: not grep -q '\.extern' %t/kernels.ptx
// RUN: grep -c '^\.visible \.entry' %t/kernels.ptx | FileCheck %s --check-prefix=ENTRIES
// Unfused (no cube-fuse): one launch per op.
// RUN: rm -rf %t.u && cube-opt %s --pass-pipeline='builtin.module(cube-group-kernels{target=cuda},cube-lower-to-linalg,cube-emit{out=%t.u target=cuda chip=sm_90})' -o /dev/null
// RUN: grep -c '"op": "launch"' %t.u/plan.json | FileCheck %s --check-prefix=UNFUSED

// PLAN:      "steps": [
// PLAN-NEXT:   {"op": "launch", "kernel": "k0_fused_0", "grid": [1, 1, 1], "block": [256, 1, 1], "shared_bytes": 0, "args": [{"buffer": "arg0"}, {"buffer": "arg1"}, {"buffer": "result0"}, {"buffer": "result1"}], "cube_op": "cube.fused", "scope": "model.layers.0.mlp"},
// PLAN-NEXT:   {"op": "launch", "kernel": "k1_fused_0", "grid": [1, 1, 1], "block": [256, 1, 1], "shared_bytes": 0, "args": [{"buffer": "arg2"}, {"buffer": "result2"}], "cube_op": "cube.fused", "scope": "model.layers.0.mlp"}
// PLAN-NEXT: ]

// PTX: .target sm_90
// PTX: .visible .entry k{{[01]}}_fused_0(
// PTX-LABEL: .visible .entry k0_fused_0(
// PTX:      ld.global.v2.b32
// PTX:      ld.global.v2.b32
// silu's result rounded to bf16 before mul reads it (LLVM then multiplies in bf16: the f32 product of two
// bf16 values is exact, so rounding it once is the same).
// PTX:      div.rn.f32 [[Q:%r[0-9]+]]
// PTX-NEXT: cvt.rn.bf16.f32 [[QB:%rs[0-9]+]], [[Q]];
// PTX-NEXT: mul.rn.bf16 {{.*}}[[QB]]
// PTX:      st.global.v2.b32
// PTX:      st.global.v4.b32
// ENTRIES: 2
// UNFUSED: 6

// DUMP-LABEL: func.func @k0_fused(%arg0: memref<256xbf16>, %arg1: memref<256xbf16>, %arg2: memref<256xbf16>, %arg3: memref<256xf32>)
// DUMP:      vector.load %arg0[%{{.*}}] {alignment = 8 : i64} : memref<256xbf16>, vector<4xbf16>
// DUMP:      vector.load %arg1[%{{.*}}] {alignment = 8 : i64} : memref<256xbf16>, vector<4xbf16>
// DUMP:      %[[S:.*]] = arith.addf
// DUMP-NEXT: %[[R:.*]] = arith.truncf %[[S]] : f32 to bf16
// DUMP-NEXT: arith.extf %[[R]] : bf16 to f32
// DUMP:      vector.store %{{.*}}, %arg2[%{{.*}}] {alignment = 8 : i64} : memref<256xbf16>, vector<4xbf16>
// DUMP:      vector.store %{{.*}}, %arg3[%{{.*}}] {alignment = 16 : i64} : memref<256xf32>, vector<4xf32>

module attributes {cube.modules = [["", "LlamaForCausalLM"], ["model", "LlamaModel"], ["model.layers", "ModuleList"], ["model.layers.0", "LlamaDecoderLayer"], ["model.layers.0.mlp", "LlamaMLP"]]} {
  func.func @forward(%x: tensor<4x64xbf16>, %y: tensor<4x64xbf16>, %z: tensor<6xf32>)
      -> (tensor<4x64xbf16>, tensor<4x64xf32>, tensor<6xf32>) {
    %a = "cube.add"(%x, %y) {cube.scope = "model.layers.0.mlp"} : (tensor<4x64xbf16>, tensor<4x64xbf16>) -> tensor<4x64xbf16>
    %b = "cube.silu"(%a) {cube.scope = "model.layers.0.mlp"} : (tensor<4x64xbf16>) -> tensor<4x64xbf16>
    %c = "cube.mul"(%b, %y) {cube.scope = "model.layers.0.mlp"} : (tensor<4x64xbf16>, tensor<4x64xbf16>) -> tensor<4x64xbf16>
    %d = "cube.cast"(%c) {cube.scope = "model.layers.0.mlp"} : (tensor<4x64xbf16>) -> tensor<4x64xf32>
    %n = "cube.neg"(%z) {cube.scope = "model.layers.0.mlp"} : (tensor<6xf32>) -> tensor<6xf32>
    %e = "cube.exp"(%n) {cube.scope = "model.layers.0.mlp"} : (tensor<6xf32>) -> tensor<6xf32>
    return %a, %d, %e : tensor<4x64xbf16>, tensor<4x64xf32>, tensor<6xf32>
  }
}
