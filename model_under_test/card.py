"""The model card: how to feed a model (input size, channel order, pixel range, resize) and what it outputs.

```yaml
input:
  size: [30, 30]        # height, width; default: the model's own input shape
  channels: RGB         # RGB | BGR | GRAY (mean of R, G, B)
  range: [0, 255]       # [lo, hi]: pixel value v in 0..255 is fed as lo + v * (hi - lo) / 255
  resize: bilinear      # nearest | bilinear | bicubic | area
output: probabilities   # probabilities | logits
classes: gtsrb43        # the 43 GTSRB classes in ClassId order, or a list of class names
```
"""

from dataclasses import dataclass
from pathlib import Path

import yaml

from safety_harness.core.errors import HarnessInputError
from safety_harness.core.gtsrb import CLASS_NAMES

CHANNELS = ("RGB", "BGR", "GRAY")
RESIZES = ("nearest", "bilinear", "bicubic", "area")
OUTPUTS = ("probabilities", "logits")
_CARD_FIX = "See README.md, 'Model card', for the schema."


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
        }


def default_card_path(model_path: Path) -> Path:
    """The YAML beside the model with the same name: ``m.h5`` -> ``m.yaml``, ``saved_model/`` -> ``saved_model.yaml``."""
    model_path = Path(model_path)
    if model_path.is_dir():
        return model_path.parent / (model_path.name + ".yaml")
    return model_path.with_suffix(".yaml")


def _error(path, problem):
    raise HarnessInputError(f"Model card {path}: {problem}", _CARD_FIX)


def _number_pair(path, key, value, kind):
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
        _error(path, f"{key} must be a list of two {kind}s, got {value!r}")
    return value


def parse_card(path: Path) -> ModelCard:
    """Read and validate a card (YAML, safe loader); unknown keys are errors, so a typo cannot pass silently."""
    try:
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise HarnessInputError(f"Model card {path} cannot be read ({error})", _CARD_FIX) from None
    if not isinstance(document, dict):
        _error(path, "is not a mapping of keys to values")
    unknown = set(document) - {"input", "output", "classes"}
    if unknown:
        _error(path, f"unknown key(s) {', '.join(sorted(map(str, unknown)))}; known: input, output, classes")
    inputs = document.get("input") or {}
    if not isinstance(inputs, dict):
        _error(path, "input must be a mapping")
    unknown = set(inputs) - {"size", "channels", "range", "resize"}
    if unknown:
        _error(path, f"unknown key(s) input.{', input.'.join(sorted(map(str, unknown)))}; "
                     "known: size, channels, range, resize")
    card = {}
    if "size" in inputs:
        size = _number_pair(path, "input.size", inputs["size"], "positive integer")
        if not all(isinstance(v, int) and v > 0 for v in size):
            _error(path, f"input.size must be two positive integers [height, width], got {size!r}")
        card["size"] = tuple(size)
    for key, allowed, field in (("channels", CHANNELS, "channels"), ("resize", RESIZES, "resize")):
        if key in inputs:
            if inputs[key] not in allowed:
                _error(path, f"input.{key} is {inputs[key]!r}; allowed: {', '.join(allowed)}")
            card[field] = inputs[key]
    if "range" in inputs:
        lo, hi = _number_pair(path, "input.range", inputs["range"], "number")
        if not lo < hi:
            _error(path, f"input.range must be [lo, hi] with lo < hi, got {inputs['range']!r}")
        card["pixel_range"] = (float(lo), float(hi))
    if "output" in document:
        if document["output"] not in OUTPUTS:
            _error(path, f"output is {document['output']!r}; allowed: {', '.join(OUTPUTS)}")
        card["output"] = document["output"]
    if "classes" in document:
        classes = document["classes"]
        if classes == "gtsrb43":
            pass
        elif isinstance(classes, list) and classes and all(isinstance(c, str) and c for c in classes):
            card["class_names"] = tuple(classes)
            card["classes_spec"] = f"list of {len(classes)} names"
        else:
            _error(path, f"classes must be 'gtsrb43' or a non-empty list of class names, got {classes!r}")
    return ModelCard(**card)


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
