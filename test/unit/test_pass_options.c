/* Unit test of pass option parsing (lib/Transforms/PassOptions.c) against a pass with every option kind. */
#include "check.h"
#include "cube/Passes.h"

static MlirLogicalResult noRun(MlirOperation op, const CubeOptionValue *o) {
  (void)op;
  (void)o;
  return mlirLogicalResultSuccess();
}

static const CubePassOption kOpts[] = {
    {"rank", CUBE_OPT_INT, "8", "rank", 1, 4096},
    {"alpha", CUBE_OPT_FLOAT, "16", "alpha", 0, 0},
    {"dropout", CUBE_OPT_FLOAT, "0.0", "dropout", 0, 0.999},
    {"targets", CUBE_OPT_LIST, "q_proj,v_proj", "targets", 0, 0},
    {"bias", CUBE_OPT_STRING, "none", "bias", 0, 0},
    {"rslora", CUBE_OPT_BOOL, "false", "rslora", 0, 0},
};
static const CubePassInfo kInfo = {"test-pass", "a test", "builtin.module", kOpts, 6, noRun};

static CubeOptionValue *parse(const char *text, char *err, size_t n) {
  CubeOptionValue *v = NULL;
  err[0] = 0;
  if (!cubePassOptionsParse(&kInfo, text, strlen(text), &v, err, n)) return NULL;
  return v;
}

int main(void) {
  char err[512];
  CubeOptionValue *v = parse("", err, sizeof err);
  CHECK(v != NULL);
  if (v) {
    CHECK(v[0].i == 8);
    CHECK(v[1].f == 16.0);
    CHECK(v[3].nItems == 2 && !strcmp(v[3].items[0], "q_proj") && !strcmp(v[3].items[1], "v_proj"));
    CHECK(!strcmp(v[4].s, "none"));
    CHECK(v[5].b == false);
    cubePassOptionsFree(&kInfo, v);
  }
  v = parse("rank=4 alpha=8.5 targets=q_proj,k_proj,v_proj bias=\"all\" rslora", err, sizeof err);
  CHECK(v != NULL);
  if (v) {
    CHECK(v[0].i == 4);
    CHECK(v[1].f == 8.5);
    CHECK(v[3].nItems == 3 && !strcmp(v[3].items[2], "v_proj"));
    CHECK(!strcmp(v[4].s, "all"));
    CHECK(v[5].b == true);
    cubePassOptionsFree(&kInfo, v);
  }
  CHECK(parse("rank=0", err, sizeof err) == NULL);
  CHECK_STR_CONTAINS(err, "pass 'test-pass' option 'rank' has value '0', expected an integer in [1, 4096]");
  CHECK(parse("rank=8x", err, sizeof err) == NULL);
  CHECK_STR_CONTAINS(err, "option 'rank' has value '8x', expected an integer");
  CHECK(parse("rank=99999999999999999999999", err, sizeof err) == NULL);
  CHECK_STR_CONTAINS(err, "expected an integer");
  CHECK(parse("dropout=1.0", err, sizeof err) == NULL);
  CHECK_STR_CONTAINS(err, "option 'dropout' has value '1.0', expected a number in [0, 0.999]");
  CHECK(parse("alpha=nan", err, sizeof err) == NULL);
  CHECK_STR_CONTAINS(err, "option 'alpha' has value 'nan', expected a number");
  CHECK(parse("alpha=", err, sizeof err) == NULL);
  CHECK_STR_CONTAINS(err, "option 'alpha' has value '', expected a number");
  CHECK(parse("rank", err, sizeof err) == NULL);
  CHECK_STR_CONTAINS(err, "option 'rank' needs a value ('rank=...')");
  CHECK(parse("targets=q_proj,,v_proj", err, sizeof err) == NULL);
  CHECK_STR_CONTAINS(err, "expected a comma-separated list of non-empty names");
  CHECK(parse("targets=", err, sizeof err) == NULL);
  CHECK(parse("rslora=yes", err, sizeof err) == NULL);
  CHECK_STR_CONTAINS(err, "option 'rslora' has value 'yes', expected true or false");
  CHECK(parse("frob=1", err, sizeof err) == NULL);
  CHECK_STR_CONTAINS(err, "pass 'test-pass' has no option 'frob' (options: rank alpha dropout targets bias rslora)");
  /* A tiny error buffer truncates, never overflows. */
  char small[8];
  CHECK(parse("frob=1", small, sizeof small) == NULL);
  CHECK(strlen(small) == 7);

  /* Registry lookups. */
  CHECK(cubePassLookup("cube-verify", 11) != NULL);
  CHECK(cubePassLookup("cube-verif", 10) == NULL);
  CHECK(cubePassCount() >= 2);
  return CHECK_REPORT();
}
