"""The model under test: its card, loading any saved model, batched inference, ensembles of models."""

from safety_harness.model_under_test.card import ModelCard, default_card_path, parse_card, resolve_card
from safety_harness.model_under_test.ensemble import Ensemble, ensemble_of
from safety_harness.model_under_test.inference import LoadedModel, ModelOutputs, preprocess
from safety_harness.model_under_test.loading import load_model

__all__ = ["Ensemble", "LoadedModel", "ModelCard", "ModelOutputs", "default_card_path", "ensemble_of", "load_model",
           "parse_card", "preprocess", "resolve_card"]
