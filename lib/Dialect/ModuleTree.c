/* PyTorch-style printing of the module tree (see cube/ModuleTree.h).
 *
 * Each module's one-line "extra repr" comes from the op that carries its scope: a Linear's in/out features
 * and bias from its cube.linear (weight operand [out, in], a third operand = bias), an Embedding's sizes
 * from its cube.embedding, an RMSNorm's size and eps from its cube.rmsnorm, a Dropout's p from its
 * cube.dropout. Ops inside outlined recompute functions carry scopes relative to the instance, so a path
 * also matches an op whose scope is a dot-boundary suffix of it. */
#include "cube/ModuleTree.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cube/Ops.h"
#include "mlir-c/BuiltinTypes.h"

/* ---- a growable string ------------------------------------------------------------------------- */

typedef struct {
  char *s;
  size_t len, cap;
} Str;

static void strAppendN(Str *b, const char *t, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (b->len + n + 1 > cap) cap *= 2;
    char *s = realloc(b->s, cap);
    if (!s) return;
    b->s = s;
    b->cap = cap;
  }
  memcpy(b->s + b->len, t, n);
  b->len += n;
  b->s[b->len] = 0;
}
static void strAppend(Str *b, const char *t) { strAppendN(b, t, strlen(t)); }

/* ---- the table ---------------------------------------------------------------------------------- */

typedef struct {
  MlirStringRef path, type;
} Entry;

typedef struct {
  Entry *entries;
  intptr_t n;
  MlirOperation *ops; /* cube ops that carry a scope */
  size_t nOps, capOps;
} Tree;

static void collectScoped(MlirOperation op, void *u) {
  Tree *t = u;
  MlirStringRef scope;
  if (!cubeGetScope(op, &scope)) return;
  if (t->nOps == t->capOps) {
    size_t cap = t->capOps ? t->capOps * 2 : 64;
    MlirOperation *ops = realloc(t->ops, cap * sizeof *ops);
    if (!ops) return;
    t->ops = ops;
    t->capOps = cap;
  }
  t->ops[t->nOps++] = op;
}

static bool refEq(MlirStringRef a, const char *b) { return a.length == strlen(b) && !memcmp(a.data, b, a.length); }

/* True when `scope` is `path` or a suffix of it that starts after a '.'. */
static int scopeMatch(MlirStringRef path, MlirStringRef scope) {
  if (mlirStringRefEqual(path, scope)) return 2;
  if (scope.length == 0 || scope.length >= path.length) return 0;
  size_t off = path.length - scope.length;
  return path.data[off - 1] == '.' && !memcmp(path.data + off, scope.data, scope.length) ? 1 : 0;
}

/* The cube.<mnemonic> op for module `path`: an exact scope match, else the longest suffix match. */
static MlirOperation opFor(const Tree *t, MlirStringRef path, const char *mnemonic) {
  MlirOperation best = {NULL};
  size_t bestLen = 0;
  for (size_t i = 0; i < t->nOps; ++i) {
    if (!cubeIsOp(t->ops[i], mnemonic)) continue;
    MlirStringRef scope;
    cubeGetScope(t->ops[i], &scope);
    int m = scopeMatch(path, scope);
    if (m == 2) return t->ops[i];
    if (m == 1 && scope.length > bestLen) {
      best = t->ops[i];
      bestLen = scope.length;
    }
  }
  return best;
}

static int64_t dimOf(MlirValue v, intptr_t i) {
  MlirType ty = mlirValueGetType(v);
  if (!mlirTypeIsARankedTensor(ty) || i >= mlirShapedTypeGetRank(ty)) return -1;
  return mlirShapedTypeGetDimSize(ty, i);
}

/* Python's repr(float): the shortest text that reads back as the same double. */
static void pyFloat(double x, char *buf, size_t n) {
  if (isnan(x)) {
    snprintf(buf, n, "nan");
    return;
  }
  if (isinf(x)) {
    snprintf(buf, n, x > 0 ? "inf" : "-inf");
    return;
  }
  char tmp[64];
  for (int prec = 1; prec <= 17; ++prec) {
    snprintf(tmp, sizeof tmp, "%.*e", prec - 1, x);
    if (strtod(tmp, NULL) == x) break;
  }
  /* tmp is d.ddde[+-]XX; Python uses scientific notation when exp < -4 or exp >= 16. */
  char *e = strchr(tmp, 'e');
  int exp = atoi(e + 1);
  char mant[40];
  size_t ml = (size_t)(e - tmp);
  memcpy(mant, tmp, ml);
  mant[ml] = 0;
  char digits[40];
  size_t nd = 0;
  bool neg = mant[0] == '-';
  for (char *p = mant; *p; ++p)
    if (*p >= '0' && *p <= '9') digits[nd++] = *p;
  digits[nd] = 0;
  while (nd > 1 && digits[nd - 1] == '0') digits[--nd] = 0;
  Str out = {0};
  if (neg) strAppend(&out, "-");
  if (exp < -4 || exp >= 16) {
    char tail[16];
    strAppendN(&out, digits, 1);
    if (nd > 1) {
      strAppend(&out, ".");
      strAppend(&out, digits + 1);
    }
    snprintf(tail, sizeof tail, "e%c%02d", exp < 0 ? '-' : '+', abs(exp));
    strAppend(&out, tail);
  } else if (exp < 0) {
    strAppend(&out, "0.");
    for (int i = 0; i < -exp - 1; ++i) strAppend(&out, "0");
    strAppend(&out, digits);
  } else {
    for (size_t i = 0; i <= (size_t)exp; ++i) strAppendN(&out, i < nd ? digits + i : "0", 1);
    strAppend(&out, ".");
    strAppend(&out, nd > (size_t)exp + 1 ? digits + exp + 1 : "0");
  }
  snprintf(buf, n, "%s", out.s ? out.s : "?");
  free(out.s);
}

/* The text inside "Type(...)" for a module without children. */
static void extraRepr(const Tree *t, const Entry *e, char *buf, size_t n) {
  buf[0] = 0;
  MlirOperation op;
  if (refEq(e->type, "Linear") && !mlirOperationIsNull(op = opFor(t, e->path, "linear")) &&
      mlirOperationGetNumOperands(op) >= 2) {
    MlirValue w = mlirOperationGetOperand(op, 1);
    snprintf(buf, n, "in_features=%lld, out_features=%lld, bias=%s", (long long)dimOf(w, 1),
             (long long)dimOf(w, 0), mlirOperationGetNumOperands(op) > 2 ? "True" : "False");
  } else if (refEq(e->type, "Embedding") && !mlirOperationIsNull(op = opFor(t, e->path, "embedding")) &&
             mlirOperationGetNumOperands(op) >= 2) {
    MlirValue w = mlirOperationGetOperand(op, 1);
    snprintf(buf, n, "%lld, %lld", (long long)dimOf(w, 0), (long long)dimOf(w, 1));
  } else if (refEq(e->type, "LlamaRMSNorm") && !mlirOperationIsNull(op = opFor(t, e->path, "rmsnorm")) &&
             mlirOperationGetNumOperands(op) >= 2) {
    double eps = 0;
    char epsText[64];
    cubeGetF64Attr(op, "eps", &eps);
    pyFloat(eps, epsText, sizeof epsText);
    snprintf(buf, n, "(%lld,), eps=%s", (long long)dimOf(mlirOperationGetOperand(op, 1), 0), epsText);
  } else if (refEq(e->type, "Dropout") && !mlirOperationIsNull(op = opFor(t, e->path, "dropout"))) {
    double p = 0;
    char pText[64];
    cubeGetF64Attr(op, "p", &p);
    pyFloat(p, pText, sizeof pText);
    snprintf(buf, n, "p=%s, inplace=False", pText);
  }
}

static bool isChild(MlirStringRef parent, MlirStringRef path) {
  if (path.length == 0) return false;
  const char *dot = NULL;
  for (size_t i = path.length; i-- > 0;)
    if (path.data[i] == '.') {
      dot = path.data + i;
      break;
    }
  size_t plen = dot ? (size_t)(dot - path.data) : 0;
  return plen == parent.length && !memcmp(path.data, parent.data, plen);
}

static const char *lastName(MlirStringRef path, size_t *len) {
  for (size_t i = path.length; i-- > 0;)
    if (path.data[i] == '.') {
      *len = path.length - i - 1;
      return path.data + i + 1;
    }
  *len = path.length;
  return path.data;
}

/* Appends `text` with every line after the first indented by two spaces (PyTorch's _addindent). */
static void appendIndented(Str *out, const char *text) {
  for (const char *p = text; *p; ++p) {
    strAppendN(out, p, 1);
    if (*p == '\n' && p[1]) strAppend(out, "  ");
  }
}

static char *formatModule(const Tree *t, intptr_t idx);

/* ModuleList.__repr__: runs of consecutive children with equal text become "(a-b): n x text". */
static void formatListChildren(const Tree *t, intptr_t *kids, intptr_t nk, Str *lines) {
  char **texts = calloc((size_t)nk + 1, sizeof(char *));
  for (intptr_t i = 0; i < nk; ++i) texts[i] = formatModule(t, kids[i]);
  for (intptr_t i = 0; i < nk;) {
    intptr_t j = i + 1;
    while (j < nk && texts[i] && texts[j] && !strcmp(texts[i], texts[j])) ++j;
    size_t l1, l2;
    const char *n1 = lastName(t->entries[kids[i]].path, &l1);
    const char *n2 = lastName(t->entries[kids[j - 1]].path, &l2);
    char head[160];
    if (j - i == 1)
      snprintf(head, sizeof head, "(%.*s): ", (int)l1, n1);
    else
      snprintf(head, sizeof head, "(%.*s-%.*s): %lld x ", (int)l1, n1, (int)l2, n2, (long long)(j - i));
    strAppend(lines, "\n  ");
    strAppend(lines, head);
    appendIndented(lines, texts[i] ? texts[i] : "");
    i = j;
  }
  for (intptr_t i = 0; i < nk; ++i) free(texts[i]);
  free(texts);
}

static char *formatModule(const Tree *t, intptr_t idx) {
  const Entry *e = &t->entries[idx];
  intptr_t *kids = malloc(sizeof(intptr_t) * (size_t)(t->n ? t->n : 1));
  intptr_t nk = 0;
  for (intptr_t i = 0; i < t->n; ++i)
    if (i != idx && isChild(e->path, t->entries[i].path)) kids[nk++] = i;
  Str out = {0};
  strAppendN(&out, e->type.data, e->type.length);
  strAppend(&out, "(");
  char extra[256];
  extraRepr(t, e, extra, sizeof extra);
  if (nk == 0) {
    strAppend(&out, extra);
  } else {
    Str lines = {0};
    if (extra[0]) {
      strAppend(&lines, "\n  ");
      strAppend(&lines, extra);
    }
    if (refEq(e->type, "ModuleList")) {
      formatListChildren(t, kids, nk, &lines);
    } else {
      for (intptr_t k = 0; k < nk; ++k) {
        size_t l;
        const char *name = lastName(t->entries[kids[k]].path, &l);
        char head[160];
        snprintf(head, sizeof head, "(%.*s): ", (int)l, name);
        char *child = formatModule(t, kids[k]);
        strAppend(&lines, "\n  ");
        strAppend(&lines, head);
        appendIndented(&lines, child ? child : "");
        free(child);
      }
    }
    if (lines.s) strAppend(&out, lines.s);
    strAppend(&out, "\n");
    free(lines.s);
  }
  strAppend(&out, ")");
  free(kids);
  return out.s;
}

char *cubeModuleTreeText(MlirOperation module) {
  Tree t = {0};
  t.n = cubeScopeTableSize(module);
  if (t.n == 0) return NULL;
  t.entries = calloc((size_t)t.n, sizeof *t.entries);
  intptr_t root = -1, kept = 0;
  for (intptr_t i = 0; i < t.n; ++i) {
    if (!cubeScopeTableEntry(module, i, &t.entries[kept].path, &t.entries[kept].type)) continue;
    if (t.entries[kept].path.length == 0 && root < 0) root = kept;
    kept++;
  }
  t.n = kept;
  char *text = NULL;
  if (root >= 0) {
    cubeWalkCubeOps(module, collectScoped, &t);
    char *tree = formatModule(&t, root);
    if (tree) {
      size_t n = strlen(tree);
      text = malloc(n + 2);
      if (text) {
        memcpy(text, tree, n);
        text[n] = '\n';
        text[n + 1] = 0;
      }
      free(tree);
    }
  }
  free(t.ops);
  free(t.entries);
  return text;
}
