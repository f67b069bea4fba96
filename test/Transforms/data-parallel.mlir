// cube-data-parallel on a hand-written @train_step (embedding -> lm_head -> loss; the module of
// test/Conversion/train-linear.mlir): each gradient of a cube.adamw_update and the loss are replaced by a
// cube.all_reduce {reduction = "avg"}; gradients are bucketed in the order they become final (lm_head's dW
// before the embedding's), each bucket right after the op that finishes its last gradient; the loss joins
// the last bucket; the gradient norm and AdamW read the reduced values. Then the plan: one all_reduce step per
// bucket, a wait step before the first step that reads a reduced buffer.
// RUN: cube-opt %s --cube-data-parallel='bucket-mb=0' | FileCheck %s --check-prefix=SPLIT
// RUN: cube-opt %s --cube-data-parallel | FileCheck %s --check-prefix=ONE
// RUN: rm -rf %t && cube-opt %s --pass-pipeline='builtin.module(cube-data-parallel{bucket-mb=0},cube-verify,cube-prepare-forward{func=train_step},cube-group-kernels{target=cpu func=train_step},cube-lower-to-linalg,cube-emit{out=%t})' -o /dev/null
// RUN: FileCheck %s --check-prefix=PLAN < %t/plan.json
// Errors: twice; a function that is not a training function; a module without @train_step.
// RUN: not cube-opt %s --pass-pipeline='builtin.module(cube-data-parallel,cube-data-parallel)' 2>&1 | FileCheck %s --check-prefix=TWICE
// RUN: not cube-opt %s --cube-data-parallel='func=forward' 2>&1 | FileCheck %s --check-prefix=FUNC
// RUN: not cube-opt %s --cube-data-parallel='func=grad_step' 2>&1 | FileCheck %s --check-prefix=NOFN
// RUN: not cube-opt %s --cube-data-parallel='bucket-mb=-1' 2>&1 | FileCheck %s --check-prefix=BADMB

// SPLIT-LABEL: func.func @train_step
// SPLIT:      %[[DW:.*]] = "cube.matmul"(%{{.*}}) {cube.scope = "lm_head", transpose_lhs = true}
// SPLIT-NEXT: %[[RDW:.*]] = "cube.all_reduce"(%[[DW]]) {bucket = 0 : i64, reduction = "avg"} : (tensor<16x8xf32>) -> tensor<16x8xf32>
// SPLIT:      %[[DE:.*]] = "cube.embedding_grad"
// SPLIT-NEXT: %[[RDE:.*]] = "cube.all_reduce"(%[[DE]]) {bucket = 1 : i64, reduction = "avg"}
// SPLIT-NEXT: %[[RL:.*]] = "cube.all_reduce"(%[[LOSS:.*]]) {bucket = 1 : i64, reduction = "avg"} : (tensor<f32>) -> tensor<f32>
// SPLIT-NEXT: "cube.sumsq"(%[[RDE]])
// SPLIT-NEXT: "cube.sumsq"(%[[RDW]])
// SPLIT:      "cube.adamw_update"(%{{.*}}, %[[RDE]],
// SPLIT:      "cube.adamw_update"(%{{.*}}, %[[RDW]],
// SPLIT:      return %[[RL]], %{{.*}} : tensor<f32>, tensor<f32>

// ONE-LABEL: func.func @train_step
// ONE:      "cube.embedding_grad"
// ONE-NEXT: "cube.all_reduce"({{.*}}) {bucket = 0 : i64, reduction = "avg"} : (tensor<16x8xf32>) -> tensor<16x8xf32>
// ONE-NEXT: "cube.all_reduce"({{.*}}) {bucket = 0 : i64, reduction = "avg"} : (tensor<16x8xf32>) -> tensor<16x8xf32>
// ONE-NEXT: "cube.all_reduce"({{.*}}) {bucket = 0 : i64, reduction = "avg"} : (tensor<f32>) -> tensor<f32>
// ONE-NOT:  "cube.all_reduce"

// PLAN:      {"op": "all_reduce", "bucket": 0, "reduction": "avg", "buffers": [{"buffer": "[[B0:t[0-9]+]]"}], "cube_op": "cube.all_reduce"
// PLAN:      {"op": "all_reduce", "bucket": 1, "reduction": "avg", "buffers": [{"buffer": "{{t[0-9]+}}"}, {"buffer": "{{t[0-9]+}}"}], "cube_op": "cube.all_reduce"
// PLAN-NEXT: {"op": "wait", "bucket": 1, "cube_op": "cube.all_reduce"}
// PLAN-NEXT: {"op": "call", "kernel": "{{k[0-9]+}}_sumsq"
// PLAN-NEXT: {"op": "wait", "bucket": 0, "cube_op": "cube.all_reduce"}
// PLAN-NEXT: {"op": "call", "kernel": "{{k[0-9]+}}_sumsq"
// PLAN-NOT:  "wait"
// PLAN:      {"op": "copy", "src": {{.*}}, "dst": {"buffer": "loss"}

// TWICE: error: cube-data-parallel: the function already has all_reduce ops (the pass ran before)
// FUNC: error: cube-data-parallel: func must be train_step or grad_step, got 'forward'
// NOFN: error: cube-data-parallel: the module has no @grad_step function
// BADMB: option 'bucket-mb' has value '-1', expected a number in [0, 1e+06]

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
