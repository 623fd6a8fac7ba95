"""The evidence document: the typed contract of the evidence JSON that CI and auditors read.

:class:`EvidenceDocument` is what a run writes and what the HTML report renders. Everything a
gate or an auditor reads (gate, counts, ids, verdicts, values, bounds, thresholds, n, successes,
identities) is typed; what varies by metric (``details``, ``parameters``) is free-form. The JSON
Schema generated from it is committed beside this module (``evidence.schema.json``); a test keeps
the two equal. After changing a model here, bump :data:`SCHEMA_VERSION` when the change breaks a
reader, and regenerate the file::

    python tools/write_evidence_schema.py
"""

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveInt

from safety_harness.core.names import NAME_PATTERN
from safety_harness.evidence.results import GATE_FAIL, GATE_NO_VERDICT, GATE_PASS
from safety_harness.ingest.groups import SOURCES as GROUP_SOURCES
from safety_harness.metrics.verdicts import SamplesNeeded, Verdict

SCHEMA_VERSION = "2.3"
SCHEMA_PATH = Path(__file__).with_name("evidence.schema.json")

Gate = Literal[GATE_PASS, GATE_FAIL, GATE_NO_VERDICT]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class _Section(BaseModel):
    # a key the schema does not declare is refused: the committed schema names everything written;
    # the schema describes the file as written, in which every field is present
    model_config = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)


class VerdictCounts(_Section):
    """How many requirement cases got each verdict."""

    pass_: NonNegativeInt = Field(alias="pass")
    fail: NonNegativeInt
    insufficient_evidence: NonNegativeInt
    not_applicable: NonNegativeInt

    def by_verdict(self) -> dict[str, int]:
        return self.model_dump(by_alias=True)


class PathReason(_Section):
    """A file of the ingest left out of the evaluation, and why."""

    path: str
    reason: str


class GateJointConfidence(_Section):
    """With which confidence all passing rate requirements hold at once (Holm 1979 over their exact p-values)."""

    value: float | None = Field(ge=0, le=1, description="1 - min(1, max_i (m - i + 1) p_(i)); null: no rate passed")
    method: Literal["holm"]
    rate_cases: NonNegativeInt = Field(description="the passing rate requirement cases it covers (m)")
    set_by: list[str] = Field(description="the cases whose p-values set it: those from the maximising p_(i) up "
                                          "(the m - i + 1 largest), largest p-value first")
    family_wise_passing: NonNegativeInt = Field(description="of the m passing rate cases, how many pass at the "
                                                            "Bonferroni level 1 - (1 - c) / m (all of them with "
                                                            "--family-wise, which judges them there)")
    family_wise_gate: Gate = Field(description="the gate had every rate case been judged at the Bonferroni level "
                                               "(--family-wise): fail when a passing rate case would not pass there")
    left_out: list[str] = Field(description="passing cases judged without a single binomial count (a bootstrap or distance bound, a search, sticker attraction's Bonferroni-corrected bounds over classes): not covered")
    family_wise: bool = Field(description="--family-wise: each rate case judged at 1 - (1 - c) / m (Bonferroni), so the passing rate cases hold jointly at the stated confidence")


class ModelCard(_Section):
    """The preprocessing in force (from the card, or assumed)."""

    size: list[int] | None
    channels: str
    range: list[float]
    resize: str
    output: str
    classes: str | list[str]
    class_names: list[str]
    layout: str | None = Field(description="NHWC or NCHW as the card sets it for a deployed model; None: detected "
                                           "from its input shape (Keras models and SavedModels: NHWC)")
    gray: str = Field(description="how GRAY is made: mean (of R, G, B) or luma (OpenCV's); not used for RGB, BGR")
    steps: list[str | dict] = Field(description="the histogram steps on the 8-bit channels, in order "
                                                "(equalize_hist, clahe with its parameters)")
    normalize: dict[str, list[float]] | None = Field(description="per-channel mean and std applied after the range; "
                                                                 "None: none")
    resize_library: str = Field(description="opencv or pil: which library resizes")
    output_order: list[int] | None = Field(description="the class id of each of the model's outputs, in output order "
                                                       "(the outputs are put in class id order); None: output i is "
                                                       "class i")


class SafetyChecks(_Section):
    """What was screened in the model before anything in it ran, and what ``--allow-unsafe-model`` let through."""

    checked: list[str]
    allowed_by_allow_unsafe_model: list[str]


class PreprocessingVariant(_Section):
    """The model's figures on the preprocessing check's sample, fed with one channel order, gray, histogram steps and
    pixel range, its outputs read in one class order."""

    channels: str
    gray: str = Field(description="mean or luma: how GRAY is made (not used for RGB and BGR)")
    steps: list[str | dict] = Field(description="the histogram steps on the 8-bit channels, in order")
    range: list[float]
    output_order: list[int] | None = Field(description="the class id of each output as this variant reads them; None: "
                                                       "output i is class i")
    accuracy: float | None = Field(description="None without labels")
    mean_confidence: float | None = Field(description="mean max probability")
    class_entropy: float | None = Field(description="entropy of the predicted-class histogram over ln(classes)")
    p_value: float | None = Field(description="one-sided, against the card's on the same images; None for the card")
    clearly_better: bool
    unusable: str | None = Field(description="why the model gave no valid output so fed; None when it did")


class PreprocessingCheck(_Section):
    """The card's channel order, gray, equalisation and pixel range against the alternatives, on a seeded sample,
    before judging."""

    n: NonNegativeInt
    labelled: bool
    rule: str
    card: PreprocessingVariant
    alternatives: list[PreprocessingVariant]
    clearly_better: str | None = Field(description="the best clearly better setting (a run with an assumed card "
                                                   "uses it; one with a card stops); None: the card stands")


class IntendedUse(_Section):
    """What the model card says the model is for (Model Cards, Mitchell et al. 2019): not how it is fed."""

    intended_use: str | None = Field(description="null: the card states none")
    out_of_scope_uses: list[str] = Field(description="empty: the card states none")
    caveats: list[str] = Field(description="empty: the card states none")


class ModelIdentity(_Section):
    path: str
    format: str
    loader: str
    runtime: str | None = Field(description="how a deployed model (.tflite, .onnx) is run: the runtime and its "
                                            "version, the input's layout and quantisation, the output's, the "
                                            "batching; None for a Keras model or SavedModel, run in TensorFlow")
    sha256: Sha256
    input_shape: list[int | None]
    output_shape: list[int | None]
    parameters: NonNegativeInt
    card_path: str | None
    card_assumed: bool
    card: ModelCard
    intended_use: IntendedUse | None = Field(None, description="the card's intended use, out-of-scope uses and "
                                                                "caveats; null: the card (if any) states none")
    load_warnings: list[str]
    preprocessing_check: PreprocessingCheck | None = Field(description="None when no sampled image decoded")
    safety_checks: SafetyChecks


class EnsembleIdentity(_Section):
    """A deep ensemble (``--model`` given more than once): its members, each with its own card, combined."""

    combination: str = Field(description="how the members' outputs become the ensemble's probabilities")
    sha256: Sha256 = Field(description="SHA-256 over the members' SHA-256 and cards, in the order of their "
                                       "SHA-256: the same ensemble in any order")
    input_size: list[int] = Field(description="the size the ensemble's images are decoded and perturbed at (the "
                                              "largest member's); each member resizes them to its own")
    resize: str = Field(description="the resize of the member whose size that is")
    card_assumed: bool = Field(description="some member's preprocessing was assumed (no card)")
    members: list[ModelIdentity] = Field(min_length=2, description="as given on the command line")


Provenance = Literal["real", "generated"]


class DataSet(_Section):
    """One data set a verdict stands on (or the model was trained on), with where it comes from."""

    role: Literal["ingest", "reference", "ood_set", "training"]
    name: str
    provenance: Provenance = Field(description="real: a folder the user gave (or, for training data, as the model "
                                               "card says); generated: made by a generator of the harness")
    description: str
    sha256: Sha256 | None = Field(description="content hash: over label files and images of a folder, the image "
                                              "array of a generated OOD set, as the card gives it for training "
                                              "data (null: the card gives none)")
    generator: str | None = Field(description="the generator and its version; null for real data")
    seed: int | None = Field(description="the generator's seed; null for real data and training data")


class DataIdentity(_Section):
    """The data of the run with its provenance."""

    demonstration: bool = Field(description="the ingest is generated: the gate is a demonstration on generated "
                                            "data, not release evidence (the gate and the exit code are unchanged)")
    sets: list[DataSet]
    same_generator_as_training: list[str] = Field(description="the data sets drawn from a generator the model's "
                                                              "training data came from (its card's training_data)")


class RequirementNotJudged(_Section):
    """A requirement of the requirements file that no case of this run judged."""

    id: str
    title: str
    hazard: str
    reason: str


GoalStatus = Literal["supported", "not_supported", "undeveloped"]


class SafetyCaseNode(_Section):
    id: str
    text: str


class SafetyCaseGoal(SafetyCaseNode):
    status: GoalStatus


class SafetyCaseSolution(_Section):
    """A requirement as the evidence (GSN solution) of a hazard goal: its worst case's verdict and its cases."""

    id: str
    requirement: str
    title: str
    verdict: Verdict = Field(description="its worst case's: a blocking verdict first, else the smallest margin")
    worst_case: str = Field(description="the id of that case")
    cases: list[str] = Field(description="the ids of its requirement cases (requirements[].id)")
    anchor: str = Field(description="the HTML id of the requirement's row in the report")


class SafetyCaseHazard(_Section):
    id: str
    hazard: str
    status: GoalStatus = Field(description="supported: every requirement passes; not_supported: one fails; "
                                           "undeveloped: no evidence decides it (not applicable, insufficient "
                                           "evidence, or no requirement judged in this run)")
    solutions: list[SafetyCaseSolution]
    not_judged: list[str] = Field(description="requirements against the hazard that this run did not judge")


class SafetyCaseAssumption(SafetyCaseNode):
    provenance: str
    independence: str


class SafetyCase(_Section):
    """The goal structure (GSN) derived from the verdicts (safety_harness/evidence/safety_case.py)."""

    top_goal: SafetyCaseGoal
    strategy: SafetyCaseNode
    context: list[SafetyCaseNode]
    assumptions: list[SafetyCaseAssumption]
    hazards: list[SafetyCaseHazard]
class GroupSizes(_Section):
    min: NonNegativeInt
    median: float
    max: NonNegativeInt
    histogram: dict[str, NonNegativeInt] = Field(description="groups by size: 1, 2-4, 5-9, 10-19, 20-29, 30-49, 50+")


class IngestGroups(_Section):
    """The ingest's groups of dependent images (tracks, one physical sign): rates are bounded over them."""

    source: Literal[GROUP_SOURCES] = Field(description="groups_file (--groups), label_file_column (a Track column), "
                                                       "gtsrb_track_names (TTTTT_FFFFF file names), "
                                                       "generated_independent (the bundled renderer: every image "
                                                       "its own group) or estimated (from image similarity)")
    description: str
    count: NonNegativeInt
    per_class: dict[str, NonNegativeInt] = Field(description="groups per ClassId (a group spanning two classes "
                                                             "counts in each)")
    sizes: GroupSizes


class Independence(_Section):
    """Whether a statistic's bound treats images as independent or respects their groups."""

    independence: Literal["groups", "images"] = Field(description="groups: bounded over groups of dependent images "
                                                                  "(Kish's effective sample size); images: every "
                                                                  "image counted as independent")
    reason: str = Field(description="how the groups were formed, or why the images are treated as independent")
    image_bound: float | None = Field(description="the image-level Clopper–Pearson bound, beside the judged one")
    groups: NonNegativeInt | None = Field(description="groups among the rate's images")
    effective_n: float | None = Field(description="Kish's effective sample size the bound was computed at")
    correlation: float | None = Field(ge=0, le=1, description="the intra-class correlation used")
    correlation_source: str | None = Field(description="how the correlation was obtained")


class IngestIdentity(_Section):
    path: str
    layout: str
    label_file: str | None
    reading: str = Field(description="how the layout read the labels and found the images: e.g. how many images a "
                                     "label file named were found by file name in subfolders, or what class "
                                     "folder names were matched to")
    folder_classes: dict[str, NonNegativeInt] = Field(description="class id of each class folder named by class "
                                                                  "name (class-name-folders layout); empty otherwise")
    labelled: bool
    n: NonNegativeInt
    evaluated: NonNegativeInt
    sha256: Sha256
    class_counts: dict[str, NonNegativeInt] = Field(description="images per ClassId (the key, as a string)")
    excluded: list[PathReason]
    ignored: list[PathReason]
    groups: IngestGroups


#: an exhibit file of the bundle: relative to the evidence file's folder, named by the SHA-256 of its bytes
ExhibitFile = Annotated[str, Field(pattern=r"^exhibits/[0-9a-f]{64}\.png$")]


class Picture(_Section):
    """One image of the bundle (a PNG the run drew: a thumbnail, a relevance map, a trigger, a contact sheet)."""

    file: ExhibitFile
    alt: str = Field(description="its text alternative")


class Figure(_Section):
    """A sample as the report shows it: its pictures side by side (e.g. image, map over it, raw map), captioned."""

    pictures: list[Picture]
    caption: str


class Gallery(_Section):
    """A row of captioned figures."""

    kind: Literal["gallery"]
    title: str
    note: str | None = Field(description="shown after the title, e.g. which explainer drew the maps")
    figure_class: Literal["thumbnail", "evidence-heatmap", "class-heatmap", "evidence-trigger",
                          "training-shortcut"] = Field(
        description="what the figures are: plain thumbnails, the relevance maps of samples behind a verdict, a "
                    "class's maps, reverse-engineered triggers, a training-data shortcut cluster's maps")
    failed_sanity_check: bool = Field(description="the maps' explainer failed its self-checks: not evidence")
    figures: list[Figure]


class ReliabilityChart(_Section):
    """A reliability diagram: per confidence bin, its edges, sample count and accuracy."""

    kind: Literal["reliability"]
    title: str
    x_label: str
    y_label: str
    lower: list[float]
    upper: list[float]
    count: list[NonNegativeInt]
    accuracy: list[float | None] = Field(description="null: a bin without samples")


class ScoreHistogramChart(_Section):
    """An OOD detector's scores on two sets as shares per bin (shared edges), with the alarm threshold."""

    kind: Literal["score_histogram"]
    name_in: str
    name_out: str
    threshold: float
    edges: list[float]
    shares_in: list[float]
    shares_out: list[float]
    n_in: NonNegativeInt
    n_out: NonNegativeInt
    above_in: float = Field(description="share of the in-distribution scores above the threshold")
    above_out: float = Field(description="share of the other set's scores above the threshold")


class RiskCoverageChart(_Section):
    """Selective risk against coverage as the monitor's threshold moves, with the chosen operating point."""

    kind: Literal["risk_coverage"]
    coverage: list[float]
    selective_risk: list[float]
    threshold: float
    chosen_coverage: float
    chosen_risk: float | None = Field(description="null: the threshold accepts nothing")


class AttractionRow(_Section):
    group: str
    class_id: NonNegativeInt = Field(alias="class")
    class_name: str
    attracted: NonNegativeInt
    n: NonNegativeInt
    rate: float
    lower: float
    upper: float


class AttractionTable(_Section):
    """Per stickered set, the class that attracts most, and the relevance on the stickers of the flips."""

    kind: Literal["attraction"]
    confidence: float = Field(description="the Bonferroni-corrected confidence of each bound")
    comparisons: PositiveInt
    rows: list[AttractionRow]
    relevance: str | None = Field(description="the share of relevance on the sticker pixels, in words; null: no "
                                              "explainer applies to the model")
    flips: Gallery | None = Field(description="the first flips into the attracting class with their maps")


Exhibit = Annotated[Gallery | ReliabilityChart | ScoreHistogramChart | RiskCoverageChart | AttractionTable,
                    Field(discriminator="kind")]


class PerturbationDefinition(_Section):
    description: str
    severities: dict[int, dict[str, Any]] = Field(description="the parameters of each severity 1..5")
    contact_sheet: Picture | None = Field(None, description="a few signs of the ingest under it, clean then "
                                                            "severities 1 to 5; null: the run wrote no HTML report")


class Environment(_Section):
    """What produced the run; the only section that differs between two runs on the same inputs (``timestamp``)."""

    timestamp: str = Field(description="when the evidence was written, UTC, ISO 8601")
    harness_version: str
    harness_commit: str
    python: str
    platform: str
    libraries: dict[str, str]
    seed: int


class ExplainerSelfChecks(_Section):
    """One explainer's self-checks on the run's sample (safety_harness/explanations/self_checks.py)."""

    name: str
    applies: bool
    reason: str | None = Field(description="why it does not apply, or why a check could not run; None otherwise")
    median_correlation: float | None = Field(description="model-parameter randomisation: median Spearman "
                                                         "correlation of original and randomised maps")
    correlation_threshold: float | None = Field(description="passes below this median")
    constant_maps: NonNegativeInt | None
    randomised_layers: list[str]
    deletion_auc_difference: float | None = Field(description="mean deletion AUC, map order minus random order")
    deletion_upper_bound: float | None = Field(description="its one-sided bootstrap upper bound; passes below 0")
    deletion_confidence: float | None
    passed: bool = Field(description="both self-checks passed")


class ClassView(_Section):
    """Where the model looks on one class: the mean heatmap over its recognised clean signs (the report draws it)."""

    class_id: NonNegativeInt = Field(alias="class")
    class_name: str
    recognised: NonNegativeInt = Field(description="clean images of the class recognised as it")
    averaged: NonNegativeInt = Field(description="the seeded sample of these the mean map is taken over")
    explainer: str | None = Field(description="the explainer of the maps; None: no map (see reason)")
    sanity_passed: bool = Field(description="the explainer passed its self-checks; False: the maps are not evidence")
    median_mass_in_box: float | None = Field(description="median share of positive relevance inside the sign's "
                                                         "box over the averaged signs; None: no boxes")
    examples: list[str] = Field(description="the files of the examples shown beside the mean")
    reason: str | None = Field(description="why no map is drawn; None when one is")
    gallery: Gallery | None = Field(None, description="the mean map, then each example's; null: no map, or the run "
                                                      "wrote no HTML report")


class Explanations(_Section):
    """Which explainer's maps the run shows and judges on, and why (safety_harness/run/explanations.py)."""

    sample_size: NonNegativeInt
    seed: int
    sample: str
    chosen: str | None = Field(description="the explainer that passed both self-checks; None: none did, "
                                           "and nothing is judged on explanations")
    heatmaps_from: str | None = Field(description="the explainer of the report's heatmaps (the best-scoring one, "
                                                  "marked as failed, when none passed); None: none applies")
    explainers: list[ExplainerSelfChecks]
    class_views: list[ClassView] = Field(description="the stop sign's and every attracting class's view")


class ErroredTest(_Section):
    """A safety test that ended in an error without a verdict: it blocks the gate."""

    test: str
    phase: str
    message: str


class AdverseSample(_Section):
    """One sample that counts against a rate case."""

    path: str = Field(description="the image file, relative to the root of the folder it was read from (the "
                                  "ingest, or --reference for held-out in-distribution data); POSIX separators")
    true_class: int | None = Field(description="null: the data carries no label")
    predicted_class: NonNegativeInt
    score: float = Field(ge=0, le=1, description="the model's probability of the predicted class")


class AdverseSamples(_Section):
    """The samples that count against a rate case: a floor's misses, a ceiling's events."""

    count: NonNegativeInt = Field(description="how many there are (exact)")
    cap: PositiveInt = Field(description="at most this many are listed")
    listed: list[AdverseSample] = Field(description="the first min(count, cap) in the data's order")


class RequirementEvidence(_Section):
    """The outcome of one requirement case (one pytest item)."""

    id: str = Field(description="the case id: the requirement id, with class, variant and condition")
    requirement: str = Field(description="the id of the requirement in the requirements file")
    title: str
    hazard: str
    rationale: str
    metric: str
    class_id: int | None = Field(alias="class")
    class_name: str | None
    condition: str = Field(pattern=rf"^(clean|{NAME_PATTERN}:[1-5])$", description="clean, or perturbation:severity")
    n: NonNegativeInt | None
    successes: NonNegativeInt | None
    value: float | None
    bound: float | None
    confidence: float = Field(gt=0, lt=1)
    threshold: float | None
    direction: Literal[">=", "<="] | None
    margin: float | None
    samples_needed: NonNegativeInt | None
    samples_needed_status: SamplesNeeded | None
    samples_needed_unit: Literal["images", "independent groups"] | None
    events_to_block: NonNegativeInt | None = Field(None, description=(
        "for a passing rate: the fewest further adverse events among the same samples (a success turned into a "
        "miss for a floor, one more event for a ceiling) after which the bound no longer clears the threshold; "
        "over groups, at the observed effective sample size and correlation. Null: not a passing rate, or no "
        "count can"))
    independence: Independence | None = Field(description="null for a search (no statistic over images)")
    adverse_samples: AdverseSamples | None = Field(None, description="for a rate over images of the ingest or "
                                                                      "the reference; null otherwise")
    degenerate: str | None = Field(None, description=(
        "why the statistic says little about the model although it could be computed, e.g. 'uninformative: 2 of "
        "15 bins occupied' (a calibration error over predictions in too few confidence bins) or all drift scores "
        "in one histogram bin; null: informative"))
    verdict: Verdict
    reason: str
    parameters: dict[str, Any]
    details: dict[str, Any]
    exhibits: list[Exhibit] = Field(default_factory=list, description=(
        "what the report shows under the case (its pictures are files of the bundle); empty when the run wrote "
        "no HTML report"))


class EvidenceDocument(_Section):
    """The evidence of one run of the safety suite."""

    model_config = ConfigDict(json_schema_extra={"$schema": "https://json-schema.org/draft/2020-12/schema",
                                                 "version": SCHEMA_VERSION})

    schema_version: Literal[SCHEMA_VERSION] = SCHEMA_VERSION
    gate: Gate = Field(description="pass only when something passed and nothing blocks the release")
    gate_joint_confidence: GateJointConfidence
    verdict_counts: VerdictCounts
    model: ModelIdentity | EnsembleIdentity = Field(description="the model under test, or the ensemble of the "
                                                                "models given")
    ingest: IngestIdentity
    data: DataIdentity
    requirements_file: str
    requirements_not_judged: list[RequirementNotJudged]
    safety_case: SafetyCase
    requirements_sha256: Sha256 = Field(description="SHA-256 of the requirements file's bytes, as read by the run")
    report: str | None = Field(description="the HTML report rendered from this evidence (null: none was asked for); "
                                           "its SHA-256 is written beside this file as <report name>.sha256")
    class_names: list[str]
    perturbations: dict[str, PerturbationDefinition]
    environment: Environment
    predictions_from: dict[str, str] = Field(description="per stage: computed or from the cache, with any note")
    explanations: Explanations
    errors: list[ErroredTest]
    requirements: list[RequirementEvidence]

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True, indent=2) + "\n"


def json_schema() -> dict:
    """The JSON Schema of :class:`EvidenceDocument`, as committed in :data:`SCHEMA_PATH`."""
    return EvidenceDocument.model_json_schema(by_alias=True, mode="serialization")


def write_schema(path: Path = SCHEMA_PATH) -> None:
    path.write_text(json.dumps(json_schema(), indent=2) + "\n", encoding="utf-8")


def load_schema(path: Path = SCHEMA_PATH) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def document_sha256(document: EvidenceDocument) -> str:
    """The SHA-256 of the evidence file :func:`write_document` writes for ``document`` (the report prints it)."""
    return hashlib.sha256(document.to_json().encode("utf-8")).hexdigest()


def write_document(path: Path, document: EvidenceDocument) -> None:
    """Write ``document`` atomically: a killed run never leaves half a file that CI would read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    # bytes, not text: no newline translation, so the file's digest is document_sha256(document)
    temporary.write_bytes(document.to_json().encode("utf-8"))
    temporary.replace(path)
