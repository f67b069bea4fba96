"""``python3 -m cube run ARTIFACT ...``: a thin wrapper of the C runtime ``cube-run`` (docs/runtime.md).

Every argument after ``run`` goes to cube-run unchanged; ``--help`` prints this wrapper's note and then
cube-run's own usage. cube-run is $CUBE_RUN, else build/bin/cube-run next to this source tree, else on PATH.
"""

import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def find_cube_run():
    env = os.environ.get("CUBE_RUN")
    if env:
        return env
    built = os.path.normpath(os.path.join(HERE, "..", "..", "build", "bin", "cube-run"))
    if os.access(built, os.X_OK):
        return built
    return shutil.which("cube-run") or built


def main(argv):
    exe = find_cube_run()
    if not os.access(exe, os.X_OK):
        print(f"cube run: error: cube-run not found ({exe}); build it (bash scripts/build.sh) or set CUBE_RUN",
              file=sys.stderr)
        return 1
    if any(a in ("-h", "--help") for a in argv):
        print("usage: python3 -m cube run ARTIFACT [cube-run options]\n\n"
              f"Runs {exe} with the given arguments (evaluate with --eval, train with --steps N).\n"
              "cube-run's options follow.\n", flush=True)
        return subprocess.call([exe, "--help"])
    if not argv:
        print("usage: python3 -m cube run ARTIFACT [cube-run options] (--help for the options)", file=sys.stderr)
        return 2
    sys.stdout.flush()
    try:
        os.execv(exe, [exe] + list(argv))
    except OSError as e:
        print(f"cube run: error: cannot run {exe}: {e.strerror or e}", file=sys.stderr)
        return 1
