/* A minimal check macro for the C unit tests: counts failures, prints file:line and the expression. */
#ifndef CUBE_TEST_CHECK_H
#define CUBE_TEST_CHECK_H
#include <stdio.h>
#include <string.h>

static int checkFailures = 0, checkCount = 0;
#define CHECK(cond)                                                                    \
  do {                                                                                 \
    checkCount++;                                                                      \
    if (!(cond)) {                                                                     \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);         \
      checkFailures++;                                                                 \
    }                                                                                  \
  } while (0)
#define CHECK_STR_CONTAINS(hay, needle)                                                \
  do {                                                                                 \
    checkCount++;                                                                      \
    if (!strstr((hay), (needle))) {                                                    \
      fprintf(stderr, "%s:%d: '%s' does not contain '%s'\n", __FILE__, __LINE__, (hay), (needle)); \
      checkFailures++;                                                                 \
    }                                                                                  \
  } while (0)
#define CHECK_REPORT()                                                                 \
  (printf("%d checks, %d failed\n", checkCount, checkFailures), checkFailures ? 1 : 0)
#endif
