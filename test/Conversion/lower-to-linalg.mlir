// cube-lower-to-linalg: each kernel becomes linalg on tensors over 1-D (flat) views, destination-passing
// style: computed into %out, temporaries into the scratch arguments (no tensor.empty), f32 arithmetic.
// RUN: cube-opt %s --pass-pipeline='builtin.module(cube-prepare-forward,cube-group-kernels{target=cpu},cube-lower-to-linalg,cube-verify)' | FileCheck %s
// RUN: cube-opt %s --pass-pipeline='builtin.module(cube-prepare-forward,cube-group-kernels{target=cpu},cube-lower-to-linalg)' | cube-opt | FileCheck %s --check-prefix=ROUNDTRIP
// ROUNDTRIP: func.func @forward

// The indexing maps: rmsnorm's weight and row, the transpose's source index, rope's rotate_half partner,
// attention's GQA kv row (query head h reads kv head h floordiv 2), linear's bias.
// CHECK-DAG: #[[MOD4:.*]] = affine_map<(d0) -> (d0 mod 4)>
// CHECK-DAG: #[[ROW4:.*]] = affine_map<(d0) -> (d0 floordiv 4)>
// CHECK-DAG: #[[TR:.*]] = affine_map<(d0) -> ((d0 floordiv 12) * 12 + (d0 floordiv 3) mod 4 + (d0 mod 3) * 4)>
// CHECK-DAG: #[[ROPE:.*]] = affine_map<(d0) -> (d0 - d0 mod 8 + (d0 mod 8 + 4) mod 8)>
// CHECK-DAG: #[[KV:.*]] = affine_map<(d0, d1) -> (((d0 floordiv 6) floordiv 24) * 12 + ((((d0 floordiv 6) floordiv 6) mod 4) floordiv 2) * 6 + d0 mod 6, d1)>
// CHECK-DAG: #[[MOD5:.*]] = affine_map<(d0) -> (d0 mod 5)>

// No kernel allocates: every tensor.empty left is a buffer of @forward.
// CHECK-LABEL: func.func @forward
// CHECK-NOT: linalg.
// CHECK-LABEL: func.func private @k0_add(%arg0: tensor<2x3x4xf32>, %arg1: tensor<2x3x4xf32>, %arg2: tensor<2x3x4xf32>) -> tensor<2x3x4xf32> attributes {cube.kernel = "cube.add"
// CHECK:      tensor.collapse_shape %arg0 {{\[\[}}0, 1, 2]] : tensor<2x3x4xf32> into tensor<24xf32>
// CHECK:      linalg.generic {{{.*}}iterator_types = ["parallel"]}
// CHECK:      arith.addf
// CHECK:      tensor.expand_shape {{.*}} output_shape [2, 3, 4] : tensor<24xf32> into tensor<2x3x4xf32>
// CHECK-NOT:  tensor.empty
// CHECK:      return

// bf16 is computed in f32: extended on load, rounded once on store.
// CHECK-LABEL: func.func private @k1_silu
// CHECK:      arith.extf {{.*}} : bf16 to f32
// CHECK:      arith.negf
// CHECK:      math.exp
// CHECK:      arith.divf
// CHECK:      arith.truncf {{.*}} : f32 to bf16

// rmsnorm: sum of squares per row into the scratch (a reduction), then HF's formula per element.
// CHECK-LABEL: func.func private @k2_rmsnorm
// CHECK:      linalg.fill ins(%{{.*}} : f32) outs(%arg2 : tensor<6xf32>)
// CHECK:      linalg.generic {{{.*}}iterator_types = ["parallel", "reduction"]}
// CHECK:      indexing_maps = [#{{.*}}, #[[MOD4]], #[[ROW4]], #{{.*}}]
// CHECK:      math.rsqrt

// softmax: max-subtraction.
// CHECK-LABEL: func.func private @k3_softmax
// CHECK:      arith.constant 0xFF800000 : f32
// CHECK:      arith.maximumf
// CHECK:      arith.subf
// CHECK:      math.exp
// CHECK:      arith.divf

// transpose: one generic whose input map computes the source index.
// CHECK-LABEL: func.func private @k4_transpose
// CHECK:      indexing_maps = [#[[TR]], #{{.*}}]

// rope: HF's inv_freq = 1 / theta^(2i/D), angles s * inv_freq, rotate_half through the partner element.
// CHECK-LABEL: func.func private @k5_rope
// CHECK:      indexing_maps = [#{{.*}}, #[[ROPE]], #{{.*}}]
// CHECK:      math.powf
// CHECK:      math.cos
// CHECK:      math.sin

// attention: scores, masked row max, sum of exp, probabilities, probs @ v; GQA via h floordiv (Hq / Hkv).
// CHECK-LABEL: func.func private @k6_attention({{.*}}, %arg3: tensor<288xf32>, %arg4: tensor<48xf32>, %arg5: tensor<48xf32>, %arg6: tensor<2x4x6x8xf32>)
// CHECK:      indexing_maps = [#{{.*}}, #[[KV]], #{{.*}}]
// CHECK:      arith.cmpi ugt
// CHECK:      math.exp

// cross_entropy: log-sum-exp per row, gather of the label's logit, mean over labels != ignore_index.
// CHECK-LABEL: func.func private @k7_cross_entropy
// CHECK:      arith.maximumf
// CHECK:      math.exp
// CHECK:      arith.constant -100 : i64
// CHECK:      arith.cmpi ne
// CHECK:      tensor.extract
// CHECK:      math.log
// CHECK:      arith.divf

// embedding: a gather with clamped ids.
// CHECK-LABEL: func.func private @k8_embedding
// CHECK:      arith.index_cast {{.*}} : i64 to index
// CHECK:      arith.minsi
// CHECK:      tensor.extract %arg1

// linear on the CPU: f32 accumulation over K, bias added after the products.
// CHECK-LABEL: func.func private @k9_linear
// CHECK:      linalg.generic {{{.*}}iterator_types = ["parallel", "reduction"]}
// CHECK:      arith.mulf
// CHECK:      arith.addf
// CHECK:      indexing_maps = [#[[MOD5]], #{{.*}}]

module {
  func.func @forward(%a: tensor<2x3x4xf32>, %b: tensor<2x3x4xf32>, %h: tensor<3x8xbf16>, %w: tensor<4xf32>,
                     %q: tensor<2x4x6x8xf32>, %k: tensor<2x2x6x8xf32>, %lg: tensor<5x7xf32>, %lb: tensor<5xi64>,
                     %ids: tensor<2x3xi64>, %emb: tensor<10x4xf32>, %lw: tensor<5x4xf32>, %lbias: tensor<5xf32>) -> tensor<f32> {
    %0 = "cube.add"(%a, %b) : (tensor<2x3x4xf32>, tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
    %1 = "cube.silu"(%h) : (tensor<3x8xbf16>) -> tensor<3x8xbf16>
    %2 = "cube.rmsnorm"(%0, %w) {eps = 1.0e-05 : f64} : (tensor<2x3x4xf32>, tensor<4xf32>) -> tensor<2x3x4xf32>
    %3 = "cube.softmax"(%2) {dim = -1 : i64} : (tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
    %4 = "cube.transpose"(%3) {permutation = array<i64: 0, 2, 1>} : (tensor<2x3x4xf32>) -> tensor<2x4x3xf32>
    %5 = "cube.rope"(%q) {theta = 10000.0 : f64} : (tensor<2x4x6x8xf32>) -> tensor<2x4x6x8xf32>
    %6 = "cube.attention"(%5, %k, %k) {causal = true} : (tensor<2x4x6x8xf32>, tensor<2x2x6x8xf32>, tensor<2x2x6x8xf32>) -> tensor<2x4x6x8xf32>
    %7 = "cube.cross_entropy"(%lg, %lb) {ignore_index = -100 : i64} : (tensor<5x7xf32>, tensor<5xi64>) -> tensor<f32>
    %8 = "cube.embedding"(%ids, %emb) : (tensor<2x3xi64>, tensor<10x4xf32>) -> tensor<2x3x4xf32>
    %9 = "cube.linear"(%8, %lw, %lbias) : (tensor<2x3x4xf32>, tensor<5x4xf32>, tensor<5xf32>) -> tensor<2x3x5xf32>
    return %7 : tensor<f32>
  }
}
