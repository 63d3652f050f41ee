"""The training engines: `keras` (the reference, plain ``model.fit``) and `fused` (every
replica of a job in one compiled graph), with their neutral result type in `result` and the
models and optimizers they share in `models`. `keras` and `models` import Keras (on the
backend ``KERAS_BACKEND`` names), `fused` and `noise` import TensorFlow, only inside functions
or when imported themselves; this package's ``__init__`` imports nothing.
"""
