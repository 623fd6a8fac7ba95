"""Reconstruction-error OOD detector: a small convolutional autoencoder fitted on reference images.

It reads the images, not the classifier's outputs, so its alarm does not share the
classifier's blind spots (an overconfident softmax, features that collapse unknown inputs
onto a class). As in the VAE-based OOD studies this harness follows (An & Cho, "Variational
Autoencoder based Anomaly Detection using Reconstruction Probability", SNU 2015), an input
the autoencoder reconstructs badly is unlike the data it was fitted on.

Images are compared at a fixed 16x16 RGB: small enough to keep beside the predictions (768
bytes per image, like 192 float32 features), large enough to tell a sign from a texture.
"""

import cv2
import numpy as np

from safety_harness.core import tf_runtime
from safety_harness.ood.detectors import Detector

APPEARANCE_SIZE = 16
EPOCHS = 40
CODE_SIZE = 32
BATCH_SIZE = 128


def appearance(images: np.ndarray) -> np.ndarray:
    """``images`` (n, h, w, 3) uint8 as the model saw them -> (n, 16, 16, 3) uint8 (area resampling)."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must have shape (n, height, width, 3), got {images.shape}")
    if images.shape[1:3] == (APPEARANCE_SIZE, APPEARANCE_SIZE):
        return images.astype(np.uint8)
    return np.stack([cv2.resize(image, (APPEARANCE_SIZE, APPEARANCE_SIZE), interpolation=cv2.INTER_AREA)
                     for image in images]).astype(np.uint8) if len(images) else \
        np.zeros((0, APPEARANCE_SIZE, APPEARANCE_SIZE, 3), np.uint8)


def convolutional_encoder(keras) -> list:
    """The encoder's layers, 16x16x3 -> flat 4x4x64 (shared with the VAE detector, ood.vae)."""
    layers = keras.layers
    return [layers.Conv2D(32, 3, strides=2, padding="same", activation="relu"),   # 8x8
            layers.Conv2D(64, 3, strides=2, padding="same", activation="relu"),   # 4x4
            layers.Flatten()]


def convolutional_decoder(keras) -> list:
    """The decoder's layers, a code -> 16x16x3 in 0..1 (shared with the VAE detector, ood.vae)."""
    layers = keras.layers
    return [layers.Dense(4 * 4 * 64, activation="relu"),
            layers.Reshape((4, 4, 64)),
            layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu"),  # 8x8
            layers.Conv2DTranspose(3, 3, strides=2, padding="same", activation="sigmoid")]  # 16x16


def _autoencoder(keras):
    return keras.Sequential([
        keras.Input((APPEARANCE_SIZE, APPEARANCE_SIZE, 3)),
        *convolutional_encoder(keras),
        keras.layers.Dense(CODE_SIZE, activation="relu", name="code"),
        *convolutional_decoder(keras),
    ], name="reconstruction_autoencoder")


def seeded_batches(x: np.ndarray, epochs: int, batch_size: int, rng: np.random.Generator):
    """The rows of ``x`` in ``epochs`` passes, each pass in a fresh order drawn from ``rng``, ``batch_size`` rows
    at a time (the last batch of a pass may be smaller). A generator: the caller may draw from ``rng`` between
    batches, and those draws interleave with the orders in a fixed sequence."""
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for start in range(0, len(x), batch_size):
            yield x[order[start:start + batch_size]]


class ImageDetector(Detector):
    """A detector that reads only the images (16x16 copies), never the classifier's outputs: a second
    opinion independent of the classifier, fitted once on the reference images with a fixed seed
    and kept in the run's cache."""

    costly_fit = True
    classifier_independent = True
    blind_spot = ("flat or simple frames (a dead, grey or saturated sensor) reconstruct well and look likely, so "
                  "they raise no alarm (Nalisnick et al., ICLR 2019)")
    seed = 0

    #: a restored state whose network is not built yet (see :meth:`restore`)
    _unbuilt_state: list | None = None

    def unavailable_reason(self, inputs):
        return None if inputs.images is not None else "the images were not kept beside the predictions"

    def state(self) -> list[np.ndarray]:
        return self._unbuilt_state if self._unbuilt_state is not None else self._network_state()

    def restore(self, state) -> "ImageDetector":
        """The detector as fitted, from :meth:`state`: the network is built (TensorFlow loaded) on first use,
        so a run that finds all its scores in the cache never builds it."""
        self._unbuilt_state = list(state)
        return self

    def _built(self) -> "ImageDetector":
        """The detector with the network of a restored state built, once."""
        if self._unbuilt_state is not None:
            self._build(self._unbuilt_state)
            self._unbuilt_state = None
        return self

    def _network_state(self) -> list[np.ndarray]:
        raise NotImplementedError

    def _build(self, state) -> None:
        raise NotImplementedError


class Reconstruction(ImageDetector):
    """Mean squared error between an image (16x16, range 0..1) and its autoencoder reconstruction.

    Fitted with a fixed seed and TensorFlow op determinism: the same reference gives the same
    autoencoder and the same scores.
    """

    name = "reconstruction"
    description = "reconstruction error of a convolutional autoencoder fitted on reference images (16x16)"
    reference = "An & Cho, SNU Data Mining Center 2015 (autoencoder reconstruction for anomaly detection)"

    def fit(self, reference, labels):
        tf, keras = tf_runtime.tensorflow(), tf_runtime.keras()
        keras.utils.set_random_seed(self.seed)
        tf.config.experimental.enable_op_determinism()
        model = _autoencoder(keras)
        optimizer = keras.optimizers.Adam(2e-3)

        # a step of our own, not Keras's fit: the same mean squared error and Adam in about two thirds of the time
        # (Keras's training loop adds more than a third to this small network's arithmetic)
        @tf.function(reduce_retracing=True)
        def step(batch):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.square(batch - model(batch, training=True)))
            optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))

        x = reference.images.astype(np.float32) / 255
        for batch in seeded_batches(x, EPOCHS, BATCH_SIZE, np.random.default_rng(self.seed)):
            step(batch)
        return self._use(model)

    def _network_state(self) -> list[np.ndarray]:
        return self._model.get_weights()

    def _build(self, state) -> None:
        model = _autoencoder(tf_runtime.keras())
        model.set_weights(state)
        self._use(model)

    def _use(self, model):
        self._model = model
        self._reconstruct = tf_runtime.tensorflow().function(lambda batch: model(batch, training=False),
                                                             reduce_retracing=True)
        return self

    def score(self, inputs):
        self._built()
        x = inputs.images.astype(np.float32) / 255
        errors = [np.mean((self._reconstruct(x[i:i + 512]).numpy() - x[i:i + 512]) ** 2, axis=(1, 2, 3))
                  for i in range(0, len(x), 512)]
        return np.concatenate(errors) if errors else np.zeros(0)
