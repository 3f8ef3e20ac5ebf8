"""deskbot's local NLP: embeddings, intent and out-of-scope, sentiment, KB search, model registry.

Nothing heavy loads at import; models load on first use. ``nlp`` imports nothing of the project.
"""

from nlp.analyzer import Analysis, Analyzer
from nlp.embeddings import CachedEmbedder, Embedder, HashingEmbedder, TorchEmbedder, make_embedder
from nlp.examples import OOS, DataError, IntentExample, load_intent_examples, load_labelled_file
from nlp.intent import IntentModel, IntentPrediction, IntentRoles
from nlp.kb import Article, ArticleError, KbHit, KbIndex, index_articles, load_articles, parse_article, reindex
from nlp.registry import ModelError, ModelRegistry
from nlp.training import (IntentStack, NlpBundle, TrainResult, evaluate_bundle, evaluate_intents, labelled_splits,
                          load_training_data, raw_throughput, train_and_register)
from nlp.tuning import TopLayer

__all__ = [
    "OOS", "Analysis", "DataError", "evaluate_intents", "labelled_splits", "load_labelled_file", "raw_throughput", "Analyzer", "Article", "ArticleError", "CachedEmbedder", "Embedder", "HashingEmbedder",
    "IntentExample", "IntentModel", "IntentPrediction", "IntentRoles", "KbHit", "KbIndex", "ModelError", "ModelRegistry",
    "IntentStack", "NlpBundle", "TopLayer", "TorchEmbedder", "TrainResult", "evaluate_bundle", "load_articles", "load_intent_examples",
    "load_training_data", "make_embedder", "reindex", "index_articles", "parse_article", "train_and_register",
]
