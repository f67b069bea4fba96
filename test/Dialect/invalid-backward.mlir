// One case per rule of the backward and optimizer ops (docs/dialect.md, "Backward and optimizer ops"),
// and the shared-parameter rule (a name declared in several functions must agree in type, init, flag).
// RUN: not cube-opt %s --split-input-file 2>&1 | FileCheck %s --implicit-check-not="error:"

func.func @eg_ids(%i: tensor<2x3xf32>, %g: tensor<2x3x8xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.embedding_grad' op operand #0 (ids) must have element type i32 or i64, got f32
  %0 = "cube.embedding_grad"(%i, %g) {num_embeddings = 16 : i64} : (tensor<2x3xf32>, tensor<2x3x8xf32>) -> tensor<16x8xf32>
  return
}

// -----

func.func @eg_n(%i: tensor<2x3xi64>, %g: tensor<2x3x8xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.embedding_grad' op num_embeddings must be > 0, got 0
  %0 = "cube.embedding_grad"(%i, %g) {num_embeddings = 0 : i64} : (tensor<2x3xi64>, tensor<2x3x8xf32>) -> tensor<16x8xf32>
  return
}

// -----

func.func @eg_shape(%i: tensor<2x4xi64>, %g: tensor<2x3x8xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.embedding_grad' op dout is 2x3x8 but ids are 2x4 (dout must have the ids' shape followed by H)
  %0 = "cube.embedding_grad"(%i, %g) {num_embeddings = 16 : i64} : (tensor<2x4xi64>, tensor<2x3x8xf32>) -> tensor<16x8xf32>
  return
}

// -----

func.func @eg_result(%i: tensor<2x3xi64>, %g: tensor<2x3x8xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.embedding_grad' op result is 15x8xf32 but expected 16x8xf32 ([num_embeddings, H], dout's element type)
  %0 = "cube.embedding_grad"(%i, %g) {num_embeddings = 16 : i64} : (tensor<2x3xi64>, tensor<2x3x8xf32>) -> tensor<15x8xf32>
  return
}

// -----

func.func @rg_w(%x: tensor<2x8xf32>, %w: tensor<4xf32>) {
  // CHECK: :[[@LINE+1]]:10: error: 'cube.rmsnorm_grad' op weight is 4 but input has hidden size H = 8
  %0:2 = "cube.rmsnorm_grad"(%x, %w, %x) {eps = 1.0e-6 : f64} : (tensor<2x8xf32>, tensor<4xf32>, tensor<2x8xf32>) -> (tensor<2x8xf32>, tensor<4xf32>)
  return
}

// -----

func.func @rg_dout(%x: tensor<2x8xf32>, %w: tensor<8xf32>, %g: tensor<3x8xf32>) {
  // CHECK: :[[@LINE+1]]:10: error: 'cube.rmsnorm_grad' op dout is 3x8xf32 but input is 2x8xf32 (dout has the input's type)
  %0:2 = "cube.rmsnorm_grad"(%x, %w, %g) {eps = 1.0e-6 : f64} : (tensor<2x8xf32>, tensor<8xf32>, tensor<3x8xf32>) -> (tensor<2x8xf32>, tensor<8xf32>)
  return
}

// -----

func.func @rg_res(%x: tensor<2x8xf32>, %w: tensor<8xf32>) {
  // CHECK: :[[@LINE+1]]:10: error: 'cube.rmsnorm_grad' op result #1 is 2x8xf32 but expected 8xf32 (dweight has the weight's type)
  %0:2 = "cube.rmsnorm_grad"(%x, %w, %x) {eps = 1.0e-6 : f64} : (tensor<2x8xf32>, tensor<8xf32>, tensor<2x8xf32>) -> (tensor<2x8xf32>, tensor<2x8xf32>)
  return
}

// -----

func.func @rg_count(%x: tensor<2x8xf32>, %w: tensor<8xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: op expects exactly 2 results, but got 1
  %0 = "cube.rmsnorm_grad"(%x, %w, %x) {eps = 1.0e-6 : f64} : (tensor<2x8xf32>, tensor<8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  return
}

// -----

func.func @rope_odd(%g: tensor<1x2x3x5xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.rope_grad' op head dim D = 5 must be even (dout is 1x2x3x5)
  %0 = "cube.rope_grad"(%g) {theta = 10000.0 : f64} : (tensor<1x2x3x5xf32>) -> tensor<1x2x3x5xf32>
  return
}

// -----

func.func @sm_dim(%y: tensor<2x8xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.softmax_grad' op dim 2 is out of range [-2, 2) for the output of rank 2
  %0 = "cube.softmax_grad"(%y, %y) {dim = 2 : i64} : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  return
}

// -----

func.func @sm_dout(%y: tensor<2x8xf32>, %g: tensor<2x8xf16>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.softmax_grad' op dout is 2x8xf16 but output is 2x8xf32 (dout has the output's type)
  %0 = "cube.softmax_grad"(%y, %g) {dim = 1 : i64} : (tensor<2x8xf32>, tensor<2x8xf16>) -> tensor<2x8xf32>
  return
}

// -----

func.func @att_dout(%q: tensor<2x4x3x8xf32>, %k: tensor<2x2x3x8xf32>) {
  // CHECK: :[[@LINE+1]]:10: error: 'cube.attention_grad' op dout is 2x2x3x8xf32 but query is 2x4x3x8xf32 (dout has the query's type, the attention's output type)
  %0:3 = "cube.attention_grad"(%q, %k, %k, %k) {causal = true} : (tensor<2x4x3x8xf32>, tensor<2x2x3x8xf32>, tensor<2x2x3x8xf32>, tensor<2x2x3x8xf32>) -> (tensor<2x4x3x8xf32>, tensor<2x2x3x8xf32>, tensor<2x2x3x8xf32>)
  return
}

// -----

func.func @att_res(%q: tensor<2x4x3x8xf32>, %k: tensor<2x2x3x8xf32>) {
  // CHECK: :[[@LINE+1]]:10: error: 'cube.attention_grad' op result #1 is 2x4x3x8xf32 but expected 2x2x3x8xf32 (dkey has the key's type)
  %0:3 = "cube.attention_grad"(%q, %k, %k, %q) {causal = true} : (tensor<2x4x3x8xf32>, tensor<2x2x3x8xf32>, tensor<2x2x3x8xf32>, tensor<2x4x3x8xf32>) -> (tensor<2x4x3x8xf32>, tensor<2x4x3x8xf32>, tensor<2x2x3x8xf32>)
  return
}

// -----

func.func @att_heads(%q: tensor<2x3x3x8xf32>, %k: tensor<2x2x3x8xf32>) {
  // CHECK: :[[@LINE+1]]:10: error: 'cube.attention_grad' op query has 3 heads, not a multiple of key's 2 heads (GQA needs Hq % Hkv == 0, Hkv > 0)
  %0:3 = "cube.attention_grad"(%q, %k, %k, %q) {causal = true} : (tensor<2x3x3x8xf32>, tensor<2x2x3x8xf32>, tensor<2x2x3x8xf32>, tensor<2x3x3x8xf32>) -> (tensor<2x3x3x8xf32>, tensor<2x2x3x8xf32>, tensor<2x2x3x8xf32>)
  return
}

// -----

func.func @ce_dloss(%l: tensor<4x8xf32>, %y: tensor<4xi64>, %d: tensor<1xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.cross_entropy_grad' op operand #2 (dloss) must be tensor<f32>, got tensor<1xf32>
  %0 = "cube.cross_entropy_grad"(%l, %y, %d) {ignore_index = -100 : i64} : (tensor<4x8xf32>, tensor<4xi64>, tensor<1xf32>) -> tensor<4x8xf32>
  return
}

// -----

func.func @ce_labels(%l: tensor<4x8xf32>, %y: tensor<3xi64>, %d: tensor<f32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.cross_entropy_grad' op labels are 3 but logits are 4x8 (labels must have the logits' shape without the last dim)
  %0 = "cube.cross_entropy_grad"(%l, %y, %d) {ignore_index = -100 : i64} : (tensor<4x8xf32>, tensor<3xi64>, tensor<f32>) -> tensor<4x8xf32>
  return
}

// -----

func.func @ce_labtype(%l: tensor<4x8xf32>, %y: tensor<4xf32>, %d: tensor<f32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.cross_entropy_grad' op operand #1 (labels) must have element type i32 or i64, got f32
  %0 = "cube.cross_entropy_grad"(%l, %y, %d) {ignore_index = -100 : i64} : (tensor<4x8xf32>, tensor<4xf32>, tensor<f32>) -> tensor<4x8xf32>
  return
}

// -----

func.func @ce_res(%l: tensor<4x8xf32>, %y: tensor<4xi64>, %d: tensor<f32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.cross_entropy_grad' op result is tensor<f32> but expected 4x8xf32 (the logits' type)
  %0 = "cube.cross_entropy_grad"(%l, %y, %d) {ignore_index = -100 : i64} : (tensor<4x8xf32>, tensor<4xi64>, tensor<f32>) -> tensor<f32>
  return
}

// -----

func.func @silu_dout(%x: tensor<2x8xf32>, %g: tensor<2x4xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.silu_grad' op dout is 2x4xf32 but input is 2x8xf32 (dout has the input's type)
  %0 = "cube.silu_grad"(%x, %g) : (tensor<2x8xf32>, tensor<2x4xf32>) -> tensor<2x8xf32>
  return
}

// -----

func.func @rs_range(%x: tensor<2x8xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.reduce_sum' op dims entry #0 is 2, out of range [0, 2)
  %0 = "cube.reduce_sum"(%x) {dims = array<i64: 2>} : (tensor<2x8xf32>) -> tensor<2xf32>
  return
}

// -----

func.func @rs_sorted(%x: tensor<2x8xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.reduce_sum' op dims must be sorted and unique, but entry #1 (0) follows 1
  %0 = "cube.reduce_sum"(%x) {dims = array<i64: 1, 0>} : (tensor<2x8xf32>) -> tensor<f32>
  return
}

// -----

func.func @rs_result(%x: tensor<2x8xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.reduce_sum' op result is 2xf32 but expected 8xf32 (the input's dims without the summed ones)
  %0 = "cube.reduce_sum"(%x) {dims = array<i64: 0>} : (tensor<2x8xf32>) -> tensor<2xf32>
  return
}

// -----

func.func @rs_kind(%x: tensor<2x8xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.reduce_sum' op dims must be an array<i64: ...>, got array<i32: 0>
  %0 = "cube.reduce_sum"(%x) {dims = array<i32: 0>} : (tensor<2x8xf32>) -> tensor<8xf32>
  return
}

// -----

func.func @pad_rank(%x: tensor<2x8xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.pad' op result has rank 1 but input has rank 2 (a pad keeps the rank)
  %0 = "cube.pad"(%x) {offsets = array<i64: 0, 0>} : (tensor<2x8xf32>) -> tensor<16xf32>
  return
}

// -----

func.func @pad_count(%x: tensor<2x8xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.pad' op offsets has 1 entries but the input has rank 2 (one offset per dim)
  %0 = "cube.pad"(%x) {offsets = array<i64: 0>} : (tensor<2x8xf32>) -> tensor<2x9xf32>
  return
}

// -----

func.func @pad_neg(%x: tensor<2x8xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.pad' op offset -1 of dim #1 is negative
  %0 = "cube.pad"(%x) {offsets = array<i64: 0, -1>} : (tensor<2x8xf32>) -> tensor<2x9xf32>
  return
}

// -----

func.func @pad_big(%x: tensor<2x8xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.pad' op dim #1: offset 2 + the input's size 8 exceeds the result's size 9
  %0 = "cube.pad"(%x) {offsets = array<i64: 0, 2>} : (tensor<2x8xf32>) -> tensor<2x9xf32>
  return
}

// -----

func.func @pad_value_int(%x: tensor<2x8xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.pad' op value must be a float attribute (e.g. 0.0 : f64) for the input's element type f32, got -100 : i64
  %0 = "cube.pad"(%x) {offsets = array<i64: 0, 0>, value = -100 : i64} : (tensor<2x8xf32>) -> tensor<2x9xf32>
  return
}

// -----

func.func @pad_value_inf(%x: tensor<2x8xbf16>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.pad' op value must be a finite float, got -inf
  %0 = "cube.pad"(%x) {offsets = array<i64: 0, 0>, value = 0xFFF0000000000000 : f64} : (tensor<2x8xbf16>) -> tensor<2x9xbf16>
  return
}

// -----

func.func @pad_value_float(%l: tensor<2x8xi64>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.pad' op value must be an i64 integer attribute (e.g. -100 : i64) for the input's element type i64, got -1.000000e+02 : f64
  %0 = "cube.pad"(%l) {offsets = array<i64: 0, 0>, value = -100.0 : f64} : (tensor<2x8xi64>) -> tensor<2x9xi64>
  return
}

// -----

func.func @pad_value_i32(%l: tensor<2x8xi64>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.pad' op value must be an i64 integer attribute (e.g. -100 : i64) for the input's element type i64, got -100 : i32
  %0 = "cube.pad"(%l) {offsets = array<i64: 0, 0>, value = -100 : i32} : (tensor<2x8xi64>) -> tensor<2x9xi64>
  return
}

// -----

func.func @pad_value_range(%l: tensor<2x8xi32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.pad' op value 4294967296 does not fit in the input's element type i32 (range [-2147483648, 2147483647])
  %0 = "cube.pad"(%l) {offsets = array<i64: 0, 0>, value = 4294967296 : i64} : (tensor<2x8xi32>) -> tensor<2x9xi32>
  return
}

// -----

func.func @pad_value_elem(%x: tensor<2x8xcomplex<f32>>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.pad' op value needs a float or integer element type, but the input's is complex<f32>
  %0 = "cube.pad"(%x) {offsets = array<i64: 0, 0>, value = 0.0 : f64} : (tensor<2x8xcomplex<f32>>) -> tensor<2x9xcomplex<f32>>
  return
}

// -----

func.func @sumsq_res(%x: tensor<2x8xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.sumsq' op result must be tensor<f32>, got tensor<1xf32>
  %0 = "cube.sumsq"(%x) : (tensor<2x8xf32>) -> tensor<1xf32>
  return
}

// -----

func.func @fill_value() {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.fill' op value must be a finite float, got inf
  %0 = "cube.fill"() {value = 0x7FF0000000000000 : f64} : () -> tensor<2xf32>
  return
}

// -----

func.func @fill_type() {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.fill' op result must have a float element type (f32, bf16 or f16), got i32
  %0 = "cube.fill"() {value = 1.0 : f64} : () -> tensor<2xi32>
  return
}

// -----

func.func @min_shape(%a: tensor<2xf32>, %b: tensor<3xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.minimum' op rhs is 3xf32 but lhs is 2xf32 (same shape and element type, no broadcasting)
  %0 = "cube.minimum"(%a, %b) : (tensor<2xf32>, tensor<3xf32>) -> tensor<2xf32>
  return
}

// -----

func.func @os_name() {
  %w = "cube.param"() {name = "w", init = "zeros", trainable = true} : () -> tensor<4xf32>
  // CHECK: :[[@LINE+1]]:8: error: 'cube.opt_state' op name must not be empty (it names the state in checkpoints, e.g. '<param>.exp_avg')
  %0 = "cube.opt_state"() {name = "", init = "zeros", param = "w"} : () -> tensor<4xf32>
  return
}

// -----

func.func @os_param() {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.opt_state' op param must not be empty (it names the cube.param the state belongs to)
  %0 = "cube.opt_state"() {name = "x.exp_avg", init = "zeros", param = ""} : () -> tensor<4xf32>
  return
}

// -----

func.func @os_unknown() {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.opt_state' op param 'x' is not the name of a cube.param of the module
  %0 = "cube.opt_state"() {name = "x.exp_avg", init = "zeros", param = "x"} : () -> tensor<4xf32>
  return
}

// -----

func.func @os_init() {
  %w = "cube.param"() {name = "w", init = "zeros", trainable = true} : () -> tensor<4xf32>
  // CHECK: :[[@LINE+1]]:8: error: 'cube.opt_state' op init 'xavier' is not a valid initialiser: unknown initialiser 'xavier', expected zeros, ones, constant(value=V), normal(std=S), normal(mean=M,std=S), uniform(low=L,high=H) or kaiming_uniform(a=A)
  %0 = "cube.opt_state"() {name = "w.exp_avg", init = "xavier", param = "w"} : () -> tensor<4xf32>
  return
}

// -----

func.func @os_dup() {
  %w = "cube.param"() {name = "w", init = "zeros", trainable = true} : () -> tensor<4xf32>
  %0 = "cube.opt_state"() {name = "w.exp_avg", init = "zeros", param = "w"} : () -> tensor<4xf32>
  // CHECK: :[[@LINE+1]]:8: error: 'cube.opt_state' op parameter name 'w.exp_avg' is already used at {{.*}}invalid-backward.mlir:{{[0-9]+}}:8
  %1 = "cube.opt_state"() {name = "w.exp_avg", init = "zeros", param = "w"} : () -> tensor<4xf32>
  return
}

// -----

func.func @aw_attrs(%g: tensor<4xf32>, %lr: tensor<f32>, %s: tensor<i64>) {
  %w = "cube.param"() {name = "w", init = "zeros", trainable = true} : () -> tensor<4xf32>
  %m = "cube.opt_state"() {name = "w.exp_avg", init = "zeros", param = "w"} : () -> tensor<4xf32>
  %v = "cube.opt_state"() {name = "w.exp_avg_sq", init = "zeros", param = "w"} : () -> tensor<4xf32>
  // CHECK: :[[@LINE+4]]:3: error: 'cube.adamw_update' op beta1 must be in [0, 1), got 1
  // CHECK: :[[@LINE+3]]:3: error: 'cube.adamw_update' op beta2 must be in [0, 1), got -0.1
  // CHECK: :[[@LINE+2]]:3: error: 'cube.adamw_update' op eps must be a finite float > 0, got 0
  // CHECK: :[[@LINE+1]]:3: error: 'cube.adamw_update' op weight_decay must be a finite float >= 0, got -1
  "cube.adamw_update"(%w, %g, %m, %v, %lr, %s, %lr) {beta1 = 1.0 : f64, beta2 = -0.1 : f64, eps = 0.0 : f64, weight_decay = -1.0 : f64} : (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<f32>, tensor<i64>, tensor<f32>) -> ()
  return
}

// -----

func.func @aw_types(%g: tensor<3xf32>, %lr: tensor<f64>, %s: tensor<i32>) {
  %w = "cube.param"() {name = "w", init = "zeros", trainable = true} : () -> tensor<4xf32>
  %m = "cube.opt_state"() {name = "w.exp_avg", init = "zeros", param = "w"} : () -> tensor<4xf32>
  %v = "cube.opt_state"() {name = "w.exp_avg_sq", init = "zeros", param = "w"} : () -> tensor<4xf32>
  // CHECK: :[[@LINE+4]]:3: error: 'cube.adamw_update' op operand #1 (grad) is 3xf32 but param is 4xf32 (the update's tensors all have the param's type)
  // CHECK: :[[@LINE+3]]:3: error: 'cube.adamw_update' op operand #4 (lr) must be tensor<f32>, got tensor<f64>
  // CHECK: :[[@LINE+2]]:3: error: 'cube.adamw_update' op operand #5 (step) must be tensor<i64>, got tensor<i32>
  // CHECK: :[[@LINE+1]]:3: error: 'cube.adamw_update' op operand #6 (grad_scale) must be tensor<f32>, got tensor<f64>
  "cube.adamw_update"(%w, %g, %m, %v, %lr, %s, %lr) {beta1 = 0.9 : f64, beta2 = 0.999 : f64, eps = 1.0e-8 : f64, weight_decay = 0.0 : f64} : (tensor<4xf32>, tensor<3xf32>, tensor<4xf32>, tensor<4xf32>, tensor<f64>, tensor<i32>, tensor<f64>) -> ()
  return
}

// -----

func.func @aw_defs(%w: tensor<4xf32>, %m: tensor<4xf32>, %lr: tensor<f32>, %s: tensor<i64>) {
  %p = "cube.param"() {name = "p", init = "zeros", trainable = true} : () -> tensor<4xf32>
  %o = "cube.opt_state"() {name = "p.exp_avg_sq", init = "zeros", param = "p"} : () -> tensor<4xf32>
  // CHECK: :[[@LINE+2]]:3: error: 'cube.adamw_update' op operand #0 (param) must be the result of a cube.param
  // CHECK: :[[@LINE+1]]:3: error: 'cube.adamw_update' op operand #2 (exp_avg) must be the result of a cube.opt_state
  "cube.adamw_update"(%w, %w, %m, %o, %lr, %s, %lr) {beta1 = 0.9 : f64, beta2 = 0.999 : f64, eps = 1.0e-8 : f64, weight_decay = 0.0 : f64} : (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<f32>, tensor<i64>, tensor<f32>) -> ()
  return
}

// -----

func.func @aw_owner(%lr: tensor<f32>, %s: tensor<i64>) {
  %p = "cube.param"() {name = "p", init = "zeros", trainable = true} : () -> tensor<4xf32>
  %q = "cube.param"() {name = "q", init = "zeros", trainable = true} : () -> tensor<4xf32>
  %m = "cube.opt_state"() {name = "q.exp_avg", init = "zeros", param = "q"} : () -> tensor<4xf32>
  %v = "cube.opt_state"() {name = "p.exp_avg_sq", init = "zeros", param = "p"} : () -> tensor<4xf32>
  // CHECK: :[[@LINE+1]]:3: error: 'cube.adamw_update' op operand #2 (exp_avg) belongs to param 'q' but the update is for 'p'
  "cube.adamw_update"(%p, %p, %m, %v, %lr, %s, %lr) {beta1 = 0.9 : f64, beta2 = 0.999 : f64, eps = 1.0e-8 : f64, weight_decay = 0.0 : f64} : (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<f32>, tensor<i64>, tensor<f32>) -> ()
  return
}

// -----

func.func @aw_results(%lr: tensor<f32>, %s: tensor<i64>) {
  %p = "cube.param"() {name = "p", init = "zeros", trainable = true} : () -> tensor<4xf32>
  %m = "cube.opt_state"() {name = "p.exp_avg", init = "zeros", param = "p"} : () -> tensor<4xf32>
  // CHECK: :[[@LINE+1]]:8: error: op expects exactly 0 results, but got 1
  %0 = "cube.adamw_update"(%p, %p, %m, %m, %lr, %s, %lr) {beta1 = 0.9 : f64, beta2 = 0.999 : f64, eps = 1.0e-8 : f64, weight_decay = 0.0 : f64} : (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<f32>, tensor<i64>, tensor<f32>) -> tensor<4xf32>
  return
}

// -----

func.func @shared_param_differs() {
  %w = "cube.param"() {name = "shared", init = "zeros", trainable = true} : () -> tensor<4xf32>
  return
}
func.func @shared_param_differs_2() {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.param' op parameter name 'shared' is already used at {{.*}}invalid-backward.mlir:{{[0-9]+}}:8
  %w = "cube.param"() {name = "shared", init = "zeros", trainable = true} : () -> tensor<5xf32>
  return
}

// -----

func.func @ar_type(%g: tensor<4xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.all_reduce' op result is 4xbf16 but expected 4xf32 (the input's type)
  %0 = "cube.all_reduce"(%g) {bucket = 0 : i64, reduction = "avg"} : (tensor<4xf32>) -> tensor<4xbf16>
  return
}

// -----

func.func @ar_int(%g: tensor<4xi64>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.all_reduce' op operand #0 (input) must have a float element type (f32, bf16 or f16), got i64
  %0 = "cube.all_reduce"(%g) {bucket = 0 : i64, reduction = "avg"} : (tensor<4xi64>) -> tensor<4xi64>
  return
}

// -----

func.func @ar_reduction(%g: tensor<4xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.all_reduce' op reduction must be 'avg' or 'sum', got 'max'
  %0 = "cube.all_reduce"(%g) {bucket = 0 : i64, reduction = "max"} : (tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @ar_bucket(%g: tensor<4xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.all_reduce' op bucket must be >= 0, got -1
  %0 = "cube.all_reduce"(%g) {bucket = -1 : i64, reduction = "avg"} : (tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @ar_split(%g: tensor<4xf32>, %h: tensor<4xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.all_reduce' op the all_reduce ops of bucket 3 must stand next to each other, but another one is at {{.*}}:[[@LINE+3]]:8, after other ops
  %0 = "cube.all_reduce"(%g) {bucket = 3 : i64, reduction = "avg"} : (tensor<4xf32>) -> tensor<4xf32>
  %1 = "cube.neg"(%h) : (tensor<4xf32>) -> tensor<4xf32>
  %2 = "cube.all_reduce"(%1) {bucket = 3 : i64, reduction = "sum"} : (tensor<4xf32>) -> tensor<4xf32>
  return
}
