"""Model cards: defaults, lookup beside the model, validation that names the key, the range map."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from model_under_test import ModelCard, default_card_path, parse_card, preprocess, resolve_card
from model_under_test.card import IntendedUse, TrainingData
from model_under_test.reference import BUNDLED_MODEL
from safety_harness.core.errors import HarnessInputError
from safety_harness.core.gtsrb import CLASS_NAMES
from safety_harness.synthetic.default_ingest import GENERATOR


def test_default_card_path(tmp_path):
    assert default_card_path(tmp_path / "traffic_classifier.h5") == tmp_path / "traffic_classifier.yaml"
    (tmp_path / "saved_model").mkdir()
    assert default_card_path(tmp_path / "saved_model") == tmp_path / "saved_model.yaml"


def test_card_beside_the_model_is_used_and_missing_card_is_assumed(tmp_path):
    model = tmp_path / "m.keras"
    card, path, assumed = resolve_card(model)
    assert assumed and path is None and card == ModelCard()
    (tmp_path / "m.yaml").write_text("input:\n  channels: BGR\n")
    card, path, assumed = resolve_card(model)
    assert not assumed and path == tmp_path / "m.yaml" and card.channels == "BGR"


def test_full_card(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("input:\n  size: [30, 28]\n  channels: GRAY\n  range: [-1, 1]\n  resize: area\n"
                    "output: logits\nclasses: [a, b, c]\n")
    card = parse_card(path)
    assert (card.size, card.channels, card.pixel_range, card.resize, card.output) == (
        (30, 28), "GRAY", (-1.0, 1.0), "area", "logits")
    assert card.class_names == ("a", "b", "c") and card.num_channels == 1
    assert parse_card(tmp_path / "c.yaml").to_dict()["classes"] == "list of 3 names"
    assert ModelCard().class_names == CLASS_NAMES and card.training_data is None


def test_the_card_may_name_the_training_data_which_does_not_change_how_the_model_is_fed(tmp_path):
    path = tmp_path / "c.yaml"
    fed = "input:\n  size: [32, 32]\n"
    path.write_text(fed + "training_data:\n  description: GTSRB training set\n  provenance: real\n  hash: "
                    + "ab" * 32 + "\n")
    card = parse_card(path)
    assert card.training_data == TrainingData("GTSRB training set", "real", "ab" * 32, None)
    (tmp_path / "plain.yaml").write_text(fed)
    assert card.to_dict() == parse_card(tmp_path / "plain.yaml").to_dict()


def test_the_bundled_reference_card_says_it_was_trained_on_the_bundled_renderer():
    card = parse_card(BUNDLED_MODEL.with_suffix(".yaml"))
    assert (card.training_data.provenance, card.training_data.generator) == ("generated", GENERATOR)
    assert len(card.training_data.sha256) == 64


def test_the_card_may_state_intended_use_out_of_scope_uses_and_caveats_which_do_not_change_how_it_is_fed(tmp_path):
    path = tmp_path / "c.yaml"
    fed = "input:\n  size: [32, 32]\n"
    path.write_text(fed + "intended_use: Cropped German signs by day\nout_of_scope_uses: [night, other countries]\n"
                    "caveats: [trained on GTSRB only]\n")
    card = parse_card(path)
    assert card.use == IntendedUse("Cropped German signs by day", ("night", "other countries"),
                                   ("trained on GTSRB only",))
    (tmp_path / "plain.yaml").write_text(fed)
    assert card.to_dict() == parse_card(tmp_path / "plain.yaml").to_dict() and parse_card(tmp_path / "plain.yaml").use is None
    (tmp_path / "caveats.yaml").write_text("caveats: [no night images]\n")
    assert parse_card(tmp_path / "caveats.yaml").use == IntendedUse(None, (), ("no night images",))


@pytest.mark.parametrize(
    "text, message",
    [
        ("intended_use: ''\n", "intended_use"),
        ("out_of_scope_uses: night\n", "out_of_scope_uses"),
        ("caveats: [ok, '  ']\n", "caveats.1"),
        ("input:\n  channels: RGBA\n", "input.channels is 'RGBA'; allowed: RGB, BGR, GRAY"),
        ("input:\n  size: [32]\n", "input.size"),
        ("input:\n  size: [0, 32]\n", "input.size"),
        ("input:\n  range: [1, 0]\n", "lo < hi"),
        ("input:\n  resize: lanczos\n", "input.resize"),
        ("input:\n  colour: RGB\n", "unknown key input.colour; known: input.size, input.channels"),
        ("input: 3\n", "input: input should be a valid dictionary"),
        ("outputs: logits\n", "unknown key outputs; known: input, output, classes"),
        ("output: softmax\n", "output is 'softmax'"),
        ("classes: imagenet\n", "classes must be"),
        ("classes: [a, '']\n", "classes must be"),
        ("input:\n  size: [true, 32]\n", "input.size must be a list of two positive integers"),
        ("- a list\n", "not a mapping"),
        ("input: [\n", "line 2: not valid YAML"),
        ("input:\n  channels: RGB\n  channels: BGR\n", "line 3: key 'channels' appears twice"),
        ("input: &i {channels: RGB}\nclasses: *i\n", "line 1: anchor &i refused"),
        ("training_data:\n  description: x\n  provenance: synthetic\n",
         "training_data.provenance is 'synthetic'; allowed: real, generated"),
        ("training_data:\n  description: x\n  provenance: real\n  generator: r v1\n",
         "training_data names a generator ('r v1') for data whose provenance is real"),
        ("training_data:\n  description: x\n  provenance: real\n  hash: abc\n", "training_data.hash"),
        ("training_data:\n  provenance: real\n", "training_data.description: field required"),
        ("training_data:\n  description: x\n  provenance: real\n  seed: 1\n",
         "unknown key training_data.seed; known: training_data.description, training_data.provenance"),
    ],
)
def test_invalid_cards_name_file_and_key(tmp_path, text, message):
    path = tmp_path / "card.yaml"
    path.write_text(text)
    with pytest.raises(HarnessInputError) as error:
        parse_card(path)
    assert message in str(error.value) and str(path) in str(error.value)


def test_oversize_and_non_utf8_cards_are_refused(tmp_path):
    path = tmp_path / "card.yaml"
    path.write_bytes(b"output: logits\n" + b"#" * (1 << 20))
    with pytest.raises(HarnessInputError, match="the limit is 1048576 bytes"):
        parse_card(path)
    path.write_bytes(b"# \xff\noutput: logits\n")
    with pytest.raises(HarnessInputError, match="line 1: byte 0xff is not UTF-8"):
        parse_card(path)


def test_long_values_are_shortened_in_messages(tmp_path):
    path = tmp_path / "card.yaml"
    path.write_text("output: " + "x" * 5000 + "\n")
    with pytest.raises(HarnessInputError) as error:
        parse_card(path)
    assert "output is 'xxx" in str(error.value) and "…" in str(error.value) and len(str(error.value)) < 400


def test_explicit_card_must_exist(tmp_path):
    with pytest.raises(HarnessInputError, match="does not exist"):
        resolve_card(tmp_path / "m.h5", tmp_path / "nope.yaml")


@given(st.floats(-10, 10), st.floats(0.01, 20), st.sampled_from(["RGB", "BGR", "GRAY"]))
def test_range_map_hits_both_ends_and_is_monotone(lo, width, channels):
    card = ModelCard(pixel_range=(lo, lo + width), channels=channels)
    images = np.arange(256, dtype=np.uint8).repeat(3).reshape(1, 16, 16, 3)
    x = preprocess(images, card)
    assert x.dtype == np.float32 and x.shape[-1] == card.num_channels
    assert x.min() == pytest.approx(lo, abs=1e-4) and x.max() == pytest.approx(lo + width, rel=1e-5, abs=1e-4)
    assert (np.diff(x.reshape(-1, card.num_channels)[:, 0]) >= 0).all()


def test_channel_orders():
    image = np.zeros((1, 1, 1, 3), np.uint8)
    image[..., :] = (255, 0, 0)
    card = ModelCard(pixel_range=(0, 255))
    assert preprocess(image, card)[0, 0, 0].tolist() == [255, 0, 0]
    assert preprocess(image, ModelCard(pixel_range=(0, 255), channels="BGR"))[0, 0, 0].tolist() == [0, 0, 255]
    assert preprocess(image, ModelCard(pixel_range=(0, 255), channels="GRAY"))[0, 0, 0].tolist() == [85]
    # ikreza_gray's (x - 128) / 128 is the linear map onto [-1, 0.9921875]
    assert preprocess(np.full((1, 1, 1, 3), 128, np.uint8), ModelCard(pixel_range=(-1, 0.9921875)))[0, 0, 0, 0] == 0
