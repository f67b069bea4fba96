// The cube dialect: the forward op set of the Llama family, in IRDL.
//
// IRDL checks what it can express: operand/result counts, that every operand and result is a builtin
// tensor, and the kind of each required attribute (float, integer, string, array, symbol). Everything
// IRDL cannot say (shapes, element types, value ranges, the scope table, unique parameter names) is
// checked by the C verifier in Verify.c (`cube-verify`). docs/dialect.md documents every op.
//
// Attributes that are optional (matmul's transpose flags, attention's scale, softmax's scale and
// causal_period, pad's value; linear's bias
// operand is an optional operand) are not listed here, because IRDL attributes are always required;
// Verify.c checks them.
// A recomputed region is not an op of this dialect: it is a `func.call` marked with the unit attribute
// `cube.checkpoint` (IRDL binds all operands of a variadic group to one type, and a call's operands
// have many types); Verify.c checks its rules.
// Ops print in MLIR's generic form: "cube.linear"(%x, %w) : (...) -> ...
irdl.dialect @cube {
  // ---- parameters -------------------------------------------------------------------------------
  // A named model parameter (the HF state_dict key), its initialiser and whether it is trained.
  irdl.operation @param {
    %t = irdl.base "!builtin.tensor"
    %s1 = irdl.base "#builtin.string"
    %s2 = irdl.base "#builtin.string"
    %b = irdl.base "#builtin.integer"
    irdl.attributes {"name" = %s1, "init" = %s2, "trainable" = %b}
    irdl.results(out: %t)
  }

  // ---- lookups and GEMMs ------------------------------------------------------------------------
  irdl.operation @embedding {
    %ids = irdl.base "!builtin.tensor"
    %w = irdl.base "!builtin.tensor"
    %o = irdl.base "!builtin.tensor"
    irdl.operands(ids: %ids, weight: %w)
    irdl.results(out: %o)
  }
  irdl.operation @linear {
    %x = irdl.base "!builtin.tensor"
    %w = irdl.base "!builtin.tensor"
    %b = irdl.base "!builtin.tensor"
    %o = irdl.base "!builtin.tensor"
    irdl.operands(input: %x, weight: %w, bias: optional %b)
    irdl.results(out: %o)
  }
  irdl.operation @matmul {
    %a = irdl.base "!builtin.tensor"
    %b = irdl.base "!builtin.tensor"
    %o = irdl.base "!builtin.tensor"
    irdl.operands(lhs: %a, rhs: %b)
    irdl.results(out: %o)
  }

  // ---- elementwise ------------------------------------------------------------------------------
  irdl.operation @add {
    %a = irdl.base "!builtin.tensor"
    %b = irdl.base "!builtin.tensor"
    %o = irdl.base "!builtin.tensor"
    irdl.operands(lhs: %a, rhs: %b)
    irdl.results(out: %o)
  }
  irdl.operation @sub {
    %a = irdl.base "!builtin.tensor"
    %b = irdl.base "!builtin.tensor"
    %o = irdl.base "!builtin.tensor"
    irdl.operands(lhs: %a, rhs: %b)
    irdl.results(out: %o)
  }
  irdl.operation @mul {
    %a = irdl.base "!builtin.tensor"
    %b = irdl.base "!builtin.tensor"
    %o = irdl.base "!builtin.tensor"
    irdl.operands(lhs: %a, rhs: %b)
    irdl.results(out: %o)
  }
  irdl.operation @div {
    %a = irdl.base "!builtin.tensor"
    %b = irdl.base "!builtin.tensor"
    %o = irdl.base "!builtin.tensor"
    irdl.operands(lhs: %a, rhs: %b)
    irdl.results(out: %o)
  }
  irdl.operation @neg {
    %x = irdl.base "!builtin.tensor"
    %o = irdl.base "!builtin.tensor"
    irdl.operands(input: %x)
    irdl.results(out: %o)
  }
  irdl.operation @scale {
    %x = irdl.base "!builtin.tensor"
    %o = irdl.base "!builtin.tensor"
    %f = irdl.base "#builtin.float"
    irdl.operands(input: %x)
    irdl.attributes {"factor" = %f}
    irdl.results(out: %o)
  }
  irdl.operation @silu {
    %x = irdl.base "!builtin.tensor"
    %o = irdl.base "!builtin.tensor"
    irdl.operands(input: %x)
    irdl.results(out: %o)
  }
  irdl.operation @exp {
    %x = irdl.base "!builtin.tensor"
    %o = irdl.base "!builtin.tensor"
    irdl.operands(input: %x)
    irdl.results(out: %o)
  }
  irdl.operation @rsqrt {
    %x = irdl.base "!builtin.tensor"
    %o = irdl.base "!builtin.tensor"
    irdl.operands(input: %x)
    irdl.results(out: %o)
  }
  irdl.operation @cast {
    %x = irdl.base "!builtin.tensor"
    %o = irdl.base "!builtin.tensor"
    irdl.operands(input: %x)
    irdl.results(out: %o)
  }
  irdl.operation @dropout {
    %x = irdl.base "!builtin.tensor"
    %o = irdl.base "!builtin.tensor"
    %p = irdl.base "#builtin.float"
    %seed = irdl.base "#builtin.integer"
    irdl.operands(input: %x)
    irdl.attributes {"p" = %p, "seed" = %seed}
    irdl.results(out: %o)
  }

  // ---- composites (kept whole for fusion and registered kernels) ----------------------------------
  irdl.operation @rmsnorm {
    %x = irdl.base "!builtin.tensor"
    %w = irdl.base "!builtin.tensor"
    %o = irdl.base "!builtin.tensor"
    %eps = irdl.base "#builtin.float"
    irdl.operands(input: %x, weight: %w)
    irdl.attributes {"eps" = %eps}
    irdl.results(out: %o)
  }
  irdl.operation @rope {
    %x = irdl.base "!builtin.tensor"
    %o = irdl.base "!builtin.tensor"
    %theta = irdl.base "#builtin.float"
    irdl.operands(input: %x)
    irdl.attributes {"theta" = %theta}
    irdl.results(out: %o)
  }
  irdl.operation @softmax {
    %x = irdl.base "!builtin.tensor"
    %o = irdl.base "!builtin.tensor"
    %d = irdl.base "#builtin.integer"
    irdl.operands(input: %x)
    irdl.attributes {"dim" = %d}
    irdl.results(out: %o)
  }
  irdl.operation @attention {
    %q = irdl.base "!builtin.tensor"
    %k = irdl.base "!builtin.tensor"
    %v = irdl.base "!builtin.tensor"
    %o = irdl.base "!builtin.tensor"
    %c = irdl.base "#builtin.integer"
    irdl.operands(query: %q, key: %k, value: %v)
    irdl.attributes {"causal" = %c}
    irdl.results(out: %o)
  }
  irdl.operation @cross_entropy {
    %l = irdl.base "!builtin.tensor"
    %y = irdl.base "!builtin.tensor"
    %o = irdl.base "!builtin.tensor"
    %ii = irdl.base "#builtin.integer"
    %nl = irdl.base "!builtin.tensor"
    irdl.operands(logits: %l, labels: %y, norm_labels: optional %nl)
    irdl.attributes {"ignore_index" = %ii}
    irdl.results(loss: %o)
  }

  // ---- layout -----------------------------------------------------------------------------------
  irdl.operation @reshape {
    %x = irdl.base "!builtin.tensor"
    %o = irdl.base "!builtin.tensor"
    irdl.operands(input: %x)
    irdl.results(out: %o)
  }
  irdl.operation @transpose {
    %x = irdl.base "!builtin.tensor"
    %o = irdl.base "!builtin.tensor"
    %p = irdl.base "#builtin.dense_array"
    irdl.operands(input: %x)
    irdl.attributes {"permutation" = %p}
    irdl.results(out: %o)
  }
  irdl.operation @slice {
    %x = irdl.base "!builtin.tensor"
    %o = irdl.base "!builtin.tensor"
    %off = irdl.base "#builtin.dense_array"
    irdl.operands(input: %x)
    irdl.attributes {"offsets" = %off}
    irdl.results(out: %o)
  }
  // Binary: IRDL (MLIR 22) binds every operand of a variadic group to one type, and concat's inputs differ
  // in the concatenated dim. torch.cat of more tensors is a chain of cube.concat.
  irdl.operation @concat {
    %x = irdl.base "!builtin.tensor"
    %y = irdl.base "!builtin.tensor"
    %o = irdl.base "!builtin.tensor"
    %d = irdl.base "#builtin.integer"
    irdl.operands(lhs: %x, rhs: %y)
    irdl.attributes {"dim" = %d}
    irdl.results(out: %o)
  }

  // ---- backward and optimizer ops (written by cube-autodiff; docs/dialect.md, "Backward and optimizer
  // ops"; never in a traced forward) --------------------------------------------------------------------
  irdl.operation @embedding_grad {
    %ids = irdl.base "!builtin.tensor"
    %g = irdl.base "!builtin.tensor"
    %o = irdl.base "!builtin.tensor"
    %v = irdl.base "#builtin.integer"
    irdl.operands(ids: %ids, dout: %g)
    irdl.attributes {"num_embeddings" = %v}
    irdl.results(out: %o)
  }
  irdl.operation @rmsnorm_grad {
    %x = irdl.base "!builtin.tensor"
    %w = irdl.base "!builtin.tensor"
    %g = irdl.base "!builtin.tensor"
    %dx = irdl.base "!builtin.tensor"
    %dw = irdl.base "!builtin.tensor"
    %eps = irdl.base "#builtin.float"
    irdl.operands(input: %x, weight: %w, dout: %g)
    irdl.attributes {"eps" = %eps}
    irdl.results(dinput: %dx, dweight: %dw)
  }
  irdl.operation @rope_grad {
    %g = irdl.base "!builtin.tensor"
    %o = irdl.base "!builtin.tensor"
    %theta = irdl.base "#builtin.float"
    irdl.operands(dout: %g)
    irdl.attributes {"theta" = %theta}
    irdl.results(out: %o)
  }
  irdl.operation @softmax_grad {
    %y = irdl.base "!builtin.tensor"
    %g = irdl.base "!builtin.tensor"
    %o = irdl.base "!builtin.tensor"
    %d = irdl.base "#builtin.integer"
    irdl.operands(output: %y, dout: %g)
    irdl.attributes {"dim" = %d}
    irdl.results(out: %o)
  }
  irdl.operation @attention_grad {
    %q = irdl.base "!builtin.tensor"
    %k = irdl.base "!builtin.tensor"
    %v = irdl.base "!builtin.tensor"
    %g = irdl.base "!builtin.tensor"
    %dq = irdl.base "!builtin.tensor"
    %dk = irdl.base "!builtin.tensor"
    %dv = irdl.base "!builtin.tensor"
    %c = irdl.base "#builtin.integer"
    irdl.operands(query: %q, key: %k, value: %v, dout: %g)
    irdl.attributes {"causal" = %c}
    irdl.results(dquery: %dq, dkey: %dk, dvalue: %dv)
  }
  irdl.operation @cross_entropy_grad {
    %l = irdl.base "!builtin.tensor"
    %y = irdl.base "!builtin.tensor"
    %d = irdl.base "!builtin.tensor"
    %o = irdl.base "!builtin.tensor"
    %ii = irdl.base "#builtin.integer"
    %nl = irdl.base "!builtin.tensor"
    irdl.operands(logits: %l, labels: %y, dloss: %d, norm_labels: optional %nl)
    irdl.attributes {"ignore_index" = %ii}
    irdl.results(out: %o)
  }
  irdl.operation @silu_grad {
    %x = irdl.base "!builtin.tensor"
    %g = irdl.base "!builtin.tensor"
    %o = irdl.base "!builtin.tensor"
    irdl.operands(input: %x, dout: %g)
    irdl.results(out: %o)
  }
  irdl.operation @reduce_sum {
    %x = irdl.base "!builtin.tensor"
    %o = irdl.base "!builtin.tensor"
    %d = irdl.base "#builtin.dense_array"
    irdl.operands(input: %x)
    irdl.attributes {"dims" = %d}
    irdl.results(out: %o)
  }
  // The input written at `offsets` into a tensor of the result's shape, every other element the optional
  // attribute `value` (default 0; a float attribute for float tensors, an i64 one for integer tensors).
  irdl.operation @pad {
    %x = irdl.base "!builtin.tensor"
    %o = irdl.base "!builtin.tensor"
    %off = irdl.base "#builtin.dense_array"
    irdl.operands(input: %x)
    irdl.attributes {"offsets" = %off}
    irdl.results(out: %o)
  }
  irdl.operation @sumsq {
    %x = irdl.base "!builtin.tensor"
    %o = irdl.base "!builtin.tensor"
    irdl.operands(input: %x)
    irdl.results(out: %o)
  }
  // A constant tensor (every element `value`): the loss seed 1.0 and the clipping constants.
  irdl.operation @fill {
    %o = irdl.base "!builtin.tensor"
    %v = irdl.base "#builtin.float"
    irdl.attributes {"value" = %v}
    irdl.results(out: %o)
  }
  // Elementwise minimum (torch.minimum): the clipping coefficient min(1, clip / (norm + 1e-6)).
  irdl.operation @minimum {
    %a = irdl.base "!builtin.tensor"
    %b = irdl.base "!builtin.tensor"
    %o = irdl.base "!builtin.tensor"
    irdl.operands(lhs: %a, rhs: %b)
    irdl.results(out: %o)
  }
  irdl.operation @opt_state {
    %t = irdl.base "!builtin.tensor"
    %s1 = irdl.base "#builtin.string"
    %s2 = irdl.base "#builtin.string"
    %s3 = irdl.base "#builtin.string"
    irdl.attributes {"name" = %s1, "init" = %s2, "param" = %s3}
    irdl.results(out: %t)
  }
  irdl.operation @adamw_update {
    %p = irdl.base "!builtin.tensor"
    %g = irdl.base "!builtin.tensor"
    %m = irdl.base "!builtin.tensor"
    %v = irdl.base "!builtin.tensor"
    %lr = irdl.base "!builtin.tensor"
    %step = irdl.base "!builtin.tensor"
    %gs = irdl.base "!builtin.tensor"
    %b1 = irdl.base "#builtin.float"
    %b2 = irdl.base "#builtin.float"
    %eps = irdl.base "#builtin.float"
    %wd = irdl.base "#builtin.float"
    irdl.operands(param: %p, grad: %g, exp_avg: %m, exp_avg_sq: %v, lr: %lr, step: %step, grad_scale: %gs)
    irdl.attributes {"beta1" = %b1, "beta2" = %b2, "eps" = %eps, "weight_decay" = %wd}
  }
  // ---- data parallelism (cube-data-parallel) ------------------------------------------------------
  // The value reduced over every rank of a data-parallel run ("avg": the mean, as DDP averages gradients;
  // "sum"). One op per tensor: the ops of one `bucket` stand next to each other and become one collective
  // step of the plan (IRDL binds a variadic group to one type, and a bucket holds tensors of many shapes).
  irdl.operation @all_reduce {
    %x = irdl.base "!builtin.tensor"
    %o = irdl.base "!builtin.tensor"
    %r = irdl.base "#builtin.string"
    %b = irdl.base "#builtin.integer"
    irdl.operands(input: %x)
    irdl.attributes {"reduction" = %r, "bucket" = %b}
    irdl.results(out: %o)
  }
}
