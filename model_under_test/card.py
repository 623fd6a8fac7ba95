"""The model card: how to feed a model (input size, channel order, pixel range, resize) and what it outputs.

```yaml
input:
  size: [30, 30]        # height, width; default: the model's own input shape
  channels: RGB         # RGB | BGR | GRAY
  gray: mean            # GRAY only: mean (of R, G, B) | luma (0.299 R + 0.587 G + 0.114 B, OpenCV's BGR2GRAY)
  steps: []             # on the 8-bit channels, in this order: equalize_hist | {clahe: {clip_limit: 2.0, tile_grid: [8, 8]}}
  range: [0, 255]       # [lo, hi]: pixel value v in 0..255 is fed as lo + v * (hi - lo) / 255
  normalize: null       # {mean: [...], std: [...]}, one per channel fed, after the range: (x - mean) / std
  resize: bilinear      # nearest | bilinear | bicubic | area
  resize_library: opencv  # opencv | pil (Pillow's filters; area is its BOX)
  layout: NCHW          # NHWC | NCHW, for a .tflite or .onnx model; default: detected from its input shape
output: probabilities   # probabilities | logits
classes: gtsrb43        # the 43 GTSRB classes in ClassId order, or a list of class names
output_order: class_id  # class_id | sorted_as_text (ids sorted as text: 0, 1, 10, 11, ...) | [class id of each output]
training_data:          # optional: what the model was trained on (the evidence and the report name it)
  description: 39,209 GTSRB training images, all tracks
  provenance: real      # real | generated
  hash: null            # SHA-256 of the training data (hex), or null
  generator: null       # generated data: the generator and its version, e.g. safety_harness.synthetic.renderer v2
intended_use: Recognising the 43 German traffic-sign classes in cropped 30x30 daylight images   # optional
out_of_scope_uses: [signs of other countries, uncropped camera frames]                        # optional
caveats: [trained on GTSRB only; no night images]                                             # optional
```

The training data, intended use, out-of-scope uses and caveats (the Model Cards sections of Mitchell et al.,
FAT* 2019) do not change how the model is fed: they are kept beside the card's input and output settings
(:class:`TrainingData`, :class:`IntendedUse`), not among them.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    PlainValidator,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from safety_harness.core.errors import HarnessInputError, shown
from safety_harness.core.gtsrb import CLASS_NAMES
from safety_harness.core.provenance import GENERATED, PROVENANCES
from safety_harness.core.safe_yaml import load_yaml

CHANNELS = ("RGB", "BGR", "GRAY")
#: how GRAY is made from R, G, B: their mean, or the luma of OpenCV's COLOR_BGR2GRAY and Pillow's "L"
GRAY_WEIGHTS = ("mean", "luma")
RESIZES = ("nearest", "bilinear", "bicubic", "area")
RESIZE_LIBRARIES = ("opencv", "pil")
OUTPUTS = ("probabilities", "logits")
#: input axis orders of a deployed model (TFLite, ONNX): channels last or first
LAYOUTS = ("NHWC", "NCHW")
#: the model's outputs in class id order, or in the order of the class ids sorted as text (0, 1, 10, 11, ..., 19, 2,
#: 20, ...), as Keras' ``flow_from_directory`` and ``image_dataset_from_directory`` and torchvision's ``ImageFolder``
#: order class folders named by class id
OUTPUT_ORDERS = ("class_id", "sorted_as_text")
_CARD_FIX = "See README.md, 'Model card', for the schema."


@dataclass(frozen=True)
class TrainingData:
    """What the card says the model was trained on: a description, ``real`` or ``generated``, the data's
    SHA-256 (None: not given) and, for generated data, the generator with its version."""

    description: str
    provenance: str
    sha256: str | None = None
    generator: str | None = None

    def to_dict(self) -> dict:
        """How the model is fed, as cached predictions are keyed: the settings cards gained later only when set."""
        return {"description": self.description, "provenance": self.provenance, "hash": self.sha256,
                "generator": self.generator}


@dataclass(frozen=True)
class Equalisation:
    """One histogram step on 8-bit channels: OpenCV's global ``equalizeHist`` (``clip_limit`` None), or its CLAHE
    with ``clip_limit`` and ``tile_grid`` (columns, rows: OpenCV's ``tileGridSize``)."""

    clip_limit: float | None = None
    tile_grid: tuple[int, int] | None = None

    def to_card(self):
        """The step as a card writes it."""
        if self.clip_limit is None:
            return "equalize_hist"
        return {"clahe": {"clip_limit": self.clip_limit, "tile_grid": list(self.tile_grid)}}

    @classmethod
    def from_card(cls, value) -> "Equalisation":
        """The step a card writes as ``value``; ``ValueError`` saying what is wrong."""
        if value == "equalize_hist":
            return cls()
        if isinstance(value, dict) and list(value) == ["clahe"]:
            parameters = value["clahe"]
            if not isinstance(parameters, dict) or set(parameters) != {"clip_limit", "tile_grid"}:
                raise ValueError(f"clahe needs exactly clip_limit and tile_grid, got {shown(parameters)}")
            clip_limit, tile_grid = parameters["clip_limit"], parameters["tile_grid"]
            if isinstance(clip_limit, bool) or not isinstance(clip_limit, (int, float)) or not clip_limit > 0:
                raise ValueError(f"clahe clip_limit must be a positive number, got {shown(clip_limit)}")
            if (not isinstance(tile_grid, list) or len(tile_grid) != 2
                    or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in tile_grid)):
                raise ValueError(f"clahe tile_grid must be two positive integers [columns, rows], got {shown(tile_grid)}")
            return cls(float(clip_limit), tuple(tile_grid))
        raise ValueError(f"has the step {shown(value)}; allowed: equalize_hist, "
                         "{clahe: {clip_limit: <number>, tile_grid: [<columns>, <rows>]}}")


#: global histogram equalisation, the step the preprocessing check tries on and off
EQUALIZE_HIST = Equalisation()


@dataclass(frozen=True)
class IntendedUse:
    """What the card says the model is for (None: not stated), what it is not for, and its caveats (Model Cards:
    M. Mitchell et al., "Model Cards for Model Reporting", FAT* 2019, sections "Intended Use" and "Caveats and
    Recommendations")."""

    intended_use: str | None = None
    out_of_scope_uses: tuple[str, ...] = ()
    caveats: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"intended_use": self.intended_use, "out_of_scope_uses": list(self.out_of_scope_uses),
                "caveats": list(self.caveats)}


@dataclass(frozen=True)
class ModelCard:
    """How to feed the model. ``size`` is None until resolved from the model's input shape."""

    size: tuple[int, int] | None = None
    channels: str = "RGB"
    pixel_range: tuple[float, float] = (0.0, 1.0)
    resize: str = "bilinear"
    output: str = "probabilities"
    class_names: tuple[str, ...] = CLASS_NAMES
    classes_spec: str = "gtsrb43"
    #: not part of :meth:`to_dict`, which says how the model is fed (and keys the cached predictions)
    training_data: TrainingData | None = None
    #: not part of :meth:`to_dict` either: what the model is for; None: the card states none of it
    use: IntendedUse | None = None
    #: the input's axis order (NHWC or NCHW) of a deployed model; None: detected from its input shape
    layout: str | None = None
    #: GRAY only: mean or luma (:data:`GRAY_WEIGHTS`)
    gray: str = "mean"
    #: histogram steps on the 8-bit channels, in the card's order
    steps: tuple[Equalisation, ...] = ()
    #: per-channel ``(mean, std)`` applied after the range: ``(x - mean) / std``; None: none
    normalize: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    resize_library: str = "opencv"
    #: the class id of each of the model's outputs, in output order; None: output i is class i
    output_order: tuple[int, ...] | None = None

    @property
    def num_channels(self) -> int:
        return 1 if self.channels == "GRAY" else 3

    @property
    def fed_range(self) -> tuple[float, float]:
        """The lowest and highest value the model is fed: the range, or after ``normalize`` the widest over the
        channels (what a search in the model's input space, such as the trigger scan, stays within)."""
        lo, hi = self.pixel_range
        if self.normalize is None:
            return lo, hi
        channels = tuple(zip(*self.normalize))
        return min((lo - mean) / std for mean, std in channels), max((hi - mean) / std for mean, std in channels)

    @property
    def interpolation(self) -> str:
        """The resize method as :func:`~safety_harness.ingest.iter_image_batches` names it: OpenCV's filter, or
        ``pil:`` and Pillow's."""
        return self.resize if self.resize_library == "opencv" else f"pil:{self.resize}"

    def to_dict(self) -> dict:
        """How the model is fed, as cached predictions are keyed: the settings cards gained later only when set."""
        return {
            "size": None if self.size is None else list(self.size),
            "channels": self.channels,
            "range": list(self.pixel_range),
            "resize": self.resize,
            "output": self.output,
            "classes": self.classes_spec,
            "class_names": list(self.class_names),
            "layout": self.layout,
        } | {key: value for key, value in self._later_settings().items() if value != _LATER_DEFAULTS[key]}

    def settings(self) -> dict:
        """How the model is fed, every setting (the evidence's ``card``)."""
        return self.to_dict() | self._later_settings()

    def _later_settings(self) -> dict:
        """The settings cards gained after :meth:`to_dict` first keyed cached predictions: :meth:`to_dict` holds
        them only when set otherwise than by default, so a card that does not use them keeps its cache keys."""
        return {"gray": self.gray, "steps": [step.to_card() for step in self.steps],
                "normalize": None if self.normalize is None else {"mean": list(self.normalize[0]),
                                                                  "std": list(self.normalize[1])},
                "resize_library": self.resize_library,
                "output_order": None if self.output_order is None else list(self.output_order)}


_LATER_DEFAULTS = {"gray": "mean", "steps": [], "normalize": None, "resize_library": "opencv", "output_order": None}


def default_card_path(model_path: Path) -> Path:
    """The YAML beside the model with the same name: ``m.h5`` -> ``m.yaml``, ``saved_model/`` -> ``saved_model.yaml``."""
    model_path = Path(model_path)
    if model_path.is_dir():
        return model_path.parent / (model_path.name + ".yaml")
    return model_path.with_suffix(".yaml")


def _one_of(allowed):
    def check(value):
        if isinstance(value, str) and value in allowed:
            return value
        raise ValueError(f"is {shown(value)}; allowed: {', '.join(allowed)}")
    return PlainValidator(check)


def _number_pair(kind: str, integers: bool):
    def check(value):
        if (not isinstance(value, list) or len(value) != 2
                or not all(isinstance(v, int if integers else (int, float)) and not isinstance(v, bool)
                           for v in value)):
            raise ValueError(f"must be a list of two {kind}s, got {shown(value)}")
        return tuple(value)
    return PlainValidator(check)


def _classes(value):
    if value == "gtsrb43" or (isinstance(value, list) and value and all(isinstance(c, str) and c for c in value)):
        return value
    raise ValueError(f"must be 'gtsrb43' or a non-empty list of class names, got {shown(value)}")


def _output_order(value):
    if value in OUTPUT_ORDERS or (isinstance(value, list) and value
                                  and all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        return value
    raise ValueError(f"must be {' or '.join(OUTPUT_ORDERS)}, or a list of the class id of each output, "
                     f"got {shown(value)}")


def resolved_output_order(value, num_classes: int) -> tuple[int, ...] | None:
    """The class id of each output as a card's ``output_order`` says (None: class id order); ``ValueError`` for a
    list that is not an order of the class ids ``0 .. num_classes - 1``."""
    if value == "class_id":
        return None
    order = sorted(range(num_classes), key=str) if value == "sorted_as_text" else list(value)
    if sorted(order) != list(range(num_classes)):
        raise ValueError(f"must list each class id 0..{num_classes - 1} once (the card has {num_classes} classes), "
                         f"got {shown(value)}")
    return None if order == list(range(num_classes)) else tuple(order)


def _steps(value):
    if not isinstance(value, list):
        raise ValueError(f"must be a list of steps, got {shown(value)}")
    return tuple(Equalisation.from_card(step) for step in value)


_SCHEMA = ConfigDict(extra="forbid", frozen=True)


class _Normalize(BaseModel):
    model_config = _SCHEMA
    mean: list[float]
    std: list[float]

    @model_validator(mode="after")
    def _one_positive_std_per_mean(self):
        if not self.mean or len(self.mean) != len(self.std):
            raise ValueError(f"needs as many std as mean values (one per channel fed), got {len(self.mean)} mean and "
                             f"{len(self.std)} std")
        if not all(s > 0 for s in self.std):
            raise ValueError(f"std must be positive, got {self.std}")
        return self


class _Input(BaseModel):
    model_config = _SCHEMA
    size: Annotated[tuple[int, int], _number_pair("positive integer", integers=True)] | None = None
    channels: Annotated[str, _one_of(CHANNELS)] | None = None
    range: Annotated[tuple[float, float], _number_pair("number", integers=False)] | None = None
    gray: Annotated[str, _one_of(GRAY_WEIGHTS)] | None = None
    steps: Annotated[tuple, PlainValidator(_steps)] | None = None
    normalize: _Normalize | None = None
    resize: Annotated[str, _one_of(RESIZES)] | None = None
    resize_library: Annotated[str, _one_of(RESIZE_LIBRARIES)] | None = None
    layout: Annotated[str, _one_of(LAYOUTS)] | None = None

    @field_validator("size")
    @classmethod
    def _positive(cls, value):
        if value is not None and not all(v > 0 for v in value):
            raise ValueError(f"must be two positive integers [height, width], got {list(value)}")
        return value

    @field_validator("range")
    @classmethod
    def _increasing(cls, value):
        if value is not None and not value[0] < value[1]:
            raise ValueError(f"must be [lo, hi] with lo < hi, got {list(value)}")
        return value

    @model_validator(mode="after")
    def _settings_fit_the_channels(self):
        gray = self.channels == "GRAY"
        if self.gray is not None and not gray:
            raise ValueError(f"sets gray: {self.gray}, which applies to channels: GRAY only (channels is "
                             f"{self.channels or 'RGB, by default'})")
        if self.normalize is not None and len(self.normalize.mean) != (1 if gray else 3):
            raise ValueError(f"normalize has {len(self.normalize.mean)} mean value(s) but the model is fed "
                             f"{1 if gray else 3} channel(s)")
        return self


class _TrainingData(BaseModel):
    model_config = _SCHEMA
    description: Annotated[str, StringConstraints(min_length=1)]
    provenance: Annotated[str, _one_of(PROVENANCES)]
    hash: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")] | None = None
    generator: Annotated[str, StringConstraints(min_length=1)] | None = None

    @model_validator(mode="after")
    def _generator_of_generated_data(self):
        if self.generator is not None and self.provenance != GENERATED:
            raise ValueError(f"names a generator ({shown(self.generator)}) for data whose provenance is "
                             f"{self.provenance}: a generator belongs to generated data only")
        return self


_Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class _Card(BaseModel):
    model_config = _SCHEMA
    input: _Input | None = None
    output: Annotated[str, _one_of(OUTPUTS)] | None = None
    classes: Annotated[str | list, PlainValidator(_classes)] | None = None
    output_order: Annotated[str | list, PlainValidator(_output_order)] | None = None
    training_data: _TrainingData | None = None
    intended_use: _Text | None = None
    out_of_scope_uses: list[_Text] | None = None
    caveats: list[_Text] | None = None


def _describe(error: dict) -> str:
    key = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        parent, sections = _Card, error["loc"][:-1]
        for section in sections:  # each section's annotation is ``<its schema> | None``
            parent = parent.model_fields[section].annotation.__args__[0]
        prefix = "".join(f"{section}." for section in sections)
        return f"unknown key {key}; known: {', '.join(prefix + name for name in parent.model_fields)}"
    if error["type"] == "value_error":
        return f"{key} {error['ctx']['error']}"
    return f"{key}: {error['msg'][0].lower()}{error['msg'][1:]} (got {shown(error['input'])})"


def parse_card(path: Path) -> ModelCard:
    """Read and validate a card (:func:`~safety_harness.core.safe_yaml.load_yaml`); unknown keys are errors,
    so a typo cannot pass silently."""
    document = load_yaml(path, "Model card")
    if not isinstance(document, dict):
        raise HarnessInputError(f"Model card {path} is not a mapping of keys to values (got {shown(document)})",
                                _CARD_FIX)
    try:
        card = _Card.model_validate(document)
    except ValidationError as error:
        problems = [_describe(e) for e in error.errors()]
        listed = problems[0] if len(problems) == 1 else "\n    " + "\n    ".join(problems)
        raise HarnessInputError(f"Model card {path}: {listed}", _CARD_FIX) from None
    inputs = card.input or _Input()
    values = {"size": inputs.size, "channels": inputs.channels, "resize": inputs.resize, "output": card.output,
              "layout": inputs.layout, "gray": inputs.gray, "steps": inputs.steps,
              "resize_library": inputs.resize_library,
              "normalize": None if inputs.normalize is None else (tuple(inputs.normalize.mean),
                                                                   tuple(inputs.normalize.std)),
              "pixel_range": None if inputs.range is None else tuple(float(v) for v in inputs.range)}
    if isinstance(card.classes, list):
        values |= {"class_names": tuple(card.classes), "classes_spec": f"list of {len(card.classes)} names"}
    if card.output_order is not None:
        try:
            values["output_order"] = resolved_output_order(card.output_order, len(values.get("class_names", CLASS_NAMES)))
        except ValueError as error:
            raise HarnessInputError(f"Model card {path}: output_order {error}", _CARD_FIX) from None
    if card.training_data is not None:
        trained = card.training_data
        values["training_data"] = TrainingData(trained.description, trained.provenance, trained.hash,
                                               trained.generator)
    if (card.intended_use, card.out_of_scope_uses, card.caveats) != (None, None, None):
        values["use"] = IntendedUse(card.intended_use, tuple(card.out_of_scope_uses or ()), tuple(card.caveats or ()))
    return ModelCard(**{key: value for key, value in values.items() if value is not None})


def resolve_card(model_path, card_path=None) -> tuple[ModelCard, Path | None, bool]:
    """The card in force: ``(card, its path or None, assumed)``.

    An explicit ``card_path`` must exist; otherwise the YAML beside the model is used if
    present, and without one the defaults are assumed (``assumed=True``), which the report
    states loudly.
    """
    if card_path is not None:
        card_path = Path(card_path)
        if not card_path.is_file():
            raise HarnessInputError(f"Model card {card_path} does not exist",
                                    "Pass --model-card the card's path, or omit it to use the YAML beside the model.")
        return parse_card(card_path), card_path, False
    beside = default_card_path(Path(model_path))
    if beside.is_file():
        return parse_card(beside), beside, False
    return ModelCard(), None, True
