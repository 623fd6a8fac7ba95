"""Negative-ELBO OOD detector: a small convolutional variational autoencoder fitted on reference images.

The method the VAE-based OOD studies this harness follows propose (An & Cho, "Variational
Autoencoder based Anomaly Detection using Reconstruction Probability", SNU 2015): a VAE learns a
density of the reference images, and an input it finds improbable is unlike them. Like the
reconstruction autoencoder (ood.reconstruction) it reads the 16x16 appearance copies, not the
classifier's outputs. The score is the negative evidence lower bound of an image x, in nats::

    -ELBO(x) = E_{z ~ q(z|x)} [-log p(x|z)] + KL(q(z|x) || N(0, I))  >=  -log p(x)

with the encoder's q(z|x) = N(mu(x), diag s(x)^2) (the KL term in closed form, Kingma & Welling,
ICLR 2014) and a Gaussian decoder p(x|z) = N(decoder(z), sigma^2 I) over the pixels in 0..1. The
one scale sigma is the maximum-likelihood one, the root mean squared error (a calibrated decoder:
Rybkin, Daniilidis & Levine, ICML 2021): during the fit that of each batch, for scoring that of the
fitting data. The expectation is estimated from SCORE_SAMPLES draws of a fixed seed.
"""

import numpy as np

from safety_harness.core import tf_runtime
from safety_harness.ood.reconstruction import (
    APPEARANCE_SIZE,
    CODE_SIZE,
    ImageDetector,
    convolutional_decoder,
    convolutional_encoder,
    seeded_batches,
)

#: the autoencoder's code width: the two detectors differ in the method, not the bottleneck
LATENT_SIZE = CODE_SIZE
EPOCHS = 30
BATCH_SIZE = 128
#: draws of z per image estimating the expected reconstruction term of a score
SCORE_SAMPLES = 8
PIXELS = APPEARANCE_SIZE * APPEARANCE_SIZE * 3


def _networks(keras):
    encoder = keras.Sequential([keras.Input((APPEARANCE_SIZE, APPEARANCE_SIZE, 3)), *convolutional_encoder(keras),
                                keras.layers.Dense(2 * LATENT_SIZE)], name="vae_encoder")  # mean, log variance
    decoder = keras.Sequential([keras.Input((LATENT_SIZE,)), *convolutional_decoder(keras)], name="vae_decoder")
    return encoder, decoder


class VariationalAutoencoder(ImageDetector):
    """Negative ELBO of an image (16x16, range 0..1) under a convolutional VAE fitted on reference images.

    Fitted with a fixed seed (weights, batch order and reparameterisation noise) and TensorFlow op
    determinism, and scored with noise of a fixed seed: the same reference gives the same VAE, and
    the same images the same scores.
    """

    name = "vae"
    description = "negative ELBO of a convolutional variational autoencoder fitted on reference images (16x16)"
    reference = "An & Cho, SNU Data Mining Center 2015 (VAE anomaly detection); Kingma & Welling, ICLR 2014"
    #: sigma of the Gaussian decoder: the root mean squared error on the fitting data
    decoder_scale: float

    def fit(self, reference, labels):
        tf, keras = tf_runtime.tensorflow(), tf_runtime.keras()
        keras.utils.set_random_seed(self.seed)
        tf.config.experimental.enable_op_determinism()
        encoder, decoder = _networks(keras)
        optimizer = keras.optimizers.Adam(2e-3)
        weights = encoder.trainable_variables + decoder.trainable_variables

        @tf.function(reduce_retracing=True)
        def step(x, noise):
            with tf.GradientTape() as tape:
                mean, log_variance = tf.split(encoder(x, training=True), 2, axis=1)
                reconstructed = decoder(mean + tf.exp(log_variance / 2) * noise, training=True)
                squared_error = tf.reduce_sum(tf.square(x - reconstructed), axis=[1, 2, 3])
                # -ELBO per image with sigma^2 = the batch's mean squared error, constants dropped
                loss = (PIXELS / 2 * tf.math.log(tf.reduce_mean(squared_error) / PIXELS + 1e-8)
                        + tf.reduce_mean(_kl_divergence(tf, mean, log_variance)))
            optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights))

        x = reference.images.astype(np.float32) / 255
        rng = np.random.default_rng(self.seed)
        for batch in seeded_batches(x, EPOCHS, BATCH_SIZE, rng):
            step(batch, rng.standard_normal((len(batch), LATENT_SIZE)).astype(np.float32))
        self._use(encoder, decoder)
        squared_error, _ = self._terms(x)
        self.decoder_scale = float(np.sqrt(np.mean(squared_error) / PIXELS))
        return self

    def _network_state(self) -> list[np.ndarray]:
        return [*self._encoder.get_weights(), *self._decoder.get_weights(), np.array(self.decoder_scale)]

    def _build(self, state) -> None:
        encoder, decoder = _networks(tf_runtime.keras())
        split = len(encoder.get_weights())
        encoder.set_weights(state[:split])
        decoder.set_weights(state[split:-1])
        self.decoder_scale = float(state[-1])
        self._use(encoder, decoder)

    def _use(self, encoder, decoder):
        tf = tf_runtime.tensorflow()
        self._encoder, self._decoder = encoder, decoder

        @tf.function(reduce_retracing=True)
        def terms(x, noise):
            mean, log_variance = tf.split(encoder(x, training=False), 2, axis=1)
            samples = noise.shape[1]
            z = tf.reshape(mean[:, None] + tf.exp(log_variance / 2)[:, None] * noise, (-1, LATENT_SIZE))
            reconstructed = tf.reshape(decoder(z, training=False), (-1, samples, APPEARANCE_SIZE, APPEARANCE_SIZE, 3))
            squared_error = tf.reduce_mean(tf.reduce_sum(tf.square(x[:, None] - reconstructed), axis=[2, 3, 4]),
                                           axis=1)
            return squared_error, _kl_divergence(tf, mean, log_variance)

        self._batch_terms = terms
        return self

    def _terms(self, x):
        """Per image: the expected squared error over SCORE_SAMPLES seeded draws of z, and the KL term."""
        noise = np.random.default_rng(self.seed).standard_normal((len(x), SCORE_SAMPLES, LATENT_SIZE)).astype(np.float32)
        parts = [self._batch_terms(x[i:i + 512], noise[i:i + 512]) for i in range(0, len(x), 512)]
        if not parts:
            return np.zeros(0), np.zeros(0)
        return (np.concatenate([p[0].numpy() for p in parts]).astype(np.float64),
                np.concatenate([p[1].numpy() for p in parts]).astype(np.float64))

    def elbo_terms(self, inputs) -> tuple[np.ndarray, np.ndarray]:
        """Per image, in nats: the expected reconstruction term E_q[-log p(x|z)] and KL(q(z|x) || N(0, I))."""
        self._built()
        squared_error, kl = self._terms(inputs.images.astype(np.float32) / 255)
        sigma = self.decoder_scale
        reconstruction = squared_error / (2 * sigma ** 2) + PIXELS * np.log(sigma * np.sqrt(2 * np.pi))
        return reconstruction, kl

    def score(self, inputs):
        reconstruction, kl = self.elbo_terms(inputs)
        return reconstruction + kl


def _kl_divergence(tf, mean, log_variance):
    """KL(N(mean, diag exp(log_variance)) || N(0, I)) per row, in closed form."""
    return 0.5 * tf.reduce_sum(tf.square(mean) + tf.exp(log_variance) - 1 - log_variance, axis=1)
