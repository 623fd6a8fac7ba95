"""The model card: how to feed a model (input size, channel order, pixel range, resize) and what it outputs.

```yaml
input:
  size: [30, 30]        # height, width; default: the model's own input shape
  channels: RGB         # RGB | BGR | GRAY (mean of R, G, B)
  range: [0, 255]       # [lo, hi]: pixel value v in 0..255 is fed as lo + v * (hi - lo) / 255
  resize: bilinear      # nearest | bilinear | bicubic | area
  layout: NCHW          # NHWC | NCHW, for a .tflite or .onnx model; default: detected from its input shape
output: probabilities   # probabilities | logits
classes: gtsrb43        # the 43 GTSRB classes in ClassId order, or a list of class names
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
RESIZES = ("nearest", "bilinear", "bicubic", "area")
OUTPUTS = ("probabilities", "logits")
#: input axis orders of a deployed model (TFLite, ONNX): channels last or first
LAYOUTS = ("NHWC", "NCHW")
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
        return {"description": self.description, "provenance": self.provenance, "hash": self.sha256,
                "generator": self.generator}


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

    @property
    def num_channels(self) -> int:
        return 1 if self.channels == "GRAY" else 3

    def to_dict(self) -> dict:
        return {
            "size": None if self.size is None else list(self.size),
            "channels": self.channels,
            "range": list(self.pixel_range),
            "resize": self.resize,
            "output": self.output,
            "classes": self.classes_spec,
            "class_names": list(self.class_names),
            "layout": self.layout,
        }


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


_SCHEMA = ConfigDict(extra="forbid", frozen=True)


class _Input(BaseModel):
    model_config = _SCHEMA
    size: Annotated[tuple[int, int], _number_pair("positive integer", integers=True)] | None = None
    channels: Annotated[str, _one_of(CHANNELS)] | None = None
    range: Annotated[tuple[float, float], _number_pair("number", integers=False)] | None = None
    resize: Annotated[str, _one_of(RESIZES)] | None = None
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
    training_data: _TrainingData | None = None
    intended_use: _Text | None = None
    out_of_scope_uses: list[_Text] | None = None
    caveats: list[_Text] | None = None


def _describe(error: dict) -> str:
    key = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        section = error["loc"][0] if len(error["loc"]) > 1 else None
        parent = _Card.model_fields[section].annotation.__args__[0] if section else _Card
        prefix = f"{section}." if section else ""
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
              "layout": inputs.layout,
              "pixel_range": None if inputs.range is None else tuple(float(v) for v in inputs.range)}
    if isinstance(card.classes, list):
        values |= {"class_names": tuple(card.classes), "classes_spec": f"list of {len(card.classes)} names"}
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
