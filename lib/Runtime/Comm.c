/* The ranks of a data-parallel run (docs/runtime.md, "Data parallelism").
 *
 * `cube-run --nproc N` (cubeLaunchRanks) maps one shared anonymous region, forks N processes and waits for
 * them: rank r runs the whole training loop on its slice of every global batch. The region holds a
 * process-shared barrier, rank 0's NCCL id (how the CUDA backend's communicator finds its peers without a
 * network rendezvous) and one staging slot per rank, through which the CPU backend all-reduces: each rank
 * copies a chunk of its buffer into its slot, and after a barrier every rank sums the slots in rank order
 * (in f32, so every rank gets the same bits) and divides by N for an average. When one rank fails, the
 * launcher stops the others (they would wait at a barrier forever) and exits with the failing status.
 * NCCL_NVLS_ENABLE=0 is set for the ranks unless the environment says otherwise: NVLink multicast is kept
 * off on the lent machines (it needs fabric-manager support they do not have). */
#define _GNU_SOURCE
#include "cube/Runtime.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

enum { SLOT_BYTES = 4 << 20, MAX_RANKS = 64 };

typedef struct {
  pthread_barrier_t barrier;
  unsigned char id[CUBE_COMM_ID_BYTES];
  unsigned char slots[]; /* ranks * SLOT_BYTES */
} Shared;

struct CubeComm {
  int rank, size, localRank;
  Shared *shared;
  float *acc, *tmp; /* the CPU all-reduce's f32 chunk scratch, allocated at its first use, kept for the run */
};

int cubeCommRank(const CubeComm *c) { return c ? c->rank : 0; }
int cubeCommSize(const CubeComm *c) { return c ? c->size : 1; }
int cubeCommLocalRank(const CubeComm *c) { return c ? c->localRank : 0; }

static bool barrier(CubeComm *c, char *err, size_t errSize) {
  int r = pthread_barrier_wait(&c->shared->barrier);
  if (r != 0 && r != PTHREAD_BARRIER_SERIAL_THREAD)
    return snprintf(err, errSize, "rank %d: the ranks' barrier failed: %s", c->rank, strerror(r)), false;
  return true;
}

bool cubeCommShareId(CubeComm *c, void *id, char *err, size_t errSize) {
  if (c->rank == 0) memcpy(c->shared->id, id, CUBE_COMM_ID_BYTES);
  if (!barrier(c, err, errSize)) return false;
  if (c->rank != 0) memcpy(id, c->shared->id, CUBE_COMM_ID_BYTES);
  return barrier(c, err, errSize);
}

bool cubeCommAllReduceHost(CubeComm *c, void *data, uint64_t count, CubeDType dtype, bool average, char *err,
                           size_t errSize) {
  size_t elt = dtype == CUBE_DT_F32 ? 4 : 2;
  if (dtype != CUBE_DT_F32 && dtype != CUBE_DT_BF16 && dtype != CUBE_DT_F16)
    return snprintf(err, errSize, "all_reduce of %s data (expected f32, bf16 or f16)", cubePlanDTypeName(dtype)), false;
  size_t chunk = SLOT_BYTES / 4; /* elements per round: the f32 scratch holds one chunk */
  if (!c->acc) c->acc = malloc(chunk * sizeof *c->acc);
  if (!c->tmp) c->tmp = malloc(chunk * sizeof *c->tmp);
  float *acc = c->acc, *tmp = c->tmp;
  bool ok = acc && tmp;
  if (!ok) snprintf(err, errSize, "out of memory (all_reduce scratch)");
  for (uint64_t done = 0; ok && done < count; done += chunk) {
    size_t n = count - done < chunk ? (size_t)(count - done) : chunk;
    unsigned char *mine = (unsigned char *)data + done * elt;
    memcpy(c->shared->slots + (size_t)c->rank * SLOT_BYTES, mine, n * elt);
    if (!(ok = barrier(c, err, errSize))) break;
    for (int r = 0; r < c->size; ++r) {
      const void *slot = c->shared->slots + (size_t)r * SLOT_BYTES;
      if (!cubeConvertToF32(slot, n, dtype, r ? tmp : acc)) break;
      if (r)
        for (size_t j = 0; j < n; ++j) acc[j] += tmp[j];
    }
    if (average)
      for (size_t j = 0; j < n; ++j) acc[j] /= (float)c->size;
    cubeConvertFromF32(acc, n, dtype, mine);
    ok = barrier(c, err, errSize); /* nobody refills a slot before everyone has read it */
  }
  return ok;
}

static void stopAll(const pid_t *pids, int n) {
  for (int i = 0; i < n; ++i)
    if (pids[i] > 0) kill(pids[i], SIGTERM);
}

int cubeLaunchRanks(int nproc, CubeRankMain body, void *arg, FILE *err) {
  if (nproc < 1 || nproc > MAX_RANKS) {
    fprintf(err, "error: --nproc: %d is outside [1, %d]\n", nproc, MAX_RANKS);
    return 2;
  }
  size_t bytes = sizeof(Shared) + (size_t)nproc * SLOT_BYTES;
  Shared *shared = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (shared == MAP_FAILED) {
    fprintf(err, "error: --nproc %d: cannot map %zu bytes of shared memory for the ranks: %s\n", nproc, bytes,
            strerror(errno));
    return 1;
  }
  pthread_barrierattr_t attr;
  pthread_barrierattr_init(&attr);
  pthread_barrierattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  int r = pthread_barrier_init(&shared->barrier, &attr, (unsigned)nproc);
  pthread_barrierattr_destroy(&attr);
  if (r != 0) {
    fprintf(err, "error: --nproc %d: cannot create the ranks' barrier: %s\n", nproc, strerror(r));
    munmap(shared, bytes);
    return 1;
  }
  setenv("NCCL_NVLS_ENABLE", "0", 0);
  fflush(NULL); /* or the children would print the parent's buffered output again */
  pid_t pids[MAX_RANKS] = {0};
  int status = 0, started = 0;
  for (int i = 0; i < nproc; ++i) {
    pid_t pid = fork();
    if (pid < 0) {
      fprintf(err, "error: --nproc %d: cannot start rank %d: %s\n", nproc, i, strerror(errno));
      stopAll(pids, started);
      status = 1;
      break;
    }
    if (pid == 0) {
      char v[16];
      snprintf(v, sizeof v, "%d", i);
      setenv("RANK", v, 1);
      setenv("LOCAL_RANK", v, 1);
      snprintf(v, sizeof v, "%d", nproc);
      setenv("WORLD_SIZE", v, 1);
      setenv("LOCAL_WORLD_SIZE", v, 1);
      CubeComm comm = {i, nproc, i, shared, NULL, NULL};
      int rc = body(&comm, arg);
      free(comm.acc);
      free(comm.tmp);
      fflush(NULL);
      _exit(rc);
    }
    pids[started++] = pid;
  }
  /* Wait for every rank; the first one to fail decides the status and stops the rest. */
  for (int left = started; left > 0; --left) {
    int ws;
    pid_t done = waitpid(-1, &ws, 0);
    if (done < 0) {
      if (errno == EINTR) {
        ++left;
        continue;
      }
      break;
    }
    int rank = -1;
    for (int i = 0; i < started; ++i)
      if (pids[i] == done) {
        rank = i;
        pids[i] = 0;
      }
    int rc = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + (WIFSIGNALED(ws) ? WTERMSIG(ws) : 0);
    if (rc != 0 && status == 0) {
      status = rc;
      if (WIFSIGNALED(ws)) fprintf(err, "error: rank %d was killed by signal %d\n", rank, WTERMSIG(ws));
      stopAll(pids, started);
    }
  }
  /* No pthread_barrier_destroy: it waits for the ranks still inside the barrier, and a rank killed there
   * never leaves it. Every rank has exited; unmapping frees the barrier. */
  munmap(shared, bytes);
  return status;
}
