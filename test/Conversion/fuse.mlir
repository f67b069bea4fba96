// cube-fuse: which elementwise ops get which cube.fuse_group (greedy, producer -> consumer in block order),
// what breaks a group (a non-elementwise op on the path, convexity, the 8-input / 3-output / max-ops caps, an
// in-place op in the span), the order it leaves (each group consecutive), its report; then the ONE kernel
// function per group that cube-group-kernels outlines, its single linalg.generic (bf16 intermediates rounded
// and extended back) and, on cuda, the gpu-dialect marking.
// RUN: cube-opt %s --cube-fuse='report=true' 2> %t.report | FileCheck %s
// RUN: FileCheck %s --check-prefix=REPORT < %t.report
// RUN: cube-opt %s --pass-pipeline='builtin.module(cube-fuse,cube-verify)' | cube-opt --cube-fuse | FileCheck %s
// RUN: cube-opt %s --pass-pipeline='builtin.module(cube-fuse{max-ops=2 report=true})' -o /dev/null 2>&1 | FileCheck %s --check-prefix=MAX2
// RUN: cube-opt %s --pass-pipeline='builtin.module(cube-fuse{func=train_step report=true})' 2>&1 | FileCheck %s --check-prefix=INPLACE
// RUN: cube-opt %s --pass-pipeline='builtin.module(cube-fuse,cube-group-kernels{target=cpu},cube-verify)' | FileCheck %s --check-prefix=KERNEL
// RUN: cube-opt %s --pass-pipeline='builtin.module(cube-fuse,cube-group-kernels{target=cpu},cube-lower-to-linalg)' | FileCheck %s --check-prefix=LINALG
// RUN: cube-opt %s --pass-pipeline='builtin.module(cube-fuse,cube-group-kernels{target=cuda})' | FileCheck %s --check-prefix=CUDA
// RUN: not cube-opt %s --pass-pipeline='builtin.module(cube-fuse{func=nothing})' 2>&1 | FileCheck %s --check-prefix=NOFN
// RUN: not cube-opt %s --pass-pipeline='builtin.module(cube-group-kernels,cube-fuse)' 2>&1 | FileCheck %s --check-prefix=LATE

// CHECK-LABEL: func.func @forward
// A: add -> mul -> silu -> cast, bf16 intermediates: one group (inputs x, y; outputs a, which is returned,
// and d).
// CHECK:      %[[A:.*]] = "cube.add"(%arg0, %arg1) {cube.fuse_group = 0 : i64
// CHECK-NEXT: %[[B:.*]] = "cube.mul"(%[[A]], %arg1) {cube.fuse_group = 0 : i64
// CHECK-NEXT: %[[C:.*]] = "cube.silu"(%[[B]]) {cube.fuse_group = 0 : i64
// CHECK-NEXT: %[[D:.*]] = "cube.cast"(%[[C]]) {cube.fuse_group = 0 : i64
// B: e feeds the matmul m, which feeds f: e with f would not be convex; e stays alone, f goes with g.
// CHECK-NEXT: %[[E:.*]] = "cube.neg"(%arg2) {cube.scope = "e"}
// CHECK-NEXT: %[[M:.*]] = "cube.matmul"(%[[E]], %arg3)
// CHECK-NEXT: %[[F:.*]] = "cube.mul"(%[[E]], %[[M]]) {cube.fuse_group = 1 : i64
// CHECK-NEXT: %[[G:.*]] = "cube.exp"(%[[F]]) {cube.fuse_group = 1 : i64
// C: h and k form a group; the matmul r between them depends on h, so it moves after k.
// CHECK-NEXT: %[[H:.*]] = "cube.sub"(%arg2, %arg4) {cube.fuse_group = 2 : i64
// CHECK-NEXT: %[[K:.*]] = "cube.exp"(%[[H]]) {cube.fuse_group = 2 : i64
// CHECK-NEXT: %[[R:.*]] = "cube.matmul"(%[[H]], %arg3) {cube.scope = "r"}
// D: a chain of adds over 9 distinct inputs: the first 7 adds (8 inputs) fuse, the 8th stays alone.
// CHECK-NEXT: "cube.add"(%arg2, %arg4) {cube.fuse_group = 3 : i64
// CHECK-COUNT-6: {cube.fuse_group = 3 : i64
// CHECK-NEXT: %[[S8:.*]] = "cube.add"(%{{.*}}, %arg11) {cube.scope = "s8"}
// E: four negs, each returned: the first three (3 outputs) fuse, the fourth stays alone.
// CHECK-NEXT: "cube.neg"(%arg4) {cube.fuse_group = 4 : i64
// CHECK-NEXT: {cube.fuse_group = 4 : i64
// CHECK-NEXT: {cube.fuse_group = 4 : i64
// CHECK-NEXT: "cube.neg"({{.*}}) {cube.scope = "n4"}
// F: a reshape between two elementwise ops depends on the first and feeds the second: not fused.
// CHECK-NEXT: "cube.add"(%arg5, %arg6) {cube.scope = "q"}
// CHECK-NEXT: "cube.reshape"
// CHECK-NEXT: "cube.mul"({{.*}}) {cube.scope = "q2"}
// CHECK-NOT: cube.fuse_group
// CHECK: return

// REPORT:      cube-fuse: @forward group 0: 4 ops, 2 inputs, 2 outputs: cube.add [a], cube.mul [b], cube.silu [c], cube.cast [d]
// REPORT-NEXT: cube-fuse: @forward group 1: 2 ops, 2 inputs, 1 output: cube.mul [f], cube.exp [g]
// REPORT-NEXT: cube-fuse: @forward group 2: 2 ops, 2 inputs, 2 outputs: cube.sub [h], cube.exp [k]
// REPORT-NEXT: cube-fuse: @forward group 3: 7 ops, 8 inputs, 1 output: cube.add [s1], cube.add [s2], cube.add [s3], cube.add [s4], cube.add [s5], cube.add [s6], cube.add [s7]
// REPORT-NEXT: cube-fuse: @forward group 4: 3 ops, 1 input, 3 outputs: cube.neg [n1], cube.neg [n2], cube.neg [n3]
// REPORT-NEXT: cube-fuse: 5 groups, 18 ops fused into 5 kernels (13 launches saved)
// REPORT-NOT: cube-fuse

// max-ops=2: pairs only.
// MAX2: cube-fuse: @forward group 0: 2 ops, 2 inputs, 2 outputs: cube.add [a], cube.mul [b]
// MAX2: cube-fuse: @forward group 1: 2 ops, 1 input, 1 output: cube.silu [c], cube.cast [d]
// MAX2: cube-fuse: 10 groups, 20 ops fused into 10 kernels (10 launches saved)

// An in-place update (no results) between two ops keeps them apart; in @train_step only that pair exists.
// INPLACE: cube-fuse: 0 groups, 0 ops fused into 0 kernels (0 launches saved)
// INPLACE-LABEL: func.func @train_step
// INPLACE-NOT: cube.fuse_group
// INPLACE: return

// KERNEL-LABEL: func.func @forward
// KERNEL:      %[[OA:.*]] = tensor.empty() : tensor<4x8xbf16>
// KERNEL-NEXT: %[[OD:.*]] = tensor.empty() : tensor<4x8xf32>
// KERNEL-NEXT: %[[FA:.*]]:2 = call @k0_fused(%arg0, %arg1, %[[OA]], %[[OD]]) {cube.op = "cube.fused", cube.scope = "a"} : (tensor<4x8xbf16>, tensor<4x8xbf16>, tensor<4x8xbf16>, tensor<4x8xf32>) -> (tensor<4x8xbf16>, tensor<4x8xf32>)
// KERNEL:      call @k4_fused({{.*}}) {cube.op = "cube.fused", cube.scope = "h"}
// KERNEL-NEXT: tensor.empty
// The matmul of r is the one of m: the same kernel function is called (lib/Conversion/KernelDedup.c).
// KERNEL-NEXT: call @k2_matmul
// KERNEL:      call @k{{[0-9]+}}_fused({{.*}}) {cube.op = "cube.fused", cube.scope = "s1"} : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
// KERNEL:      = call @k{{[0-9]+}}_fused({{.*}}) {cube.op = "cube.fused", cube.scope = "n1"} : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>)
// KERNEL:      return %[[FA]]#0, %[[FA]]#1
// The kernel function: inputs, then one out per output; the group's ops in its body, on its arguments.
// KERNEL:      func.func private @k0_fused(%arg0: tensor<4x8xbf16>, %arg1: tensor<4x8xbf16>, %arg2: tensor<4x8xbf16>, %arg3: tensor<4x8xf32>) -> (tensor<4x8xbf16>, tensor<4x8xf32>) attributes {cube.fused_ops = "cube.add,cube.mul,cube.silu,cube.cast", cube.kernel = "cube.fused", cube.kernel_inputs = 2 : i64, cube.kernel_outs = 2 : i64, cube.kernel_scratch = 0 : i64}
// KERNEL-NEXT: %[[KA:.*]] = "cube.add"(%arg0, %arg1)
// KERNEL-NEXT: %[[KB:.*]] = "cube.mul"(%[[KA]], %arg1)
// KERNEL-NEXT: %[[KC:.*]] = "cube.silu"(%[[KB]])
// KERNEL-NEXT: %[[KD:.*]] = "cube.cast"(%[[KC]])
// KERNEL-NEXT: return %[[KA]], %[[KD]] : tensor<4x8xbf16>, tensor<4x8xf32>

// One generic for the whole group: x and y extended once, every bf16 intermediate rounded (truncf) where the
// unfused kernel would store it and extended back (extf) before the next op reads it; a (an output) and d
// are yielded; no tensor.empty (nothing to allocate).
// LINALG-LABEL: func.func private @k0_fused(%arg0: tensor<4x8xbf16>, %arg1: tensor<4x8xbf16>, %arg2: tensor<4x8xbf16>, %arg3: tensor<4x8xf32>) -> (tensor<4x8xbf16>, tensor<4x8xf32>)
// LINALG-NOT:  tensor.empty
// LINALG:      linalg.generic {{.*}} ins(%{{.*}}, %{{.*}} : tensor<32xbf16>, tensor<32xbf16>) outs(%{{.*}}, %{{.*}} : tensor<32xbf16>, tensor<32xf32>)
// LINALG-NEXT: ^bb0(%[[I0:.*]]: bf16, %[[I1:.*]]: bf16, %{{.*}}: bf16, %{{.*}}: f32):
// LINALG-NEXT:   %[[X:.*]] = arith.extf %[[I0]] : bf16 to f32
// LINALG-NEXT:   %[[Y:.*]] = arith.extf %[[I1]] : bf16 to f32
// LINALG-NEXT:   %[[S:.*]] = arith.addf %[[X]], %[[Y]] : f32
// LINALG-NEXT:   %[[SR:.*]] = arith.truncf %[[S]] : f32 to bf16
// LINALG-NEXT:   %[[SE:.*]] = arith.extf %[[SR]] : bf16 to f32
// LINALG-NEXT:   %[[P:.*]] = arith.mulf %[[SE]], %[[Y]] : f32
// LINALG-NEXT:   %[[PR:.*]] = arith.truncf %[[P]] : f32 to bf16
// LINALG-NEXT:   %[[PE:.*]] = arith.extf %[[PR]] : bf16 to f32
// LINALG-NEXT:   arith.negf %[[PE]]
// LINALG:        %[[L:.*]] = arith.divf %[[PE]], %{{.*}} : f32
// LINALG-NEXT:   %[[LR:.*]] = arith.truncf %[[L]] : f32 to bf16
// LINALG-NEXT:   %[[LE:.*]] = arith.extf %[[LR]] : bf16 to f32
// LINALG-NEXT:   linalg.yield %[[SR]], %[[LE]] : bf16, f32
// LINALG-NOT:  linalg.generic
// LINALG:      return

// On cuda each fused function whose element count is a multiple of the vector width is a gpu-dialect kernel.
// CUDA: func.func private @k0_fused({{.*}} attributes {cube.fused_ops = "cube.add,cube.mul,cube.silu,cube.cast", cube.kernel = "cube.fused", cube.kernel_gpu,

// NOFN: error: cube-fuse: the module has no @nothing function (with a body) to compile
// LATE: error: cube-fuse: the module is already grouped into kernels (run cube-fuse before cube-group-kernels)

module attributes {cube.modules = [["", "LlamaForCausalLM"], ["a", "Identity"], ["b", "Identity"], ["c", "Identity"], ["d", "Identity"], ["e", "Identity"], ["m", "Identity"], ["f", "Identity"], ["g", "Identity"], ["h", "Identity"], ["r", "Identity"], ["k", "Identity"], ["s1", "Identity"], ["s2", "Identity"], ["s3", "Identity"], ["s4", "Identity"], ["s5", "Identity"], ["s6", "Identity"], ["s7", "Identity"], ["s8", "Identity"], ["n1", "Identity"], ["n2", "Identity"], ["n3", "Identity"], ["n4", "Identity"], ["q", "Identity"], ["qr", "Identity"], ["q2", "Identity"]]} {
  func.func @forward(%x: tensor<4x8xbf16>, %y: tensor<4x8xbf16>, %z0: tensor<4x8xf32>, %w: tensor<8x8xf32>,
                     %z1: tensor<4x8xf32>, %z2: tensor<4x8xf32>, %z3: tensor<4x8xf32>, %z4: tensor<4x8xf32>,
                     %z5: tensor<4x8xf32>, %z6: tensor<4x8xf32>, %z7: tensor<4x8xf32>, %z8: tensor<4x8xf32>)
      -> (tensor<4x8xbf16>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>,
          tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<32xf32>) {
    %a = "cube.add"(%x, %y) {cube.scope = "a"} : (tensor<4x8xbf16>, tensor<4x8xbf16>) -> tensor<4x8xbf16>
    %b = "cube.mul"(%a, %y) {cube.scope = "b"} : (tensor<4x8xbf16>, tensor<4x8xbf16>) -> tensor<4x8xbf16>
    %c = "cube.silu"(%b) {cube.scope = "c"} : (tensor<4x8xbf16>) -> tensor<4x8xbf16>
    %d = "cube.cast"(%c) {cube.scope = "d"} : (tensor<4x8xbf16>) -> tensor<4x8xf32>
    %e = "cube.neg"(%z0) {cube.scope = "e"} : (tensor<4x8xf32>) -> tensor<4x8xf32>
    %m = "cube.matmul"(%e, %w) {cube.scope = "m"} : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
    %f = "cube.mul"(%e, %m) {cube.scope = "f"} : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %g = "cube.exp"(%f) {cube.scope = "g"} : (tensor<4x8xf32>) -> tensor<4x8xf32>
    %h = "cube.sub"(%z0, %z1) {cube.scope = "h"} : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %r = "cube.matmul"(%h, %w) {cube.scope = "r"} : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
    %k = "cube.exp"(%h) {cube.scope = "k"} : (tensor<4x8xf32>) -> tensor<4x8xf32>
    %s1 = "cube.add"(%z0, %z1) {cube.scope = "s1"} : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %s2 = "cube.add"(%s1, %z2) {cube.scope = "s2"} : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %s3 = "cube.add"(%s2, %z3) {cube.scope = "s3"} : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %s4 = "cube.add"(%s3, %z4) {cube.scope = "s4"} : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %s5 = "cube.add"(%s4, %z5) {cube.scope = "s5"} : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %s6 = "cube.add"(%s5, %z6) {cube.scope = "s6"} : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %s7 = "cube.add"(%s6, %z7) {cube.scope = "s7"} : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %s8 = "cube.add"(%s7, %z8) {cube.scope = "s8"} : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %n1 = "cube.neg"(%z1) {cube.scope = "n1"} : (tensor<4x8xf32>) -> tensor<4x8xf32>
    %n2 = "cube.neg"(%n1) {cube.scope = "n2"} : (tensor<4x8xf32>) -> tensor<4x8xf32>
    %n3 = "cube.neg"(%n2) {cube.scope = "n3"} : (tensor<4x8xf32>) -> tensor<4x8xf32>
    %n4 = "cube.neg"(%n3) {cube.scope = "n4"} : (tensor<4x8xf32>) -> tensor<4x8xf32>
    %q = "cube.add"(%z2, %z3) {cube.scope = "q"} : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %qr = "cube.reshape"(%q) {cube.scope = "qr"} : (tensor<4x8xf32>) -> tensor<32xf32>
    %q2 = "cube.mul"(%qr, %qr) {cube.scope = "q2"} : (tensor<32xf32>, tensor<32xf32>) -> tensor<32xf32>
    return %a, %d, %g, %k, %r, %s8, %n1, %n2, %n3, %n4, %q2
        : tensor<4x8xbf16>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>,
          tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<32xf32>
  }

  func.func @train_step(%p0: tensor<4x8xf32>, %gr: tensor<4x8xf32>, %lr: tensor<f32>, %step: tensor<i64>,
                        %one: tensor<f32>) -> tensor<4x8xf32> {
    %w = "cube.param"() {name = "w", init = "zeros", trainable = true} : () -> tensor<4x8xf32>
    %m = "cube.opt_state"() {name = "w.exp_avg", init = "zeros", param = "w"} : () -> tensor<4x8xf32>
    %v = "cube.opt_state"() {name = "w.exp_avg_sq", init = "zeros", param = "w"} : () -> tensor<4x8xf32>
    %a = "cube.add"(%w, %p0) : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    "cube.adamw_update"(%w, %gr, %m, %v, %lr, %step, %one) {beta1 = 0.9 : f64, beta2 = 0.999 : f64, eps = 1.0e-8 : f64, weight_decay = 0.0 : f64} : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<f32>, tensor<i64>, tensor<f32>) -> ()
    %b = "cube.mul"(%a, %w) : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    return %b : tensor<4x8xf32>
  }
}
