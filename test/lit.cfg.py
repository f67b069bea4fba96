# lit configuration for cube: .mlir tests with RUN lines, run against build/bin/cube-opt and LLVM's
# FileCheck/not/count (Debian's llvm-22-tools).
import os

import lit.formats

config.name = "cube"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".mlir", ".test"]
config.excludes = ["lit.cfg.py", "lit.site.cfg.py", "Inputs", "CMakeLists.txt"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.cube_obj_root, "test")

# cube-opt first, then LLVM's FileCheck/not/count, found through PATH as in upstream MLIR's suite.
config.environment["PATH"] = os.pathsep.join(
    [config.cube_tools_dir, config.llvm_tools_dir, os.environ.get("PATH", "")])
config.substitutions.append(("%python", config.python_executable))
config.substitutions.append(("%cube_src", config.cube_src_root))
config.environment["PYTHONPATH"] = os.path.join(config.cube_src_root, "python")
# `python3 -m cube compile` (python/cube/compile.py) runs $CUBE_OPT before build/bin/cube-opt: the tests run
# this build's cube-opt, whatever the build directory is called.
config.environment["CUBE_OPT"] = os.path.join(config.cube_tools_dir, "cube-opt")
