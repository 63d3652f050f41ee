"""Training engines and the measurements made with TensorFlow along a training run."""
