"""The packaged sentence-transformers model as int8 ONNX on onnxruntime: about twice torch's speed.

On first use the model folder is exported to ONNX (``torch.onnx.export``, opset 17), its
MatMul weights are quantised to int8 (weight-only ``MatMulNBits``, symmetric blocks of 32),
and the result is cached as ``cache_dir/model-w8-states.onnx``. Weight-only, because dynamic int8
scales the activations by the range of the whole batch: a text's vector then depended on
the texts it was batched with. ``MatMulNBits`` quantises activations per row, so a vector is
the same alone or in any batch. The file is written under a temporary name and renamed, so a
crash never leaves half a model behind. Later processes only load that file: no torch, no
transformers, only onnxruntime and tokenizers. Nothing is ever downloaded.

Besides the token vectors the model outputs the token states below the top layer, which
a top layer fine-tuned on the intents (``nlp.tuning``) takes as its input.

The embeddings match sentence-transformers' pipeline: the folder's tokenizer, truncation
to the model's ``max_seq_length`` (sentence_bert_config.json), mean pooling over the
attention mask, L2 normalisation.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from nlp.embeddings import WARM_UP_TEXT, Progress, TokenStates, _normalise, covered_prefixes, packaged_model_path

MODEL_FILE = "model-w8-states.onnx"
# Bump (and rename MODEL_FILE) when the export or quantisation recipe changes: cached files of another
# recipe are refused.
RECIPE = "3:opset17:matmulnbits-w8-block32-symmetric-acc4:below-top-output"
_SOURCE_KEY = "deskbot.source"
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_OUTPUTS = ("last_hidden_state", "below_top")


class OnnxModelError(RuntimeError):
    """The cached ONNX file cannot be used (corrupt, or built from another model or recipe)."""


def _offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _max_seq_length(model_path: Path) -> int:
    config = model_path / "sentence_bert_config.json"
    if config.is_file():
        value = json.loads(config.read_text()).get("max_seq_length")
        if value:
            return int(value)
    return int(json.loads((model_path / "config.json").read_text()).get("max_position_embeddings", 512))


def _fingerprint(model_path: Path) -> str:
    """Identifies the source model and the recipe cheaply (config hash and weight file size, not a 90 MB hash)."""
    digest = hashlib.sha256((model_path / "config.json").read_bytes())
    weights = [p for p in (model_path / "model.safetensors", model_path / "pytorch_model.bin") if p.is_file()]
    size = weights[0].stat().st_size if weights else 0
    return f"{RECIPE}|config={digest.hexdigest()[:16]}|weights={size}|max_seq={_max_seq_length(model_path)}"


def _load_tokenizer(model_path: Path) -> tuple[Any, int]:
    """The folder's fast tokenizer, truncating at max_seq_length and not padding (batches are padded here).

    tokenizer.json itself says truncate *and pad* to 128; sentence-transformers overrides both,
    so must we.
    """
    from tokenizers import Tokenizer

    path = model_path / "tokenizer.json"
    if not path.is_file():
        raise FileNotFoundError(f"no tokenizer.json in {model_path}")
    tokenizer = Tokenizer.from_file(str(path))
    pad_id = (tokenizer.padding or {}).get("pad_id")
    if pad_id is None:
        pad_id = tokenizer.token_to_id("[PAD]") or 0
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=_max_seq_length(model_path))
    return tokenizer, int(pad_id)


def _pad(encodings: Sequence[Any], pad_id: int) -> dict[str, np.ndarray]:
    width = max(len(e.ids) for e in encodings)
    ids = np.full((len(encodings), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(encodings), width), dtype=np.int64)
    types = np.zeros((len(encodings), width), dtype=np.int64)
    for row, enc in enumerate(encodings):
        n = len(enc.ids)
        ids[row, :n] = enc.ids
        mask[row, :n] = 1
        types[row, :n] = enc.type_ids
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


# --- building the int8 file ------------------------------------------------------------------


class _DropQuantiserAdvice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Please consider to run pre-processing")


@contextmanager
def _quiet_build() -> Iterator[None]:
    """No weight-loading progress bar, and no root-logger side effects from the quantiser.

    onnxruntime's quantiser calls ``logging.warning`` (the module function), which installs a
    root handler through ``basicConfig`` when there is none; a temporary NullHandler prevents that.
    """
    from transformers.utils import logging as hf_logging

    root = logging.getLogger()
    guard, advice = logging.NullHandler(), _DropQuantiserAdvice()
    root.addHandler(guard)
    root.addFilter(advice)
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if bars:
            hf_logging.enable_progress_bar()
        root.removeFilter(advice)
        root.removeHandler(guard)


def _export_fp32(model_path: Path, out: Path) -> None:
    """torch.onnx.export (TorchScript exporter, opset 17) of the transformer: token ids -> token vectors."""
    _offline()
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(model_path), local_files_only=True, attn_implementation="eager")
    model.eval()

    class _Wrapper(torch.nn.Module):
        # The exporter passes positional arguments; BertModel's third positional is not token_type_ids.
        def __init__(self, inner: torch.nn.Module):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):  # noqa: ANN001, ANN202
            out = self.inner(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                             output_hidden_states=True)
            return out.last_hidden_state, out.hidden_states[-2]

    tokenizer, pad_id = _load_tokenizer(model_path)
    sample = _pad(tokenizer.encode_batch(["reset my password", "the VPN drops every few minutes at home"]), pad_id)
    args = tuple(torch.from_numpy(sample[name]) for name in _INPUTS)
    dynamic = {name: {0: "batch", 1: "sequence"} for name in (*_INPUTS, *_OUTPUTS)}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about Python control flow on shapes
        torch.onnx.export(
            _Wrapper(model),
            args,
            str(out),
            input_names=list(_INPUTS),
            output_names=list(_OUTPUTS),
            dynamic_axes=dynamic,
            opset_version=17,
            do_constant_folding=True,
            dynamo=False,
        )


def _quantise(fp32: Path, out: Path) -> None:
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    # accuracy_level 4: int8 compute, with each activation row quantised on its own.
    quantizer = MatMulNBitsQuantizer(onnx.load(str(fp32)), bits=8, block_size=32, is_symmetric=True, accuracy_level=4)
    quantizer.process()
    quantizer.model.save_model_to_file(str(out), use_external_data_format=False)


def build_int8_model(model_path: Path, target: Path) -> None:
    """Exports and quantises ``model_path`` into ``target``, atomically (temporary name, fsync, rename)."""
    _offline()  # before transformers / huggingface_hub are imported: they read it once
    import onnx

    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".build-") as tmp:
        work = Path(tmp)
        with _quiet_build():
            _export_fp32(model_path, work / "model-fp32.onnx")
            _quantise(work / "model-fp32.onnx", work / "model-int8.onnx")
        model = onnx.load(str(work / "model-int8.onnx"))
        onnx.helper.set_model_props(model, {_SOURCE_KEY: _fingerprint(model_path)})
        staged = work / "final.onnx"
        onnx.save(model, str(staged))
        with open(staged, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(staged, target)  # same file system: atomic
    try:  # make the rename itself durable
        fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


# --- the embedder ----------------------------------------------------------------------------


class OnnxEmbedder:
    """int8 ONNX embeddings of a sentence-transformers folder; builds ``cache_dir/model-w8-states.onnx`` on first use.

    Thread-safe: the first ``encode`` loads (or builds) under a lock; onnxruntime sessions
    may then run from many threads at once.
    """

    def __init__(self, model_path: Path | None = None, *, threads: int = 1, cache_dir: Path | None = None,
                 batch_size: int = 32):
        self._path = Path(model_path) if model_path else packaged_model_path()
        self._threads = max(1, int(threads))
        self._cache_dir = Path(cache_dir) if cache_dir else Path("var/nlp/onnx")
        self._batch_size = batch_size
        self._lock = threading.Lock()
        self._session: Any = None
        self._tokenizer: Any = None
        self._pad_id = 0
        self._dimension: int | None = None
        self.built = False  # True once this instance exported the model (rather than reusing the cache)

    @property
    def model_id(self) -> str:
        return f"onnx-w8:{self._path.name if self._path.name != 'model' else 'all-MiniLM-L6-v2'}"

    @property
    def model_file(self) -> Path:
        return self._cache_dir / MODEL_FILE

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            pooling = self._path / "1_Pooling" / "config.json"
            if pooling.is_file():
                self._dimension = int(json.loads(pooling.read_text())["word_embedding_dimension"])
            else:
                self._dimension = int(json.loads((self._path / "config.json").read_text())["hidden_size"])
        return self._dimension

    def _open(self, path: Path) -> Any:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self._threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only
        remedy = f"delete {path} and it is rebuilt on next use"
        try:
            session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own, unexported types
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            raise OnnxModelError(f"the cached ONNX model {path} is unreadable ({reason}); {remedy}") from exc
        source = session.get_modelmeta().custom_metadata_map.get(_SOURCE_KEY)
        expected = _fingerprint(self._path)
        if source != expected:
            raise OnnxModelError(
                f"the cached ONNX model {path} was built from another model or recipe "
                f"({source or 'unknown'}, expected {expected}); {remedy}"
            )
        names = {i.name for i in session.get_inputs()}
        if not names <= set(_INPUTS) or "input_ids" not in names:
            raise OnnxModelError(f"the cached ONNX model {path} has unexpected inputs {sorted(names)}; {remedy}")
        return session

    def _load(self) -> tuple[Any, Any]:
        if self._session is not None:
            return self._session, self._tokenizer
        with self._lock:
            if self._session is None:
                if not (self._path / "config.json").is_file():
                    raise FileNotFoundError(f"no transformer model in {self._path}")
                tokenizer, pad_id = _load_tokenizer(self._path)
                path = self.model_file
                if not path.exists():
                    build_int8_model(self._path, path)
                    self.built = True
                session = self._open(path)
                self._tokenizer, self._pad_id = tokenizer, pad_id
                self._session = session
            return self._session, self._tokenizer

    @property
    def model_path(self) -> Path:
        return self._path

    def readable(self, texts: Sequence[str]) -> list[str]:
        _, tokenizer = self._load()  # truncates at the model's max_seq_length, as sentence-transformers does
        return covered_prefixes(texts, max_tokens=tokenizer.truncation["max_length"],
                                offsets_of=lambda cut: [e.offsets for e in tokenizer.encode_batch(cut)])

    def encode(self, texts: Sequence[str], *, progress: Progress | None = None) -> np.ndarray:
        return self._run(texts, progress, with_states=False)[0]

    def warm_up(self) -> None:
        self.encode([WARM_UP_TEXT])

    def encode_states(self, texts: Sequence[str], *, progress: Progress | None = None) -> TokenStates:
        """The sentence embeddings and, per text, the token states below the top layer, from one pass."""
        vectors, states = self._run(texts, progress, with_states=True)
        return TokenStates(vectors, states)

    def _run(self, texts: Sequence[str], progress: Progress | None, *, with_states: bool
             ) -> tuple[np.ndarray, list[np.ndarray]]:
        if isinstance(texts, str):
            raise TypeError("encode takes a sequence of texts, not one string")
        texts = list(texts)
        states: list[np.ndarray] = [np.empty(0)] * len(texts) if with_states else []
        if not texts:
            return np.zeros((0, self.dimension), np.float32), states
        session, tokenizer = self._load()
        wanted = {i.name for i in session.get_inputs()}
        outputs = list(_OUTPUTS) if with_states else [_OUTPUTS[0]]
        encodings = tokenizer.encode_batch(texts)
        # Longest first, as sentence-transformers does: batches of like lengths waste little on padding.
        order = sorted(range(len(texts)), key=lambda i: -len(encodings[i].ids))
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(order), self._batch_size):
            rows = order[start : start + self._batch_size]
            feed = _pad([encodings[i] for i in rows], self._pad_id)
            tokens, *below = session.run(outputs, {k: v for k, v in feed.items() if k in wanted})
            mask = feed["attention_mask"][:, :, None].astype(np.float32)
            pooled = (tokens * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
            out[rows] = pooled
            if with_states:
                lengths = feed["attention_mask"].sum(axis=1)
                for j, i in enumerate(rows):
                    states[i] = np.ascontiguousarray(below[0][j, : int(lengths[j])], dtype=np.float32)
            if progress:
                progress(len(rows))
        return _normalise(out), states
