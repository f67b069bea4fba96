// One case per verifier rule of docs/dialect.md (the scope-table rules are in invalid-scopes.mlir), and a
// few errors that MLIR's IRDL verifier reports while parsing. --implicit-check-not makes every error a
// CHECKed one: no rule may report a follow-on error that is not listed here.
// RUN: not cube-opt %s --split-input-file 2>&1 | FileCheck %s --implicit-check-not="error:"

// ---- every operand and result is a statically shaped ranked tensor -----------------------------------

func.func @dynamic(%x: tensor<?x4xf32>) {
  // CHECK: :[[@LINE+2]]:8: error: 'cube.neg' op operand #0 (input) must be a statically shaped ranked tensor, got tensor<?x4xf32>
  // CHECK: :[[@LINE+1]]:8: error: 'cube.neg' op result #0 must be a statically shaped ranked tensor, got tensor<?x4xf32>
  %0 = "cube.neg"(%x) : (tensor<?x4xf32>) -> tensor<?x4xf32>
  return
}

// -----

// An unranked tensor is not a builtin.tensor for IRDL; it reports it while parsing.
func.func @unranked(%x: tensor<*xf32>, %w: tensor<4x8xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: expected base type 'builtin.tensor' but got 'builtin.unranked_tensor'
  %0 = "cube.linear"(%x, %w) : (tensor<*xf32>, tensor<4x8xf32>) -> tensor<2x4xf32>
  return
}

// -----

func.func @too_many_elements() {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.param' op result #0 has more elements than fit in int64 (tensor<4294967296x4294967296xf32>)
  %0 = "cube.param"() {name = "p", init = "zeros", trainable = true} : () -> tensor<4294967296x4294967296xf32>
  return
}

// -----

// ---- cube.param ------------------------------------------------------------------------------------

func.func @param_int() {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.param' op result must have a float element type (f32, bf16 or f16), got i32
  %0 = "cube.param"() {name = "p", init = "zeros", trainable = true} : () -> tensor<4xi32>
  return
}

// -----

func.func @param_rank0() {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.param' op result must have rank >= 1 (a parameter is at least a vector), got rank 0 (tensor<f32>)
  %0 = "cube.param"() {name = "p", init = "zeros", trainable = true} : () -> tensor<f32>
  return
}

// -----

func.func @param_empty_name() {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.param' op name must not be empty (it is the HF state_dict key)
  %0 = "cube.param"() {name = "", init = "zeros", trainable = true} : () -> tensor<4xf32>
  return
}

// -----

func.func @param_dup() {
  %0 = "cube.param"() {name = "lm_head.weight", init = "zeros", trainable = true} : () -> tensor<4xf32>
  // CHECK: :[[@LINE+1]]:8: error: 'cube.param' op parameter name 'lm_head.weight' is already used at {{.*}}invalid.mlir:[[@LINE-1]]:8
  %1 = "cube.param"() {name = "lm_head.weight", init = "zeros", trainable = true} : () -> tensor<4xf32>
  return
}
// Across functions, private ones included; every later use names the first one.
func.func private @other() {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.param' op parameter name 'lm_head.weight' is already used at {{.*}}invalid.mlir:[[@LINE-7]]:8
  %0 = "cube.param"() {name = "lm_head.weight", init = "ones", trainable = false} : () -> tensor<4xf32>
  return
}

// -----

func.func @param_init_unknown() {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.param' op init 'xavier' is not a valid initialiser: unknown initialiser 'xavier', expected zeros, ones, constant(value=V), normal(std=S), normal(mean=M,std=S), uniform(low=L,high=H) or kaiming_uniform(a=A)
  %0 = "cube.param"() {name = "p", init = "xavier", trainable = true} : () -> tensor<4xf32>
  return
}

// -----

func.func @param_init_std() {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.param' op init 'normal(std=0)' is not a valid initialiser: normal needs std=S with S > 0
  %0 = "cube.param"() {name = "p", init = "normal(std=0)", trainable = true} : () -> tensor<4xf32>
  return
}

// -----

func.func @param_init_uniform() {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.param' op init 'uniform(low=1,high=1)' is not a valid initialiser: uniform needs low=L,high=H with L < H
  %0 = "cube.param"() {name = "p", init = "uniform(low=1,high=1)", trainable = true} : () -> tensor<4xf32>
  return
}

// -----

func.func @param_init_syntax() {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.param' op init 'normal(std=0.02' is not a valid initialiser: expected '(key=value,...)' after the initialiser name
  %0 = "cube.param"() {name = "p", init = "normal(std=0.02", trainable = true} : () -> tensor<4xf32>
  return
}

// -----

func.func @param_kaiming_fan_in() {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.param' op init kaiming_uniform needs fan_in (the last dim) > 0, but the result is 4x0xf32
  %0 = "cube.param"() {name = "p", init = "kaiming_uniform(a=1)", trainable = true} : () -> tensor<4x0xf32>
  return
}

// -----

func.func @param_trainable_int() {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.param' op trainable must be a bool (true or false), got 1 : i64
  %0 = "cube.param"() {name = "p", init = "zeros", trainable = 1} : () -> tensor<4xf32>
  return
}

// -----

// Every problem of an op is reported, not only the first.
func.func @param_all() {
  // CHECK: :[[@LINE+4]]:8: error: 'cube.param' op result must have a float element type (f32, bf16 or f16), got i64
  // CHECK: :[[@LINE+3]]:8: error: 'cube.param' op name must not be empty
  // CHECK: :[[@LINE+2]]:8: error: 'cube.param' op init 'one' is not a valid initialiser
  // CHECK: :[[@LINE+1]]:8: error: 'cube.param' op trainable must be a bool (true or false), got 0 : i64
  %0 = "cube.param"() {name = "", init = "one", trainable = 0} : () -> tensor<4xi64>
  return
}

// -----

// ---- cube.embedding --------------------------------------------------------------------------------

func.func @embedding_float_ids(%ids: tensor<8xf32>, %w: tensor<64x32xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.embedding' op operand #0 (ids) must have element type i32 or i64, got f32
  %0 = "cube.embedding"(%ids, %w) : (tensor<8xf32>, tensor<64x32xf32>) -> tensor<8x32xf32>
  return
}

// -----

func.func @embedding_int_weight(%ids: tensor<8xi64>, %w: tensor<64x32xi32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.embedding' op operand #1 (weight) must have a float element type (f32, bf16 or f16), got i32
  %0 = "cube.embedding"(%ids, %w) : (tensor<8xi64>, tensor<64x32xi32>) -> tensor<8x32xi32>
  return
}

// -----

func.func @embedding_weight_rank(%ids: tensor<8xi64>, %w: tensor<64xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.embedding' op operand #1 (weight) must have rank 2 ([V, H]), got rank 1 (64xf32)
  %0 = "cube.embedding"(%ids, %w) : (tensor<8xi64>, tensor<64xf32>) -> tensor<8x32xf32>
  return
}

// -----

func.func @embedding_result(%ids: tensor<2x8xi32>, %w: tensor<64x32xbf16>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.embedding' op result is 2x8x32xf32 but expected 2x8x32xbf16 (the shape of ids followed by H, weight's element type)
  %0 = "cube.embedding"(%ids, %w) : (tensor<2x8xi32>, tensor<64x32xbf16>) -> tensor<2x8x32xf32>
  return
}

// -----

// ---- cube.linear -----------------------------------------------------------------------------------

func.func @linear_features(%x: tensor<2x768xf32>, %w: tensor<768x512xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.linear' op weight is 768x512 but input has 768 features
  %0 = "cube.linear"(%x, %w) : (tensor<2x768xf32>, tensor<768x512xf32>) -> tensor<2x768xf32>
  return
}

// -----

func.func @linear_int(%x: tensor<2x8xi32>, %w: tensor<4x8xi32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.linear' op operand #0 (input) must have a float element type (f32, bf16 or f16), got i32
  %0 = "cube.linear"(%x, %w) : (tensor<2x8xi32>, tensor<4x8xi32>) -> tensor<2x4xi32>
  return
}

// -----

func.func @linear_mixed(%x: tensor<2x8xf32>, %w: tensor<4x8xbf16>, %b: tensor<4xf16>) {
  // CHECK: :[[@LINE+2]]:8: error: 'cube.linear' op operand #1 (weight) has element type bf16 but operand #0 (input) has f32
  // CHECK: :[[@LINE+1]]:8: error: 'cube.linear' op operand #2 (bias) has element type f16 but operand #0 (input) has f32
  %0 = "cube.linear"(%x, %w, %b) : (tensor<2x8xf32>, tensor<4x8xbf16>, tensor<4xf16>) -> tensor<2x4xf32>
  return
}

// -----

func.func @linear_ranks(%x: tensor<f32>, %w: tensor<4x8x1xf32>, %b: tensor<1x4xf32>) {
  // CHECK: :[[@LINE+3]]:8: error: 'cube.linear' op operand #0 (input) must have rank >= 1 ([*, in]), got rank 0 (tensor<f32>)
  // CHECK: :[[@LINE+2]]:8: error: 'cube.linear' op operand #1 (weight) must have rank 2 ([out, in]), got rank 3 (4x8x1xf32)
  // CHECK: :[[@LINE+1]]:8: error: 'cube.linear' op operand #2 (bias) must have rank 1 ([out]), got rank 2 (1x4xf32)
  %0 = "cube.linear"(%x, %w, %b) : (tensor<f32>, tensor<4x8x1xf32>, tensor<1x4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @linear_bias(%x: tensor<2x8xf32>, %w: tensor<4x8xf32>, %b: tensor<8xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.linear' op bias is 8 but weight has 4 output features
  %0 = "cube.linear"(%x, %w, %b) : (tensor<2x8xf32>, tensor<4x8xf32>, tensor<8xf32>) -> tensor<2x4xf32>
  return
}

// -----

func.func @linear_result(%x: tensor<3x2x8xf32>, %w: tensor<4x8xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.linear' op result is 3x2x8xf32 but expected 3x2x4xf32 (input's shape with the last dim replaced by out)
  %0 = "cube.linear"(%x, %w) : (tensor<3x2x8xf32>, tensor<4x8xf32>) -> tensor<3x2x8xf32>
  return
}

// -----

// ---- cube.matmul -----------------------------------------------------------------------------------

func.func @matmul_flag(%a: tensor<4x8xf32>, %b: tensor<8x2xf32>) {
  // CHECK: :[[@LINE+2]]:8: error: 'cube.matmul' op transpose_lhs must be a bool (true or false), got 1 : i64
  // CHECK: :[[@LINE+1]]:8: error: 'cube.matmul' op transpose_rhs must be a bool (true or false), got "no"
  %0 = "cube.matmul"(%a, %b) {transpose_lhs = 1, transpose_rhs = "no"} : (tensor<4x8xf32>, tensor<8x2xf32>) -> tensor<4x2xf32>
  return
}

// -----

func.func @matmul_types(%a: tensor<4x8xi32>, %b: tensor<8x2xf32>) {
  // CHECK: :[[@LINE+2]]:8: error: 'cube.matmul' op operand #0 (lhs) must have a float element type (f32, bf16 or f16), got i32
  // CHECK: :[[@LINE+1]]:8: error: 'cube.matmul' op operand #1 (rhs) has element type f32 but operand #0 (lhs) has i32
  %0 = "cube.matmul"(%a, %b) : (tensor<4x8xi32>, tensor<8x2xf32>) -> tensor<4x2xf32>
  return
}

// -----

func.func @matmul_rank1(%a: tensor<8xf32>, %b: tensor<8x2xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.matmul' op operand #0 (lhs) must have rank >= 2 ([*B, M, K]), got rank 1 (8xf32)
  %0 = "cube.matmul"(%a, %b) : (tensor<8xf32>, tensor<8x2xf32>) -> tensor<2xf32>
  return
}

// -----

func.func @matmul_rank_mismatch(%a: tensor<3x4x8xf32>, %b: tensor<8x2xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.matmul' op lhs has rank 3 but rhs has rank 2 (ranks must be equal, no broadcasting)
  %0 = "cube.matmul"(%a, %b) : (tensor<3x4x8xf32>, tensor<8x2xf32>) -> tensor<3x4x2xf32>
  return
}

// -----

func.func @matmul_batch(%a: tensor<2x3x4x8xf32>, %b: tensor<2x5x8x2xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.matmul' op batch dim #1: lhs has 3 but rhs has 5 (no broadcasting)
  %0 = "cube.matmul"(%a, %b) : (tensor<2x3x4x8xf32>, tensor<2x5x8x2xf32>) -> tensor<2x3x4x2xf32>
  return
}

// -----

func.func @matmul_k(%a: tensor<2x8x4xf32>, %b: tensor<2x2x8xf32>) {
  // transpose_lhs makes lhs [B, K, M] (K = 8); without transpose_rhs, rhs is [B, K, N] (K = 2).
  // CHECK: :[[@LINE+1]]:8: error: 'cube.matmul' op lhs 2x8x4 has K = 8 but rhs 2x2x8 has K = 2 (transpose_lhs = true, transpose_rhs = false)
  %0 = "cube.matmul"(%a, %b) {transpose_lhs = true} : (tensor<2x8x4xf32>, tensor<2x2x8xf32>) -> tensor<2x4x8xf32>
  return
}

// -----

func.func @matmul_result(%a: tensor<4x8xf16>, %b: tensor<2x8xf16>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.matmul' op result is 4x8xf16 but expected 4x2xf16 ([*B, M, N])
  %0 = "cube.matmul"(%a, %b) {transpose_rhs = true} : (tensor<4x8xf16>, tensor<2x8xf16>) -> tensor<4x8xf16>
  return
}

// -----

// ---- elementwise -----------------------------------------------------------------------------------

func.func @add_int(%a: tensor<4xi32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.add' op operand #0 (lhs) must have a float element type (f32, bf16 or f16), got i32
  %0 = "cube.add"(%a, %a) : (tensor<4xi32>, tensor<4xi32>) -> tensor<4xi32>
  return
}

// -----

func.func @sub_broadcast(%a: tensor<2x4xf32>, %b: tensor<4xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.sub' op rhs is 4xf32 but lhs is 2x4xf32 (same shape and element type, no broadcasting)
  %0 = "cube.sub"(%a, %b) : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  return
}

// -----

func.func @mul_mixed(%a: tensor<4xf32>, %b: tensor<4xbf16>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.mul' op rhs is 4xbf16 but lhs is 4xf32 (same shape and element type, no broadcasting)
  %0 = "cube.mul"(%a, %b) : (tensor<4xf32>, tensor<4xbf16>) -> tensor<4xf32>
  return
}

// -----

func.func @div_result(%a: tensor<4xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.div' op result is 4xf16 but expected 4xf32 (the operands' type)
  %0 = "cube.div"(%a, %a) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf16>
  return
}

// -----

func.func @neg_int(%a: tensor<4xi64>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.neg' op operand #0 (input) must have a float element type (f32, bf16 or f16), got i64
  %0 = "cube.neg"(%a) : (tensor<4xi64>) -> tensor<4xi64>
  return
}

// -----

func.func @unary_results(%a: tensor<2x4xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.silu' op result is 4x2xf32 but expected 2x4xf32 (the input's type)
  %0 = "cube.silu"(%a) : (tensor<2x4xf32>) -> tensor<4x2xf32>
  // CHECK: :[[@LINE+1]]:8: error: 'cube.exp' op result is 2x4xbf16 but expected 2x4xf32 (the input's type)
  %1 = "cube.exp"(%a) : (tensor<2x4xf32>) -> tensor<2x4xbf16>
  // CHECK: :[[@LINE+1]]:8: error: 'cube.rsqrt' op result is 8xf32 but expected 2x4xf32 (the input's type)
  %2 = "cube.rsqrt"(%a) : (tensor<2x4xf32>) -> tensor<8xf32>
  return
}

// -----

func.func @scale_factor(%a: tensor<4xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.scale' op factor must be a finite float, got inf
  %0 = "cube.scale"(%a) {factor = 0x7FF0000000000000 : f64} : (tensor<4xf32>) -> tensor<4xf32>
  // CHECK: :[[@LINE+1]]:8: error: 'cube.scale' op factor must be a finite float, got nan
  %1 = "cube.scale"(%a) {factor = 0x7FF8000000000000 : f64} : (tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @cast_types(%a: tensor<4xi32>, %b: tensor<4xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.cast' op operand #0 (input) must have a float element type (f32, bf16 or f16), got i32
  %0 = "cube.cast"(%a) : (tensor<4xi32>) -> tensor<4xf32>
  // CHECK: :[[@LINE+1]]:8: error: 'cube.cast' op result must have a float element type (f32, bf16 or f16), got f64
  %1 = "cube.cast"(%b) : (tensor<4xf32>) -> tensor<4xf64>
  return
}

// -----

func.func @cast_shape(%a: tensor<2x4xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.cast' op result is 8xbf16 but expected shape 2x4 (the input's shape)
  %0 = "cube.cast"(%a) : (tensor<2x4xf32>) -> tensor<8xbf16>
  return
}

// -----

func.func @dropout_p(%a: tensor<4xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.dropout' op p must be in [0, 1), got 1
  %0 = "cube.dropout"(%a) {p = 1.0 : f64, seed = 0} : (tensor<4xf32>) -> tensor<4xf32>
  // CHECK: :[[@LINE+1]]:8: error: 'cube.dropout' op p must be in [0, 1), got -0.1
  %1 = "cube.dropout"(%a) {p = -0.1 : f64, seed = 0} : (tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @dropout_seed(%a: tensor<4xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.dropout' op seed must be an i64 integer attribute, got 7 : i32
  %0 = "cube.dropout"(%a) {p = 0.5 : f64, seed = 7 : i32} : (tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

// ---- cube.rmsnorm ----------------------------------------------------------------------------------

func.func @rmsnorm_eps(%x: tensor<2x8xf32>, %w: tensor<8xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.rmsnorm' op eps must be a finite float > 0, got 0
  %0 = "cube.rmsnorm"(%x, %w) {eps = 0.0 : f64} : (tensor<2x8xf32>, tensor<8xf32>) -> tensor<2x8xf32>
  return
}

// -----

func.func @rmsnorm_weight(%x: tensor<2x8xf32>, %w: tensor<16xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.rmsnorm' op weight is 16 but input has hidden size H = 8
  %0 = "cube.rmsnorm"(%x, %w) {eps = 1.0e-06 : f64} : (tensor<2x8xf32>, tensor<16xf32>) -> tensor<2x8xf32>
  return
}

// -----

func.func @rmsnorm_ranks(%x: tensor<bf16>, %w: tensor<8x8xf32>) {
  // CHECK: :[[@LINE+3]]:8: error: 'cube.rmsnorm' op operand #1 (weight) has element type f32 but operand #0 (input) has bf16
  // CHECK: :[[@LINE+2]]:8: error: 'cube.rmsnorm' op operand #0 (input) must have rank >= 1 ([*, H]), got rank 0 (tensor<bf16>)
  // CHECK: :[[@LINE+1]]:8: error: 'cube.rmsnorm' op operand #1 (weight) must have rank 1 ([H]), got rank 2 (8x8xf32)
  %0 = "cube.rmsnorm"(%x, %w) {eps = 1.0e-06 : f64} : (tensor<bf16>, tensor<8x8xf32>) -> tensor<bf16>
  return
}

// -----

// ---- cube.rope -------------------------------------------------------------------------------------

func.func @rope_rank(%x: tensor<2x8x16xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.rope' op operand #0 (input) must have rank 4 ([B, heads, S, D]), got rank 3 (2x8x16xf32)
  %0 = "cube.rope"(%x) {theta = 10000.0 : f64} : (tensor<2x8x16xf32>) -> tensor<2x8x16xf32>
  return
}

// -----

func.func @rope_odd(%x: tensor<1x2x8x5xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.rope' op head dim D = 5 must be even (input is 1x2x8x5)
  %0 = "cube.rope"(%x) {theta = 10000.0 : f64} : (tensor<1x2x8x5xf32>) -> tensor<1x2x8x5xf32>
  return
}

// -----

func.func @rope_theta(%x: tensor<1x2x8x4xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.rope' op theta must be a finite float > 0, got -1
  %0 = "cube.rope"(%x) {theta = -1.0 : f64} : (tensor<1x2x8x4xf32>) -> tensor<1x2x8x4xf32>
  return
}

// -----

// ---- cube.softmax ----------------------------------------------------------------------------------

func.func @softmax_scale_causal(%x: tensor<2x8xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.softmax' op causal_period must be >= 1, got 0
  %0 = "cube.softmax"(%x) {dim = 1, causal_period = 0} : (tensor<2x8xf32>) -> tensor<2x8xf32>
  // CHECK: :[[@LINE+1]]:8: error: 'cube.softmax' op causal_period needs dim to be the last dim of an input of rank >= 2 (dim 0, rank 2)
  %1 = "cube.softmax"(%x) {dim = 0, causal_period = 2} : (tensor<2x8xf32>) -> tensor<2x8xf32>
  return
}

// -----


func.func @softmax_dim(%x: tensor<2x8xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.softmax' op dim 2 is out of range [-2, 2) for the input of rank 2
  %0 = "cube.softmax"(%x) {dim = 2} : (tensor<2x8xf32>) -> tensor<2x8xf32>
  // CHECK: :[[@LINE+1]]:8: error: 'cube.softmax' op dim -3 is out of range [-2, 2) for the input of rank 2
  %1 = "cube.softmax"(%x) {dim = -3} : (tensor<2x8xf32>) -> tensor<2x8xf32>
  // CHECK: :[[@LINE+1]]:8: error: 'cube.softmax' op dim -9223372036854775808 is out of range [-2, 2) for the input of rank 2
  %2 = "cube.softmax"(%x) {dim = -9223372036854775808} : (tensor<2x8xf32>) -> tensor<2x8xf32>
  return
}

// -----

func.func @softmax_rank0(%x: tensor<f32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.softmax' op dim 0 is out of range: the input has rank 0
  %0 = "cube.softmax"(%x) {dim = 0} : (tensor<f32>) -> tensor<f32>
  return
}

// -----

func.func @softmax_bool_dim(%x: tensor<2x8xf32>) {
  // IRDL accepts any IntegerAttr (a BoolAttr is one); the verifier wants an i64.
  // CHECK: :[[@LINE+1]]:8: error: 'cube.softmax' op dim must be an i64 integer attribute, got true
  %0 = "cube.softmax"(%x) {dim = true} : (tensor<2x8xf32>) -> tensor<2x8xf32>
  // CHECK: :[[@LINE+1]]:8: error: 'cube.softmax' op dim must be an i64 integer attribute, got 1 : i128
  %1 = "cube.softmax"(%x) {dim = 1 : i128} : (tensor<2x8xf32>) -> tensor<2x8xf32>
  return
}

// -----

// ---- cube.attention --------------------------------------------------------------------------------

func.func @attention_rank(%q: tensor<8x16x4xf32>, %k: tensor<2x2x16x4xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.attention' op operand #0 (query) must have rank 4 ([B, Hq, S, D]), got rank 3 (8x16x4xf32)
  %0 = "cube.attention"(%q, %k, %k) {causal = true} : (tensor<8x16x4xf32>, tensor<2x2x16x4xf32>, tensor<2x2x16x4xf32>) -> tensor<8x16x4xf32>
  return
}

// -----

func.func @attention_kv(%q: tensor<2x8x16x4xf32>, %k: tensor<2x2x16x4xf32>, %v: tensor<2x2x16x8xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.attention' op value is 2x2x16x8 but key is 2x2x16x4 (they must have the same shape)
  %0 = "cube.attention"(%q, %k, %v) {causal = true} : (tensor<2x8x16x4xf32>, tensor<2x2x16x4xf32>, tensor<2x2x16x8xf32>) -> tensor<2x8x16x4xf32>
  return
}

// -----

func.func @attention_batch_dim(%q: tensor<2x8x16x4xf32>, %k: tensor<3x2x16x8xf32>) {
  // CHECK: :[[@LINE+2]]:8: error: 'cube.attention' op key has batch size 3 but query has 2
  // CHECK: :[[@LINE+1]]:8: error: 'cube.attention' op key has head dim 8 but query has 4
  %0 = "cube.attention"(%q, %k, %k) {causal = true} : (tensor<2x8x16x4xf32>, tensor<3x2x16x8xf32>, tensor<3x2x16x8xf32>) -> tensor<2x8x16x4xf32>
  return
}

// -----

func.func @attention_gqa(%q: tensor<2x8x16x4xf32>, %k: tensor<2x3x16x4xf32>, %k0: tensor<2x0x16x4xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.attention' op query has 8 heads, not a multiple of key's 3 heads (GQA needs Hq % Hkv == 0, Hkv > 0)
  %0 = "cube.attention"(%q, %k, %k) {causal = true} : (tensor<2x8x16x4xf32>, tensor<2x3x16x4xf32>, tensor<2x3x16x4xf32>) -> tensor<2x8x16x4xf32>
  // CHECK: :[[@LINE+1]]:8: error: 'cube.attention' op query has 8 heads, not a multiple of key's 0 heads (GQA needs Hq % Hkv == 0, Hkv > 0)
  %1 = "cube.attention"(%q, %k0, %k0) {causal = true} : (tensor<2x8x16x4xf32>, tensor<2x0x16x4xf32>, tensor<2x0x16x4xf32>) -> tensor<2x8x16x4xf32>
  return
}

// -----

func.func @attention_causal(%q: tensor<2x8x16x4xf32>, %k: tensor<2x2x24x4xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.attention' op causal attention needs S == Skv, but query has S = 16 and key has Skv = 24
  %0 = "cube.attention"(%q, %k, %k) {causal = true} : (tensor<2x8x16x4xf32>, tensor<2x2x24x4xf32>, tensor<2x2x24x4xf32>) -> tensor<2x8x16x4xf32>
  return
}

// -----

func.func @attention_attrs(%q: tensor<2x8x16x4xf32>, %k: tensor<2x2x16x4xf32>) {
  // CHECK: :[[@LINE+2]]:8: error: 'cube.attention' op causal must be a bool (true or false), got 1 : i64
  // CHECK: :[[@LINE+1]]:8: error: 'cube.attention' op scale must be a finite float > 0, got 0
  %0 = "cube.attention"(%q, %k, %k) {causal = 1, scale = 0.0 : f64} : (tensor<2x8x16x4xf32>, tensor<2x2x16x4xf32>, tensor<2x2x16x4xf32>) -> tensor<2x8x16x4xf32>
  // CHECK: :[[@LINE+1]]:8: error: 'cube.attention' op scale must be a float attribute (e.g. 1.0 : f64), got 1 : i64
  %1 = "cube.attention"(%q, %k, %k) {causal = false, scale = 1} : (tensor<2x8x16x4xf32>, tensor<2x2x16x4xf32>, tensor<2x2x16x4xf32>) -> tensor<2x8x16x4xf32>
  return
}

// -----

func.func @attention_types(%q: tensor<2x8x16x4xbf16>, %k: tensor<2x2x16x4xf32>) {
  // CHECK: :[[@LINE+2]]:8: error: 'cube.attention' op operand #1 (key) has element type f32 but operand #0 (query) has bf16
  // CHECK: :[[@LINE+1]]:8: error: 'cube.attention' op operand #2 (value) has element type f32 but operand #0 (query) has bf16
  %0 = "cube.attention"(%q, %k, %k) {causal = true} : (tensor<2x8x16x4xbf16>, tensor<2x2x16x4xf32>, tensor<2x2x16x4xf32>) -> tensor<2x8x16x4xbf16>
  return
}

// -----

func.func @attention_result(%q: tensor<2x8x16x4xf32>, %k: tensor<2x2x16x4xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.attention' op result is 2x2x16x4xf32 but expected 2x8x16x4xf32 (the query's type)
  %0 = "cube.attention"(%q, %k, %k) {causal = true} : (tensor<2x8x16x4xf32>, tensor<2x2x16x4xf32>, tensor<2x2x16x4xf32>) -> tensor<2x2x16x4xf32>
  return
}

// -----

// ---- cube.cross_entropy ----------------------------------------------------------------------------

func.func @ce_labels(%l: tensor<2x8x64xf32>, %y: tensor<2x8xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.cross_entropy' op operand #1 (labels) must have element type i32 or i64, got f32
  %0 = "cube.cross_entropy"(%l, %y) {ignore_index = -100} : (tensor<2x8x64xf32>, tensor<2x8xf32>) -> tensor<f32>
  return
}

// -----

func.func @ce_shape(%l: tensor<2x8x64xf32>, %y: tensor<2x7xi64>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.cross_entropy' op labels are 2x7 but logits are 2x8x64 (labels must have the logits' shape without the last dim)
  %0 = "cube.cross_entropy"(%l, %y) {ignore_index = -100} : (tensor<2x8x64xf32>, tensor<2x7xi64>) -> tensor<f32>
  return
}

// -----

func.func @ce_result(%l: tensor<8x64xbf16>, %y: tensor<8xi32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.cross_entropy' op result must be tensor<f32> (a rank-0 f32 loss), got tensor<bf16>
  %0 = "cube.cross_entropy"(%l, %y) {ignore_index = -100} : (tensor<8x64xbf16>, tensor<8xi32>) -> tensor<bf16>
  // CHECK: :[[@LINE+1]]:8: error: 'cube.cross_entropy' op result must be tensor<f32> (a rank-0 f32 loss), got tensor<8xf32>
  %1 = "cube.cross_entropy"(%l, %y) {ignore_index = -100} : (tensor<8x64xbf16>, tensor<8xi32>) -> tensor<8xf32>
  return
}

// -----

func.func @ce_rank0(%l: tensor<f32>, %y: tensor<i64>) {
  // CHECK: :[[@LINE+2]]:8: error: 'cube.cross_entropy' op ignore_index must be an i64 integer attribute, got -100 : i32
  // CHECK: :[[@LINE+1]]:8: error: 'cube.cross_entropy' op operand #0 (logits) must have rank >= 1 ([*N, V]), got rank 0 (tensor<f32>)
  %0 = "cube.cross_entropy"(%l, %y) {ignore_index = -100 : i32} : (tensor<f32>, tensor<i64>) -> tensor<f32>
  return
}

// -----

// ---- layout ----------------------------------------------------------------------------------------

func.func @reshape_count(%x: tensor<2x8x32xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.reshape' op result 2x8x16 has 256 elements but input 2x8x32 has 512
  %0 = "cube.reshape"(%x) : (tensor<2x8x32xf32>) -> tensor<2x8x16xf32>
  return
}

// -----

func.func @reshape_type(%x: tensor<2x8xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.reshape' op result has element type bf16 but operand #0 (input) has f32
  %0 = "cube.reshape"(%x) : (tensor<2x8xf32>) -> tensor<16xbf16>
  return
}

// -----

func.func @transpose_perm(%x: tensor<2x8x32xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.transpose' op permutation has 2 entries but the input has rank 3
  %0 = "cube.transpose"(%x) {permutation = array<i64: 1, 0>} : (tensor<2x8x32xf32>) -> tensor<8x2x32xf32>
  // CHECK: :[[@LINE+1]]:8: error: 'cube.transpose' op permutation entry #2 is 3, out of range [0, 3)
  %1 = "cube.transpose"(%x) {permutation = array<i64: 1, 0, 3>} : (tensor<2x8x32xf32>) -> tensor<8x2x32xf32>
  // CHECK: :[[@LINE+1]]:8: error: 'cube.transpose' op permutation entry #0 is -1, out of range [0, 3)
  %2 = "cube.transpose"(%x) {permutation = array<i64: -1, 0, 1>} : (tensor<2x8x32xf32>) -> tensor<8x2x32xf32>
  // CHECK: :[[@LINE+1]]:8: error: 'cube.transpose' op permutation entry #2 repeats 0 (expected a permutation of 0..2)
  %3 = "cube.transpose"(%x) {permutation = array<i64: 1, 0, 0>} : (tensor<2x8x32xf32>) -> tensor<8x2x2xf32>
  // CHECK: :[[@LINE+1]]:8: error: 'cube.transpose' op permutation must be an array<i64: ...>, got array<i32: 1, 0, 2>
  %4 = "cube.transpose"(%x) {permutation = array<i32: 1, 0, 2>} : (tensor<2x8x32xf32>) -> tensor<8x2x32xf32>
  return
}

// -----

func.func @transpose_result(%x: tensor<2x8x32xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.transpose' op result is 2x8x32xf32 but expected 32x2x8xf32 (the input's dims permuted)
  %0 = "cube.transpose"(%x) {permutation = array<i64: 2, 0, 1>} : (tensor<2x8x32xf32>) -> tensor<2x8x32xf32>
  return
}

// -----

func.func @slice_rank(%x: tensor<2x8xi64>) {
  // CHECK: :[[@LINE+2]]:8: error: 'cube.slice' op result has element type i32 but operand #0 (input) has i64
  // CHECK: :[[@LINE+1]]:8: error: 'cube.slice' op result has rank 1 but input has rank 2 (a slice keeps the rank)
  %0 = "cube.slice"(%x) {offsets = array<i64: 0>} : (tensor<2x8xi64>) -> tensor<8xi32>
  return
}

// -----

func.func @slice_offsets(%x: tensor<2x8x32xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.slice' op offsets has 2 entries but the input has rank 3 (one offset per dim)
  %0 = "cube.slice"(%x) {offsets = array<i64: 0, 1>} : (tensor<2x8x32xf32>) -> tensor<2x7x32xf32>
  // CHECK: :[[@LINE+2]]:8: error: 'cube.slice' op offset -1 of dim #1 is negative
  // CHECK: :[[@LINE+1]]:8: error: 'cube.slice' op dim #2: offset 1 + size 32 exceeds the input's size 32
  %1 = "cube.slice"(%x) {offsets = array<i64: 0, -1, 1>} : (tensor<2x8x32xf32>) -> tensor<2x7x32xf32>
  // CHECK: :[[@LINE+1]]:8: error: 'cube.slice' op dim #0: offset 0 + size 3 exceeds the input's size 2
  %2 = "cube.slice"(%x) {offsets = array<i64: 0, 0, 0>} : (tensor<2x8x32xf32>) -> tensor<3x8x32xf32>
  // CHECK: :[[@LINE+1]]:8: error: 'cube.slice' op dim #1: offset 9223372036854775807 + size 7 exceeds the input's size 8
  %3 = "cube.slice"(%x) {offsets = array<i64: 0, 9223372036854775807, 0>} : (tensor<2x8x32xf32>) -> tensor<2x7x32xf32>
  return
}

// -----

func.func @concat_one(%a: tensor<4xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: op expects exactly 2 operands, but got 1
  %0 = "cube.concat"(%a) {dim = 0} : (tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @concat_dim(%a: tensor<2x3xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.concat' op dim 2 is out of range [-2, 2) for operand #0 (lhs) of rank 2
  %0 = "cube.concat"(%a, %a) {dim = 2} : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x6xf32>
  return
}

// -----

func.func @concat_result(%a: tensor<2x3xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.concat' op result is 2x6xf32 but expected 4x3xf32 (the inputs' dims, summed in dim)
  %0 = "cube.concat"(%a, %a) {dim = -2} : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x6xf32>
  return
}

// -----

func.func @concat_overflow(%a: tensor<4611686018427387904xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.concat' op the sum of the inputs' dim 0 overflows int64
  %0 = "cube.concat"(%a, %a) {dim = 0} : (tensor<4611686018427387904xf32>, tensor<4611686018427387904xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @concat_mismatch(%a: tensor<2x3xf32>, %b: tensor<3x3xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.concat' op operand #1 is 3x3 but operand #0 is 2x3 (they may differ only in dim 1)
  %0 = "cube.concat"(%a, %b) {dim = 1} : (tensor<2x3xf32>, tensor<3x3xf32>) -> tensor<2x6xf32>
  return
}

// -----

// ---- checkpoints: func.call marked cube.checkpoint --------------------------------------------------
// MLIR's own func.call verifier checks the callee's existence and types while parsing.

func.func @checkpoint_missing(%x: tensor<4xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'func.call' op 'nowhere' does not reference a valid function
  %0 = func.call @nowhere(%x) {cube.checkpoint} : (tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func private @recompute_0(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = "cube.silu"(%x) : (tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}
func.func @checkpoint_types(%x: tensor<4xbf16>) {
  // CHECK: :[[@LINE+1]]:8: error: 'func.call' op operand type mismatch: expected operand type 'tensor<4xf32>', but provided 'tensor<4xbf16>' for operand number 0
  %0 = func.call @recompute_0(%x) {cube.checkpoint} : (tensor<4xbf16>) -> tensor<4xf32>
  return
}

// -----

func.func private @recompute_0(%x: tensor<4xf32>) -> tensor<4xf32>
func.func @checkpoint_declaration(%x: tensor<4xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'func.call' op callee @recompute_0 is a declaration; a checkpoint needs a body to recompute
  %0 = func.call @recompute_0(%x) {cube.checkpoint} : (tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func private @recompute_0(%x: tensor<4xf32>) -> tensor<4xf32> {
  // CHECK: :[[@LINE+1]]:8: error: 'func.call' op callee @recompute_0 leads back to the function that contains this checkpoint (@recompute_0 -> @recompute_0); recursion through cube.checkpoint is not allowed
  %0 = func.call @recompute_0(%x) {cube.checkpoint} : (tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func private @recompute_a(%x: tensor<4xf32>) -> tensor<4xf32> {
  // CHECK: :[[@LINE+1]]:8: error: 'func.call' op callee @recompute_b leads back to the function that contains this checkpoint (@recompute_a -> @recompute_b -> @recompute_a); recursion through cube.checkpoint is not allowed
  %0 = func.call @recompute_b(%x) {cube.checkpoint} : (tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}
func.func private @recompute_b(%x: tensor<4xf32>) -> tensor<4xf32> {
  // CHECK: :[[@LINE+1]]:8: error: 'func.call' op callee @recompute_a leads back to the function that contains this checkpoint (@recompute_b -> @recompute_a -> @recompute_b); recursion through cube.checkpoint is not allowed
  %0 = func.call @recompute_a(%x) {cube.checkpoint} : (tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @checkpoint_on_other_op(%x: tensor<4xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.neg' op cube.checkpoint marks a func.call (a recomputed region), not this op
  %0 = "cube.neg"(%x) {cube.checkpoint} : (tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func private @recompute_0(%x: tensor<4xf32>) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}
func.func @checkpoint_not_unit(%x: tensor<4xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'func.call' op cube.checkpoint must be a unit attribute
  %0 = func.call @recompute_0(%x) {cube.checkpoint = 1 : i64} : (tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

// ---- ops anywhere in the module are verified -------------------------------------------------------

func.func private @in_private_function(%x: tensor<4xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.scale' op factor must be a finite float, got inf
  %0 = "cube.scale"(%x) {factor = 0x7FF0000000000000 : f64} : (tensor<4xf32>) -> tensor<4xf32>
  return
}
func.func @in_nested_region(%x: tensor<4xf32>, %c: i1) -> tensor<4xf32> {
  %r = scf.if %c -> tensor<4xf32> {
    // CHECK: :[[@LINE+1]]:10: error: 'cube.neg' op result is 4xf16 but expected 4xf32 (the input's type)
    %0 = "cube.neg"(%x) : (tensor<4xf32>) -> tensor<4xf16>
    %1 = "cube.cast"(%0) : (tensor<4xf16>) -> tensor<4xf32>
    scf.yield %1 : tensor<4xf32>
  } else {
    scf.yield %x : tensor<4xf32>
  }
  return %r : tensor<4xf32>
}

// -----

// ---- errors of MLIR's IRDL verifier, reported while parsing ----------------------------------------

func.func @irdl_missing_attribute(%x: tensor<2x8xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: 'cube.softmax' op attribute "dim" is expected but not provided
  %0 = "cube.softmax"(%x) : (tensor<2x8xf32>) -> tensor<2x8xf32>
  return
}

// -----

func.func @irdl_attribute_kind(%x: tensor<2x8xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: expected base attribute 'builtin.float' but got 'builtin.integer'
  %0 = "cube.rmsnorm"(%x, %x) {eps = 1} : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  return
}

// -----

func.func @irdl_operand_count(%x: tensor<2x8xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: op expects exactly 1 operands, but got 2
  %0 = "cube.silu"(%x, %x) : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  return
}

// -----

func.func @irdl_not_a_tensor(%x: tensor<2x8xf32>) {
  // CHECK: :[[@LINE+1]]:8: error: expected base type 'builtin.tensor' but got 'builtin.f32'
  %0 = "cube.silu"(%x) : (tensor<2x8xf32>) -> f32
  return
}
