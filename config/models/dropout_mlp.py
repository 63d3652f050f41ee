"""An example of your own model: the seed's MLP with a dropout layer.

A custom model is a function (n_features, n_classes) -> keras.Model. The study compiles it
with the configured optimizer and categorical crossentropy and trains it with the Keras
engine (the fused engine only expresses the configurable MLP family).
"""

import keras


def build(n_features: int, n_classes: int) -> keras.Model:
    return keras.Sequential(
        [
            keras.Input(shape=(n_features,)),
            keras.layers.Dense(64, activation="relu", kernel_initializer="he_uniform"),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(n_classes, activation="softmax"),
        ]
    )
