"""Model cards: defaults, lookup beside the model, validation that names the key, the preprocessing steps."""

import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from safety_harness.core.errors import HarnessInputError
from safety_harness.core.gtsrb import CLASS_NAMES
from safety_harness.ingest import decode_image
from safety_harness.model_under_test import ModelCard, default_card_path, parse_card, preprocess, resolve_card
from safety_harness.model_under_test.card import EQUALIZE_HIST, Equalisation, IntendedUse, TrainingData
from safety_harness.model_under_test.reference import BUNDLED_MODEL
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


def test_a_card_declares_the_preprocessing_steps_with_their_parameters(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("input:\n  channels: GRAY\n  gray: luma\n"
                    "  steps: [equalize_hist, {clahe: {clip_limit: 2.5, tile_grid: [8, 4]}}]\n"
                    "  range: [0, 1]\n  normalize: {mean: [0.5], std: [0.25]}\n  resize_library: pil\n")
    card = parse_card(path)
    assert (card.gray, card.steps, card.normalize, card.interpolation) == (
        "luma", (EQUALIZE_HIST, Equalisation(2.5, (8, 4))), ((0.5,), (0.25,)), "pil:bilinear")
    assert card.to_dict()["steps"] == ["equalize_hist", {"clahe": {"clip_limit": 2.5, "tile_grid": [8, 4]}}]
    assert card.fed_range == (-2.0, 2.0)


def test_a_card_without_the_new_settings_keeps_its_cache_key(tmp_path):
    """Cached predictions are keyed by ``to_dict``: a card that sets none of gray, steps, normalize,
    resize_library and output_order is keyed as before they existed; the evidence records every setting."""
    path = tmp_path / "c.yaml"
    path.write_text("input:\n  channels: GRAY\n  range: [-1, 1]\n")
    card = parse_card(path)
    assert set(card.to_dict()) == {"size", "channels", "range", "resize", "output", "classes", "class_names", "layout"}
    assert card.settings() == card.to_dict() | {"gray": "mean", "steps": [], "normalize": None,
                                                "resize_library": "opencv", "output_order": None}
    path.write_text("input:\n  channels: GRAY\n  range: [-1, 1]\n  gray: luma\n")
    assert parse_card(path).to_dict() == card.to_dict() | {"gray": "luma"}


def test_output_order_gives_the_class_id_of_each_output(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("output_order: sorted_as_text\n")
    order = parse_card(path).output_order
    assert order[:4] == (0, 1, 10, 11) and order[11:14] == (19, 2, 20) and sorted(order) == list(range(43))
    assert parse_card(path).to_dict()["output_order"] == list(order)
    path.write_text("classes: [a, b, c]\noutput_order: [2, 0, 1]\n")
    assert parse_card(path).output_order == (2, 0, 1)
    for in_class_id_order in ("output_order: class_id\n", "classes: [a, b]\noutput_order: [0, 1]\n",
                              "classes: [a, b]\noutput_order: sorted_as_text\n"):
        path.write_text(in_class_id_order)
        assert parse_card(path).output_order is None and "output_order" not in parse_card(path).to_dict()


@pytest.mark.parametrize("text, message", [
    ("output_order: [0, 1, 1]\nclasses: [a, b, c]\n", "output_order must list each class id 0..2 once"),
    ("output_order: [0, 1]\n", "output_order must list each class id 0..42 once (the card has 43 classes)"),
    ("output_order: by_name\n", "output_order must be class_id or sorted_as_text, or a list"),
    ("output_order: [0, true]\nclasses: [a, b]\n", "output_order must be class_id or sorted_as_text"),
])
def test_an_output_order_that_is_no_order_of_the_class_ids_is_refused(tmp_path, text, message):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(HarnessInputError, match=re.escape(message)) as raised:
        parse_card(path)
    assert str(path) in str(raised.value)


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
        ("input:\n  gray: luma\n", "input sets gray: luma, which applies to channels: GRAY only"),
        ("input:\n  channels: GRAY\n  gray: weighted\n", "input.gray is 'weighted'; allowed: mean, luma"),
        ("input:\n  steps: equalize_hist\n", "input.steps must be a list of steps"),
        ("input:\n  steps: [equalise]\n", "input.steps has the step 'equalise'; allowed: equalize_hist, {clahe"),
        ("input:\n  steps: [{clahe: {clip_limit: 2}}]\n", "clahe needs exactly clip_limit and tile_grid"),
        ("input:\n  steps: [{clahe: {clip_limit: 0, tile_grid: [8, 8]}}]\n", "clip_limit must be a positive number"),
        ("input:\n  steps: [{clahe: {clip_limit: 2, tile_grid: [8]}}]\n", "tile_grid must be two positive integers"),
        ("input:\n  normalize: {mean: [0.5], std: [0.2]}\n", "normalize has 1 mean value(s) but the model is fed 3"),
        ("input:\n  normalize: {mean: [0, 0, 0], std: [1, 0, 1]}\n", "input.normalize std must be positive"),
        ("input:\n  normalize: {mean: [0, 0, 0], sd: [1, 1, 1]}\n",
         "unknown key input.normalize.sd; known: input.normalize.mean, input.normalize.std"),
        ("input:\n  resize_library: skimage\n", "input.resize_library is 'skimage'; allowed: opencv, pil"),
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


#: low-contrast images, as equalisation meets them: 6 of 24 x 20 pixels, values 60..119
LOW_CONTRAST = np.random.default_rng(0).integers(60, 120, (6, 24, 20, 3), dtype=np.uint8)


def test_luma_is_opencvs_gray_and_pillows_l_within_one():
    card = ModelCard(channels="GRAY", gray="luma", pixel_range=(0, 255))
    fed = preprocess(LOW_CONTRAST, card)[..., 0]
    assert np.array_equal(fed, [cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) for image in LOW_CONTRAST])
    pillow = np.stack([np.asarray(Image.fromarray(image).convert("L")) for image in LOW_CONTRAST])
    assert np.abs(fed - pillow).max() <= 1
    assert not np.array_equal(fed, preprocess(LOW_CONTRAST, ModelCard(channels="GRAY", pixel_range=(0, 255)))[..., 0])


def test_histogram_steps_are_opencvs_applied_in_the_declared_order():
    gray = [cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) for image in LOW_CONTRAST]
    clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(4, 2))  # 4 columns, 2 rows of tiles
    step = Equalisation(2.0, (4, 2))

    def fed(*steps):
        return preprocess(LOW_CONTRAST, ModelCard(channels="GRAY", gray="luma", steps=steps, pixel_range=(0, 255)))

    assert np.array_equal(fed(EQUALIZE_HIST)[..., 0], [cv2.equalizeHist(image) for image in gray])
    assert np.array_equal(fed(step)[..., 0], [clahe.apply(image) for image in gray])
    assert np.array_equal(fed(EQUALIZE_HIST, step)[..., 0], [clahe.apply(cv2.equalizeHist(image)) for image in gray])
    assert not np.array_equal(fed(EQUALIZE_HIST, step), fed(step, EQUALIZE_HIST))
    assert fed(EQUALIZE_HIST).max() == 255 and LOW_CONTRAST.max() < 120


def test_equalisation_of_colour_equalises_each_channel_and_a_mean_gray_rounded():
    bgr = preprocess(LOW_CONTRAST, ModelCard(channels="BGR", steps=(EQUALIZE_HIST,), pixel_range=(0, 255)))
    expected = [cv2.merge([cv2.equalizeHist(channel) for channel in cv2.split(image[..., ::-1])])
                for image in LOW_CONTRAST]
    assert np.array_equal(bgr, expected)
    mean = preprocess(LOW_CONTRAST, ModelCard(channels="GRAY", steps=(EQUALIZE_HIST,), pixel_range=(0, 255)))
    rounded = np.rint(LOW_CONTRAST.mean(axis=-1)).astype(np.uint8)
    assert np.array_equal(mean[..., 0], [cv2.equalizeHist(image) for image in rounded])


def test_mean_std_normalisation_follows_the_range():
    imagenet = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    card = ModelCard(pixel_range=(0, 1), normalize=imagenet)
    expected = (LOW_CONTRAST / 255.0 - np.array(imagenet[0])) / np.array(imagenet[1])
    assert np.allclose(preprocess(LOW_CONTRAST, card), expected, atol=1e-5)
    assert card.fed_range == pytest.approx((-0.485 / 0.229, (1 - 0.406) / 0.225))


def test_the_resize_library_is_the_cards(tmp_path):
    """OpenCV's bilinear samples 2 x 2 pixels; Pillow's widens its support when shrinking: the same filter name
    gives different pixels, and each is its library's."""
    stored = np.random.default_rng(1).integers(0, 256, (96, 80, 3), dtype=np.uint8)
    path = tmp_path / "sign.png"
    Image.fromarray(stored).save(path)
    opencv = decode_image(path, (32, 30), ModelCard().interpolation)
    pillow = decode_image(path, (32, 30), ModelCard(resize_library="pil").interpolation)
    assert np.array_equal(opencv, cv2.resize(stored, (30, 32), interpolation=cv2.INTER_LINEAR))
    assert np.array_equal(pillow, np.asarray(Image.fromarray(stored).resize((30, 32), Image.Resampling.BILINEAR)))
    assert np.abs(opencv.astype(int) - pillow).mean() > 5


DOCUMENTED_CARDS = Path(__file__).parents[1] / "docs" / "cards"
#: how each documented card's repository feeds an image file, as its own code reads (the card cites the lines)
REPOSITORY_FEEDING = {
    # Image.open(...).resize((30, 30)): Pillow's default filter, BICUBIC since Pillow 7; no scaling
    "bhanuyadav140695": lambda path: np.asarray(Image.open(path).resize((30, 30), Image.Resampling.BICUBIC)),
    # cv2.imread (BGR), cv2.resize to 32 x 32, BGR2GRAY, equalizeHist, / 255
    "nishatrhythm": lambda path: cv2.equalizeHist(
        cv2.cvtColor(cv2.resize(cv2.imread(str(path)), (32, 32)), cv2.COLOR_BGR2GRAY))[..., None] / 255,
    # Keras' flow_from_directory(target_size=(30, 30)) with rescale 1 / 255: load_img (Pillow, RGB, nearest) * (1 / 255)
    "nihal1521": lambda path: np.asarray(Image.open(path).convert("RGB").resize((30, 30), Image.Resampling.NEAREST),
                                         dtype=np.float32) * np.float32(1 / 255),
    # cv2.imread, BGR2RGB, cv2.resize to 30 x 30, / 255.0
    "adityaashhhh": lambda path: cv2.resize(cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB), (30, 30)) / 255.0,
}


@pytest.mark.parametrize("name", sorted(REPOSITORY_FEEDING))
def test_the_documented_cards_of_real_tflite_models_feed_them_as_their_repositories_do(name, shared_path):
    """The README's real TFLite models are judged as an independent run of their own code judges them because their
    cards give the tensors that code gives, here on 200 Final_Test images."""
    assert {path.stem for path in DOCUMENTED_CARDS.glob("*.yaml")} == set(REPOSITORY_FEEDING)
    images = sorted(shared_path("gtsrb", "Final_Test", "Images").glob("*.ppm"))[:200]
    card = parse_card(DOCUMENTED_CARDS / f"{name}.yaml")
    fed = preprocess(np.stack([decode_image(path, card.size, card.interpolation) for path in images]), card)
    expected = np.stack([REPOSITORY_FEEDING[name](path) for path in images]).astype(np.float32)
    assert fed.shape == expected.shape
    assert np.abs(fed - expected).max() <= 1e-6 * max(1.0, float(np.abs(expected).max()))
