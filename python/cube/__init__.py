"""cube's Python front end: traces Hugging Face Llama models into the cube MLIR dialect.

Standard library only. See python/README.md; the IR contract is docs/dialect.md.

Modules:
    config      reading and checking an HF Llama config.json (LlamaConfig, ConfigError)
    presets     the built-in models (mini-llama, tiny-llama) as config.json dicts
    model_tree  HF's module tree: scope table, parameter list, PyTorch-style repr (--print-model)
    trace       the emitter: LlamaForCausalLM's training forward pass as cube IR text
    weights     the safetensors header check against a traced module's cube.param ops
    cli         `python3 -m cube trace ...` and `python3 -m cube check-weights ...`
"""

__version__ = "0.1.0"
