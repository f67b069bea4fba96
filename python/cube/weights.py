"""Checks .safetensors weights against the cube.param ops of a traced module.

A safetensors file (HF's format) is: an 8-byte little-endian header length N, N bytes of JSON header
``{"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ..., "__metadata__": {..}}``,
then the raw data. The header is parsed with Python's json; the tensor data is never read.

The check reports parameters missing from the files, tensors the module has no parameter for, and shape
and dtype mismatches. With tied embeddings the module has no lm_head.weight param (it uses
model.embed_tokens.weight); a lm_head.weight tensor in the file is then accepted as the tied copy (HF
ignores it on load, and save_pretrained() does not write it) when its shape and dtype equal the
embedding's.
"""

import json
import os
import re
import struct

# safetensors dtype -> element size in bytes; and the cube element type each one loads into unchanged.
DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
               "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1, "U16": 2, "U32": 4, "U64": 8}
CUBE_DTYPE = {"F32": "f32", "BF16": "bf16", "F16": "f16"}

MAX_HEADER = 100 * 1024 * 1024  # the safetensors library's own limit


class WeightsError(Exception):
    """A file that cannot be read as a traced module or as safetensors."""


# ---- the module's parameters -------------------------------------------------------------------------

_PARAM = re.compile(r'"cube\.param"\(\)\s*<?\{(?P<attrs>[^{}]*)\}>?\s*:\s*\(\)\s*->\s*tensor<(?P<type>[^<>]*)>')
_STR_ATTR = r'(?:^|[\s,]){}\s*=\s*"((?:[^"\\]|\\.)*)"'
_MODULE_ENTRY = re.compile(r'\[\s*"((?:[^"\\]|\\.)*)"\s*,\s*"((?:[^"\\]|\\.)*)"\s*\]')


def parse_tensor_type(text):
    """'64x128xbf16' -> ((64, 128), 'bf16')."""
    *dims, elem = text.strip().split("x")
    if not all(d.isdigit() for d in dims):
        raise ValueError(f"not a static tensor type: tensor<{text}>")
    return tuple(int(d) for d in dims), elem


def module_params(text, source):
    """{name: (shape, elem)} of the cube.param ops in a module's text (generic form, as trace and cube-opt
    print it), and the module paths of its cube.modules table."""
    params = {}
    for m in _PARAM.finditer(text):
        name = re.search(_STR_ATTR.format("name"), m.group("attrs"))
        if not name:
            raise WeightsError(f"{source}: a cube.param without a name: {m.group(0)[:120]}")
        try:
            params[name.group(1)] = parse_tensor_type(m.group("type"))
        except ValueError as e:
            raise WeightsError(f"{source}: parameter '{name.group(1)}': {e}") from None
    if not params:
        raise WeightsError(f"{source}: no cube.param ops found (is this a traced cube module?)")
    table = re.search(r"cube\.modules\s*=\s*\[(.*?\])\s*\]", text, re.S)
    paths = {p for p, _ in _MODULE_ENTRY.findall(table.group(1))} if table else set()
    return params, paths


def read_module(path):
    try:
        with open(path, encoding="utf-8") as f:
            return module_params(f.read(), path)
    except OSError as e:
        raise WeightsError(f"cannot read {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise WeightsError(f"{path}: not UTF-8 text (expected a .mlir module)") from None


# ---- safetensors -------------------------------------------------------------------------------------


def read_header(path):
    """{tensor name: (dtype, shape)} from a safetensors file's header, checked for consistency."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            head = f.read(8)
            if len(head) < 8:
                raise WeightsError(f"{path}: too short for a safetensors file ({size} bytes)")
            (n,) = struct.unpack("<Q", head)
            if n > MAX_HEADER or n > size - 8:
                raise WeightsError(f"{path}: header length {n} does not fit the file ({size} bytes); "
                                   "not a safetensors file?")
            raw = f.read(n)
    except OSError as e:
        raise WeightsError(f"cannot read {path}: {e.strerror or e}") from None
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise WeightsError(f"{path}: the header is not valid JSON: {e}") from None
    if not isinstance(header, dict):
        raise WeightsError(f"{path}: the header is not a JSON object")
    data_size = size - 8 - n
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        where = f"{path}: tensor '{name}'"
        if not isinstance(info, dict):
            raise WeightsError(f"{where}: expected an object with dtype, shape and data_offsets")
        dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if dtype not in DTYPE_BYTES:
            raise WeightsError(f"{where}: unknown dtype {json.dumps(dtype)}")
        if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                                  for d in shape):
            raise WeightsError(f"{where}: shape {json.dumps(shape)} is not a list of sizes")
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)):
            raise WeightsError(f"{where}: data_offsets {json.dumps(offsets)} is not [begin, end]")
        numel = 1
        for d in shape:
            numel *= d
        begin, end = offsets
        if not 0 <= begin <= end <= data_size:
            raise WeightsError(f"{where}: data_offsets [{begin}, {end}] are outside the data ({data_size} bytes)")
        if end - begin != numel * DTYPE_BYTES[dtype]:
            raise WeightsError(f"{where}: data_offsets [{begin}, {end}] hold {end - begin} bytes, but "
                               f"{dtype} {shape} needs {numel * DTYPE_BYTES[dtype]}")
        tensors[name] = (dtype, tuple(shape))
    return tensors


def safetensors_files(paths):
    """Expands directories into their *.safetensors files (sorted)."""
    out = []
    for p in paths:
        if os.path.isdir(p):
            found = sorted(os.path.join(p, f) for f in os.listdir(p) if f.endswith(".safetensors"))
            if not found:
                raise WeightsError(f"{p}: no .safetensors files in this directory")
            out += found
        else:
            out.append(p)
    return out


# ---- the check ---------------------------------------------------------------------------------------


def _fmt(shape):
    return "[" + ", ".join(str(d) for d in shape) + "]"


def check(module_path, weight_paths, allow_cast=False):
    """Returns (problems, notes, summary): lists of report lines; no problems means the weights load."""
    params, paths = read_module(module_path)
    files = safetensors_files(weight_paths)
    tensors, origin = {}, {}
    for f in files:
        for name, t in read_header(f).items():
            if name in tensors:
                raise WeightsError(f"{f}: tensor '{name}' is also in {origin[name]}")
            tensors[name], origin[name] = t, f

    missing, shapes, dtypes, unexpected, notes = [], [], [], [], []
    for name, (shape, elem) in params.items():
        if name not in tensors:
            missing.append(f"missing: {name} ({elem} {_fmt(shape)}) is not in the file")
            continue
        dtype, fshape = tensors[name]
        if fshape != shape:
            shapes.append(f"shape mismatch: {name}: {_fmt(shape)} in the module, {_fmt(fshape)} in the file")
        if CUBE_DTYPE.get(dtype) != elem:
            line = f"dtype mismatch: {name}: {elem} in the module, {dtype} in the file"
            if allow_cast and dtype in CUBE_DTYPE:
                notes.append(line + " (cast on load)")
            else:
                dtypes.append(line)
    tied = "lm_head" in paths and "lm_head.weight" not in params and "model.embed_tokens.weight" in params
    for name, (dtype, fshape) in tensors.items():
        if name in params:
            continue
        if tied and name == "lm_head.weight":
            eshape, eelem = params["model.embed_tokens.weight"]
            if fshape == eshape and (CUBE_DTYPE.get(dtype) == eelem or (allow_cast and dtype in CUBE_DTYPE)):
                notes.append("tied: lm_head.weight in the file is ignored; the module ties lm_head to "
                             "model.embed_tokens.weight (as HF does)")
                continue
        unexpected.append(f"unexpected: {name} ({dtype} {_fmt(fshape)}) is not a parameter of the module")
    problems = missing + shapes + dtypes + unexpected
    summary = (f"{len(params)} parameters in {module_path}, {len(tensors)} tensors in "
               f"{', '.join(files)}")
    return problems, notes, summary
