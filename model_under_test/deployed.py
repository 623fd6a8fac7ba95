"""What the deployed formats (TensorFlow Lite, ONNX) share: their optional runtimes, the input layout, the
integer quantisation of inputs and outputs, and batching through a fixed batch size.

A deployed model is run by its own runtime, as on the vehicle: the harness feeds it the card's
preprocessing, then the input quantisation the file declares, and reads its output dequantised. The
runtime gives outputs only: no gradients and no layers (see :data:`OPAQUE_TO_GRADIENTS`).
"""

import importlib
from dataclasses import dataclass

import numpy as np

from safety_harness.core.errors import HarnessInputError, first_line
from safety_harness.model_under_test.inference import Forward

#: why requirements that differentiate the model or run its layers one by one do not apply to a deployed model
OPAQUE_TO_GRADIENTS = ("this {kind} model runs in its own runtime, which gives outputs only: no gradients and no "
                       "layers (explainers, the trigger scan and MC dropout need them; judge the Keras model it "
                       "was converted from for those)")


def optional_runtime(module: str, path, install: str):
    """The optional package ``module`` that runs or reads the model at ``path``, or one :class:`HarnessInputError`
    naming the ``install`` command. (TFLite needs none: TensorFlow's own interpreter stands in for LiteRT.)"""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise HarnessInputError(f"Model {path} is a {path.suffix} model: running it needs the Python package "
                                f"{module!r}, which is not installed", f"Install it: {install}.") from None


def channel_layout(path, shape, card_layout: str | None, card_where: str) -> tuple[str, str]:
    """The layout of a rank-4 image input of ``shape`` (None for a dynamic dimension) and where it comes from:
    the card's ``input.layout`` when set, else the one axis of 1 or 3 channels among axes 1 and 3."""
    if len(shape) != 4:
        raise HarnessInputError(f"Model {path} takes inputs of shape {list(shape)}, not images (batch, H, W, C) "
                                "or (batch, C, H, W)", "The harness evaluates image classifiers with one image input.")
    if card_layout is not None:
        return card_layout, f"from {card_where}"
    channels_last, channels_first = shape[3] in (1, 3), shape[1] in (1, 3)
    if channels_last != channels_first:
        return ("NHWC" if channels_last else "NCHW"), "detected from the model's input shape"
    raise HarnessInputError(
        f"Model {path} takes inputs of shape {list(shape)}: its channel axis cannot be told from the shape",
        f"Set input.layout: NHWC (batch, height, width, channels) or NCHW (batch, channels, height, width) in "
        f"{card_where}.")


def as_nhwc(shape, layout: str) -> tuple:
    """An input ``shape`` in ``layout`` as (batch, height, width, channels), the order the card speaks in."""
    return tuple(shape) if layout == "NHWC" else (shape[0], shape[2], shape[3], shape[1])


def quantised(x: np.ndarray, dtype, scale: float, zero_point: int) -> np.ndarray:
    """``x`` (float32) as an integer input of ``dtype``: ``round(x / scale) + zero_point``, clipped to the type."""
    info = np.iinfo(dtype)
    return np.clip(np.rint(x / np.float32(scale)) + zero_point, info.min, info.max).astype(dtype)


def dequantised(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """An integer output as float32: ``(q - zero_point) * scale``."""
    return ((q.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)).astype(np.float32)


def in_fixed_batches(run, x: np.ndarray, batch: int | None) -> np.ndarray:
    """``run`` over ``x`` whole when the model's batch size is dynamic (``batch`` None), else in chunks of
    ``batch``, the last padded with copies of its first image and the padding's outputs dropped."""
    if batch is None or len(x) == batch:
        return run(x)
    outputs = []
    for start in range(0, len(x), batch):
        chunk = x[start:start + batch]
        padded = np.concatenate([chunk, np.repeat(chunk[:1], batch - len(chunk), axis=0)]) if len(chunk) < batch else chunk
        outputs.append(run(padded)[:len(chunk)])
    return np.concatenate(outputs)


@dataclass(frozen=True)
class Tensor:
    """A model's input or output as its runtime declares it: ``shape`` with None for a dynamic dimension, and
    ``quantisation`` (scale, zero point) for an integer tensor, None for a float one."""

    name: str
    shape: tuple
    dtype: np.dtype
    quantisation: tuple[float, int] | None

    def __str__(self) -> str:
        text = f"{self.name!r} {np.dtype(self.dtype).name} {list(self.shape)}"
        if self.quantisation is None:
            return text
        return f"{text} quantised (scale {self.quantisation[0]:.6g}, zero point {self.quantisation[1]})"


class DeployedForward:
    """A deployed model's runtime behind the interface of :class:`~safety_harness.model_under_test.inference.Forward`: the card's
    float32 NHWC batch laid out and quantised as the model's input declares, its output dequantised.

    A subclass sets :attr:`kind` and :attr:`loader` and implements :meth:`_run` (one batch of the model's own
    batch size, layout and type), and calls :meth:`_describe` with its input and output."""

    kind = ""
    loader = ""
    #: what the runtime raises when a model it loaded fails to run
    run_errors: tuple[type[Exception], ...] = (RuntimeError, ValueError)

    def _describe(self, path, model_input: Tensor, model_output: Tensor, num_parameters: int,
                  card_layout: str | None, card_where: str):
        self.path, self._input, self._output = path, model_input, model_output
        self.layout, layout_source = channel_layout(path, model_input.shape, card_layout, card_where)
        self.input_shape = (None, *as_nhwc(model_input.shape, self.layout)[1:])
        self.output_shape = (None, *model_output.shape[1:])
        self.num_parameters = num_parameters
        self.features_unavailable_reason = f"a {self.kind} model exposes only its output, not its penultimate features"
        self.gradients_unavailable_reason = OPAQUE_TO_GRADIENTS.format(kind=self.kind)
        #: the model's fixed batch size (None: dynamic, each batch is run whole)
        self._batch = model_input.shape[0]
        #: the step of a quantised output (None: a float output)
        self.output_step = None if model_output.quantisation is None else model_output.quantisation[0]
        batching = ("one run per batch (dynamic batch size)" if self._batch is None
                    else f"fixed batch size {self._batch}: run in chunks of {self._batch}")
        self.runtime = (f"{self.loader}; input {model_input} {self.layout} ({layout_source}); output {model_output}; "
                        f"{batching}")

    facts = Forward.facts

    def _run(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, batch: np.ndarray):
        x = batch if self.layout == "NHWC" else batch.transpose(0, 3, 1, 2)
        dtype = self._input.dtype
        x = x.astype(dtype) if self._input.quantisation is None else quantised(x, dtype, *self._input.quantisation)
        if not len(x):
            return np.zeros((0, self.output_shape[1]), np.float32), None
        try:
            raw = in_fixed_batches(self._run, np.ascontiguousarray(x), self._batch)
        except self.run_errors as error:
            raise HarnessInputError(f"Model {self.path} failed to run in {self.loader} ({first_line(error)})",
                                    f"Check that the model runs in {self.loader} on its own.") from None
        if self._output.quantisation is None:
            return raw.astype(np.float32), None
        return dequantised(raw, *self._output.quantisation), None
