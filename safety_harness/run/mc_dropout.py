"""MC dropout passes of the model under test, seeded, batched and kept in the prediction cache.

Each pass runs the model's layers one by one (:mod:`safety_harness.explanations.model_access`,
nested models flattened, for Keras 3 and tf_keras models alike): every Dropout layer drops with its
own rate and noise shape, every other layer, BatchNormalization included, runs in inference mode.
The layers before the first Dropout layer are deterministic and run once per image; the rest runs
on ``T`` copies at once. The masks come from TensorFlow's stateless dropout, seeded by the run's
seed, the chunk of :data:`CHUNK` images and the layer: the same seed and images in the same order
give the same scores, whatever the batch size.
"""

import functools

import numpy as np

from safety_harness.core import tf_runtime
from safety_harness.core.errors import HarnessInputError
from safety_harness.explanations.model_access import ExplainedModel, run_layers
from safety_harness.model_under_test.inference import preprocess
from safety_harness.ood.mc_dropout import MC_DROPOUT_PASSES, McDropoutScores
from safety_harness.run.context import StageContext
from safety_harness.run.prediction_cache import cache_key
from safety_harness.run.stage_code import MODEL_CODE

#: images per call of the passes: with T = 20 copies, 1,280 images go through the layers after the first Dropout
CHUNK = 64
NO_DROPOUT = "model has no Dropout layer: MC dropout needs one"


class StochasticForward:
    """``T`` forward passes with the Dropout layers of ``model`` (a LoadedModel) active.

    Raises ValueError naming why when the model does not allow it (no accessible layers, no
    Dropout layer with a positive rate)."""

    def __init__(self, model, passes: int = MC_DROPOUT_PASSES, seed: int = 0):
        if passes < 1:
            raise ValueError(f"passes must be >= 1, got {passes}")
        if model.gradients_unavailable_reason:
            raise ValueError(f"MC dropout runs the model's layers with dropout on: {model.gradients_unavailable_reason}")
        explained = ExplainedModel(model.network, model.loader, model.card.output)
        layers = explained.layers
        if layers is None:
            raise ValueError("MC dropout needs the model's layers, which are not accessible: "
                             f"{explained.layers_unavailable_reason}")
        module = explained.layer_module
        dropout = module.Dropout
        self.dropout_layers = [(i, layer) for i, layer in enumerate(layers)
                               if isinstance(layer, dropout) and layer.rate > 0]
        if not self.dropout_layers:
            raise ValueError(NO_DROPOUT)
        self.model, self.passes, self.seed = model, passes, seed
        self._layers, self._dropout_type, self._logits = layers, dropout, model.card.output == "logits"
        self._spatial_types = (module.SpatialDropout1D, module.SpatialDropout2D, module.SpatialDropout3D)
        tf = tf_runtime.tensorflow()
        spec = tf.TensorSpec([None, *explained.input_shape[1:]], tf.float32)
        self._compiled = tf.function(self._passes, input_signature=[spec, tf.TensorSpec([2], tf.int64)],
                                     reduce_retracing=True)

    def describe(self) -> dict:
        """What the evidence records about the passes."""
        return {"passes": self.passes, "seed": self.seed, "images_per_seeded_chunk": CHUNK,
                "dropout_layers": [{"name": layer.name, "rate": float(layer.rate)} for _, layer in self.dropout_layers]}

    def _passes(self, x, seed):
        tf = tf_runtime.tensorflow()
        first = self.dropout_layers[0][0]
        x = run_layers(self._layers[:first], x)  # deterministic: once per image
        n = tf.shape(x)[0]
        x = tf.reshape(tf.repeat(x[None], self.passes, axis=0), tf.concat([[self.passes * n], tf.shape(x)[1:]], 0))
        for position, layer in enumerate(self._layers[first:], start=first):
            if isinstance(layer, self._dropout_type):
                x = tf.nn.experimental.stateless_dropout(
                    x, layer.rate, seed=tf.random.experimental.stateless_fold_in(seed, position),
                    noise_shape=noise_shape(layer, x, spatial=isinstance(layer, self._spatial_types)))
            else:
                x = layer(x, training=False)
        if self._logits:
            x = tf.nn.softmax(x)
        return tf.reshape(x, tf.concat([[self.passes, n], tf.shape(x)[1:]], 0))

    def pass_probabilities(self, images: np.ndarray, chunk_number: int) -> np.ndarray:
        """Probabilities of every pass, (T, n, K), for uint8 RGB ``images`` at the card's size; the masks are
        seeded by the run's seed and ``chunk_number``."""
        tf = tf_runtime.tensorflow()
        seed = tf.constant([self.seed, chunk_number], tf.int64)
        probabilities = self._compiled(preprocess(images, self.model.card), seed).numpy().astype(np.float64)
        if not np.isfinite(probabilities).all():
            raise HarnessInputError(f"Model {self.model.path} gives NaN or infinite outputs with its Dropout layers "
                                    "active (MC dropout)",
                                    "Check the model's weights and the card's input range.")
        return probabilities

    def scores(self, image_batches) -> McDropoutScores:
        """Entropy and mutual information of each image of ``image_batches`` (uint8 arrays, in order)."""
        parts = [McDropoutScores.from_passes(self.pass_probabilities(chunk, number))
                 for number, chunk in enumerate(_rechunked(image_batches, CHUNK))]
        return McDropoutScores.concatenate(parts)


def noise_shape(layer, x, spatial: bool):
    """The dropout mask's shape for ``x``: the layer's ``noise_shape`` (None entries: ``x``'s), and for a
    ``spatial`` variant (SpatialDropout1D/2D/3D) one draw per feature map (every axis but batch and
    channels 1)."""
    tf = tf_runtime.tensorflow()
    shape = tf.shape(x)
    rank = len(x.shape)
    if spatial:
        channels = 1 if getattr(layer, "data_format", "channels_last") == "channels_first" else rank - 1
        return tf.stack([shape[i] if i in (0, channels) else 1 for i in range(rank)])
    if layer.noise_shape is None:
        return None
    return tf.stack([shape[i] if side is None else side for i, side in enumerate(layer.noise_shape)])


def _rechunked(image_batches, size: int):
    """The images of ``image_batches`` in chunks of ``size`` (the last may be smaller)."""
    pending, held = [], 0
    for images in image_batches:
        pending.append(images)
        held += len(images)
        while held >= size:
            joined = np.concatenate(pending)
            yield joined[:size]
            pending, held = [joined[size:]], held - size
    if held:
        yield np.concatenate(pending)


class McDropoutStage:
    """The run's MC dropout passes: whether the model allows them, and their scores, cached on disk under
    the key of the images they were run on, the number of passes and the seed."""

    def __init__(self, context: StageContext):
        self._context = context

    @functools.cached_property
    def _forward_or_reason(self):
        try:
            return StochasticForward(self._context.model, MC_DROPOUT_PASSES, self._context.options.seed), None
        except ValueError as error:
            return None, str(error)

    @functools.cached_property
    def _availability(self) -> dict:
        """Why the model cannot run the passes (None: it can) and what the evidence records of them, kept in
        the run's cache under the model and its card: a warm run reads them without loading the model."""
        def inspected():
            forward, reason = self._forward_or_reason
            described = None if forward is None else forward.describe()
            return {"unavailable_reason": reason, "described": described}

        run = self._context
        return run.cache.cached_json("MC dropout availability", inspected, code=MODEL_CODE, model=run.model.sha256,
                                     card=run.model.card.to_dict(), passes=MC_DROPOUT_PASSES, seed=run.options.seed)

    @property
    def unavailable_reason(self) -> str | None:
        """Why the model cannot run MC dropout passes, or None."""
        return self._availability["unavailable_reason"]

    def describe(self) -> dict:
        return self._availability["described"]

    def scores(self, key: str, stage: str, image_batches, count: int) -> McDropoutScores:
        """The scores of the ``count`` images of ``image_batches`` (uint8 arrays, in order), whose identity
        ``key`` states (e.g. the key of their predictions), from the cache or computed."""
        cache = self._context.cache
        key = cache_key(code=(__name__, MODEL_CODE), images=key, mc_dropout_passes=MC_DROPOUT_PASSES,
                        mc_dropout_seed=self._context.options.seed, chunk=CHUNK)
        positions = np.arange(count)
        stored = cache.load(key, f"MC dropout {stage}", expected_indices=positions)
        if stored is not None:
            arrays, _ = stored
            return McDropoutScores(arrays["entropy"], arrays["mutual_information"])
        forward = self._forward_or_reason[0]
        with self._context.progress.stage(f"MC dropout passes on {stage}", count) as advance:
            def counted():
                for images in image_batches:
                    advance(len(images))
                    yield images
            scores = forward.scores(counted())
        if scores.entropy.size != count:
            raise ValueError(f"{stage}: MC dropout scored {scores.entropy.size} images, not {count}")
        cache.store(key, {"indices": positions, "entropy": scores.entropy,
                          "mutual_information": scores.mutual_information}, [])
        return scores
