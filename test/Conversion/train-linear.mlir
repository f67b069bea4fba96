// A hand-written @train_step (what cube-autodiff writes, for a linear model: embedding -> lm_head -> loss):
// compiled with func=train_step, its plan.json is a training plan (docs/plan-format.md "Training plans"):
// program, the lr/step inputs, the loss/grad_norm outputs, grad buffers, the state table, in-place updates,
// the memory object; report=true prints the memory table. test/numerics/test_train_plan.py runs it.
// RUN: rm -rf %t && cube-opt %s --pass-pipeline='builtin.module(cube-prepare-forward{func=train_step},cube-group-kernels{target=cpu func=train_step},cube-lower-to-linalg,cube-emit{out=%t report=true})' -o /dev/null 2>&1 | FileCheck %s --check-prefix=REPORT
// RUN: FileCheck %s < %t/plan.json
// With planning off every buffer has bytes of its own: a larger arena.
// RUN: rm -rf %t.off && cube-opt %s --pass-pipeline='builtin.module(cube-prepare-forward{func=train_step},cube-group-kernels{target=cpu func=train_step},cube-lower-to-linalg,cube-emit{out=%t.off plan-memory=false report=true})' -o /dev/null 2>&1 | FileCheck %s --check-prefix=OFF
// The forward of the same module is still an eval plan; @train_step is erased by nothing else.
// RUN: rm -rf %t.fw && cube-opt %s --pass-pipeline='builtin.module(cube-prepare-forward,cube-group-kernels{target=cpu},cube-lower-to-linalg,cube-emit{out=%t.fw})' -o /dev/null
// RUN: FileCheck %s --check-prefix=FWD < %t.fw/plan.json
// Errors: no such function; emit asked for another program than the grouped one.
// RUN: not cube-opt %s --pass-pipeline='builtin.module(cube-prepare-forward{func=grad_step})' -o /dev/null 2>&1 | FileCheck %s --check-prefix=NOFN
// RUN: not cube-opt %s --pass-pipeline='builtin.module(cube-prepare-forward{func=train_step},cube-group-kernels{target=cpu func=train_step},cube-lower-to-linalg,cube-emit{out=%t.bad func=forward})' -o /dev/null 2>&1 | FileCheck %s --check-prefix=MISMATCH

// REPORT:      cube memory report (@train_step, planning on)
// REPORT-NEXT:   params                         1024 bytes
// REPORT-NEXT:   grads                          1024 bytes
// REPORT-NEXT:   optimizer state                2048 bytes
// REPORT-NEXT:   activations (peak)
// REPORT-NEXT:   scratch (peak)
// REPORT-NEXT:   inputs + outputs                148 bytes
// REPORT-NEXT:   arena                         [[ARENA:[0-9]+]] bytes
// OFF: cube memory report (@train_step, planning off)
// OFF: arena

// CHECK:      "arena_bytes": [[ARENA:[0-9]+]],
// CHECK-NEXT: "alignment": 256,
// CHECK-NEXT: "program": "train_step",
// CHECK-NEXT: "memory": {"params": 1024, "grads": 1024, "optimizer_state": 2048, "activations_peak": {{[0-9]+}}, "scratch_peak": {{[0-9]+}}, "inputs_outputs": 148, "arena": [[ARENA]], "planned": true},
// CHECK-NEXT: "inputs": [
// CHECK-NEXT:   {"name": "input_ids", "buffer": "input_ids", "vocab_size": 16},
// CHECK-NEXT:   {"name": "labels", "buffer": "labels"},
// CHECK-NEXT:   {"name": "lr", "buffer": "lr"},
// CHECK-NEXT:   {"name": "step", "buffer": "step"}
// CHECK-NEXT: ],
// CHECK-NEXT: "outputs": [
// CHECK-NEXT:   {"name": "loss", "buffer": "loss"},
// CHECK-NEXT:   {"name": "grad_norm", "buffer": "grad_norm"}
// CHECK-NEXT: ],
// CHECK:        {"name": "lr", "kind": "input", "dtype": "f32", "shape": [], "bytes": 4,
// CHECK-NEXT:   {"name": "step", "kind": "input", "dtype": "i64", "shape": [], "bytes": 8,
// CHECK:        {"name": "[[DW:t[0-9]+]]", "kind": "grad", "dtype": "f32", "shape": [16, 8], "bytes": 512,
// CHECK:        {"name": "[[DE:t[0-9]+]]", "kind": "grad", "dtype": "f32", "shape": [16, 8], "bytes": 512,
// CHECK:        {"name": "o0", "kind": "optimizer-state", "dtype": "f32", "shape": [16, 8], "bytes": 512,
// CHECK:      "state": [
// CHECK-NEXT:   {"name": "emb.exp_avg", "param": "model.embed_tokens.weight", "buffer": "o0", "dtype": "f32", "shape": [16, 8], "init": "zeros"},
// CHECK:      "steps": [
// CHECK:        {"op": "call", "kernel": "{{k[0-9]+}}_adamw_update", "args": [{"buffer": "[[DE]]"}, {"buffer": "lr"}, {"buffer": "step"}, {"buffer": "{{t[0-9]+}}"}, {"buffer": "p0"}, {"buffer": "o0"}, {"buffer": "o1"}], "cube_op": "cube.adamw_update", "scope": "model.embed_tokens"}

// FWD: "program": "forward",
// FWD: "outputs": [
// FWD-NEXT: {"name": "loss", "buffer": "loss"}
// FWD-NEXT: ],
// NOFN: error: cube-prepare-forward: the module has no @grad_step function (with a body) to compile (run cube-autodiff{optimizer=none} first)
// MISMATCH: error: cube-emit: func=forward, but the module was grouped for func=train_step (cube-group-kernels)

module attributes {cube.modules = [["", "LlamaForCausalLM"], ["model", "LlamaModel"], ["model.embed_tokens", "Embedding"], ["lm_head", "Linear"]]} {
  func.func @forward(%ids: tensor<2x4xi64>, %lab: tensor<2x4xi64>) -> tensor<f32> {
    %e = "cube.param"() {cube.scope = "model.embed_tokens", init = "normal(std=0.02)", name = "model.embed_tokens.weight", trainable = true} : () -> tensor<16x8xf32>
    %w = "cube.param"() {cube.scope = "lm_head", init = "normal(std=0.02)", name = "lm_head.weight", trainable = true} : () -> tensor<16x8xf32>
    %h = "cube.embedding"(%ids, %e) {cube.scope = "model.embed_tokens"} : (tensor<2x4xi64>, tensor<16x8xf32>) -> tensor<2x4x8xf32>
    %lg = "cube.linear"(%h, %w) {cube.scope = "lm_head"} : (tensor<2x4x8xf32>, tensor<16x8xf32>) -> tensor<2x4x16xf32>
    %l2 = "cube.reshape"(%lg) : (tensor<2x4x16xf32>) -> tensor<8x16xf32>
    %lb = "cube.reshape"(%lab) : (tensor<2x4xi64>) -> tensor<8xi64>
    %loss = "cube.cross_entropy"(%l2, %lb) {ignore_index = -100 : i64} : (tensor<8x16xf32>, tensor<8xi64>) -> tensor<f32>
    return %loss : tensor<f32>
  }
  func.func @train_step(%ids: tensor<2x4xi64>, %lab: tensor<2x4xi64>, %lr: tensor<f32>, %step: tensor<i64>) -> (tensor<f32>, tensor<f32>) {
    %e = "cube.param"() {cube.scope = "model.embed_tokens", init = "normal(std=0.02)", name = "model.embed_tokens.weight", trainable = true} : () -> tensor<16x8xf32>
    %w = "cube.param"() {cube.scope = "lm_head", init = "normal(std=0.02)", name = "lm_head.weight", trainable = true} : () -> tensor<16x8xf32>
    %h = "cube.embedding"(%ids, %e) {cube.scope = "model.embed_tokens"} : (tensor<2x4xi64>, tensor<16x8xf32>) -> tensor<2x4x8xf32>
    %lg = "cube.linear"(%h, %w) {cube.scope = "lm_head"} : (tensor<2x4x8xf32>, tensor<16x8xf32>) -> tensor<2x4x16xf32>
    %l2 = "cube.reshape"(%lg) : (tensor<2x4x16xf32>) -> tensor<8x16xf32>
    %lb = "cube.reshape"(%lab) : (tensor<2x4xi64>) -> tensor<8xi64>
    %loss = "cube.cross_entropy"(%l2, %lb) {ignore_index = -100 : i64} : (tensor<8x16xf32>, tensor<8xi64>) -> tensor<f32>
    %one = "cube.fill"() {value = 1.0 : f64} : () -> tensor<f32>
    %dl = "cube.cross_entropy_grad"(%l2, %lb, %one) {ignore_index = -100 : i64} : (tensor<8x16xf32>, tensor<8xi64>, tensor<f32>) -> tensor<8x16xf32>
    %h2 = "cube.reshape"(%h) : (tensor<2x4x8xf32>) -> tensor<8x8xf32>
    %dw = "cube.matmul"(%dl, %h2) {cube.scope = "lm_head", transpose_lhs = true} : (tensor<8x16xf32>, tensor<8x8xf32>) -> tensor<16x8xf32>
    %dh = "cube.matmul"(%dl, %w) {cube.scope = "lm_head"} : (tensor<8x16xf32>, tensor<16x8xf32>) -> tensor<8x8xf32>
    %dh3 = "cube.reshape"(%dh) : (tensor<8x8xf32>) -> tensor<2x4x8xf32>
    %de = "cube.embedding_grad"(%ids, %dh3) {cube.scope = "model.embed_tokens", num_embeddings = 16 : i64} : (tensor<2x4xi64>, tensor<2x4x8xf32>) -> tensor<16x8xf32>
    %s1 = "cube.sumsq"(%de) : (tensor<16x8xf32>) -> tensor<f32>
    %s2 = "cube.sumsq"(%dw) : (tensor<16x8xf32>) -> tensor<f32>
    %s = "cube.add"(%s1, %s2) : (tensor<f32>, tensor<f32>) -> tensor<f32>
    %r = "cube.rsqrt"(%s) : (tensor<f32>) -> tensor<f32>
    %norm = "cube.div"(%one, %r) : (tensor<f32>, tensor<f32>) -> tensor<f32>
    %m0 = "cube.opt_state"() {cube.scope = "model.embed_tokens", init = "zeros", name = "emb.exp_avg", param = "model.embed_tokens.weight"} : () -> tensor<16x8xf32>
    %v0 = "cube.opt_state"() {cube.scope = "model.embed_tokens", init = "zeros", name = "emb.exp_avg_sq", param = "model.embed_tokens.weight"} : () -> tensor<16x8xf32>
    "cube.adamw_update"(%e, %de, %m0, %v0, %lr, %step, %one) {beta1 = 0.9 : f64, beta2 = 0.999 : f64, cube.scope = "model.embed_tokens", eps = 1.0e-08 : f64, weight_decay = 0.01 : f64} : (tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<f32>, tensor<i64>, tensor<f32>) -> ()
    %m1 = "cube.opt_state"() {cube.scope = "lm_head", init = "zeros", name = "lm_head.exp_avg", param = "lm_head.weight"} : () -> tensor<16x8xf32>
    %v1 = "cube.opt_state"() {cube.scope = "lm_head", init = "zeros", name = "lm_head.exp_avg_sq", param = "lm_head.weight"} : () -> tensor<16x8xf32>
    "cube.adamw_update"(%w, %dw, %m1, %v1, %lr, %step, %one) {beta1 = 0.9 : f64, beta2 = 0.999 : f64, cube.scope = "lm_head", eps = 1.0e-08 : f64, weight_decay = 0.01 : f64} : (tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<f32>, tensor<i64>, tensor<f32>) -> ()
    return %loss, %norm : tensor<f32>, tensor<f32>
  }
}
