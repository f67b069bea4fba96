/* Unit test of the cube.param init spec parser (lib/Dialect/InitSpec.c). */
#include <math.h>

#include "check.h"
#include "cube/InitSpec.h"

static bool parse(const char *s, CubeInitSpec *out, char *err, size_t n) {
  err[0] = 0;
  return cubeInitSpecParse(s, strlen(s), out, err, n);
}

int main(void) {
  CubeInitSpec s;
  char err[256];
  CHECK(parse("zeros", &s, err, sizeof err) && s.kind == CUBE_INIT_ZEROS);
  CHECK(parse("ones", &s, err, sizeof err) && s.kind == CUBE_INIT_ONES);
  CHECK(parse("constant(value=-2.5)", &s, err, sizeof err) && s.kind == CUBE_INIT_CONSTANT && s.value == -2.5);
  CHECK(parse("normal(std=0.02)", &s, err, sizeof err) && s.kind == CUBE_INIT_NORMAL && s.std == 0.02 && s.mean == 0);
  CHECK(parse("normal(mean=1,std=2)", &s, err, sizeof err) && s.mean == 1 && s.std == 2);
  CHECK(parse("uniform(low=-1,high=1)", &s, err, sizeof err) && s.kind == CUBE_INIT_UNIFORM && s.low == -1);
  CHECK(parse("kaiming_uniform(a=2.23606797749979)", &s, err, sizeof err) &&
        s.kind == CUBE_INIT_KAIMING_UNIFORM && fabs(s.a - sqrt(5.0)) < 1e-12);

  CHECK(!parse("gaussian", &s, err, sizeof err));
  CHECK_STR_CONTAINS(err, "unknown initialiser 'gaussian', expected zeros, ones");
  CHECK(!parse("normal(std=0)", &s, err, sizeof err));
  CHECK_STR_CONTAINS(err, "normal needs std=S with S > 0");
  CHECK(!parse("normal(mean=0)", &s, err, sizeof err));
  CHECK(!parse("normal(std=0.02", &s, err, sizeof err));
  CHECK_STR_CONTAINS(err, "expected '(key=value,...)'");
  CHECK(!parse("normal(std=abc)", &s, err, sizeof err));
  CHECK_STR_CONTAINS(err, "argument 'std' has value 'abc', expected a finite number");
  CHECK(!parse("normal(std=inf)", &s, err, sizeof err));
  CHECK(!parse("normal(sigma=1)", &s, err, sizeof err));
  CHECK_STR_CONTAINS(err, "unknown argument 'sigma'");
  CHECK(!parse("normal(std=1,std=2)", &s, err, sizeof err));
  CHECK_STR_CONTAINS(err, "argument 'std' given twice");
  CHECK(!parse("uniform(low=1,high=1)", &s, err, sizeof err));
  CHECK_STR_CONTAINS(err, "uniform needs low=L,high=H with L < H");
  CHECK(!parse("zeros(value=1)", &s, err, sizeof err));
  CHECK(!parse("", &s, err, sizeof err));
  CHECK(!parse("kaiming_uniform()", &s, err, sizeof err));
  CHECK_STR_CONTAINS(err, "kaiming_uniform needs a=A");
  return CHECK_REPORT();
}
