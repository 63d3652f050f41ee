"""The training engines: `keras` (the reference, plain ``model.fit``) and `fused` (every
replica of a job in one compiled graph), with their neutral result type in `result` and the
models and optimizers they share in `models`. Only `keras`, `fused` and `models` import
TensorFlow, and only inside functions or when imported themselves; this package's
``__init__`` imports nothing.
"""
