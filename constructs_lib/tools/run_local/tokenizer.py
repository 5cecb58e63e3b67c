"""A tiny Hugging Face style model folder (tokenizer and config only) for the Dynamo mocker.

The mocker never loads weights, but it (and the frontend, which reads the model card the
workers publish) needs a tokenizer and a ``config.json``, and cannot download one here.
This module writes one with the standard library only; the files follow the format that
the ``tokenizers`` library itself saves for a WordLevel model, so no extra dependency is
needed in the main environment.

Choices, and why:
- WordLevel model with a Whitespace pre-tokenizer: the simplest format the Rust and Python
  ``tokenizers`` accept. Any word not in the vocabulary maps to ``<unk>``; prompts do not
  need to round-trip, only to tokenize.
- The mocker emits random token ids between 1000 and 1999, so the vocabulary must be larger
  than 2000 (otherwise those ids decode to nothing and responses come back empty). Ids at
  and above 3 decode to ``w<id>`` words, so a response is readable as ``w1234 w1567 ...``.
- ``config.json`` carries ``num_hidden_layers``, ``num_attention_heads`` and
  ``hidden_size`` as integers: with those the mocker computes KV bytes per token from the
  file directly instead of importing ``transformers`` (not installed in the Dynamo venv).
- ``tokenizer_config.json`` has a chat template, required by ``/v1/chat/completions``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

UNK, BOS, EOS = "<unk>", "<s>", "</s>"
SPECIAL_TOKENS = (UNK, BOS, EOS)
DEFAULT_VOCAB_SIZE = 4096
MIN_VOCAB_SIZE = 2048  # the mocker samples output ids in [1000, 2000)

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<s> ' + message['role'] + ' ' + message['content'] + ' </s> ' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<s> assistant ' }}{% endif %}"
)


def _vocab(vocab_size: int) -> dict[str, int]:
    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS)}
    for i in range(len(SPECIAL_TOKENS), vocab_size):
        vocab[f"w{i}"] = i
    return vocab


def tokenizer_json(vocab_size: int = DEFAULT_VOCAB_SIZE) -> dict[str, Any]:
    """The ``tokenizer.json`` document (``tokenizers`` serialisation format 1.0)."""
    added = [
        {
            "id": i,
            "content": token,
            "single_word": False,
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "special": True,
        }
        for i, token in enumerate(SPECIAL_TOKENS)
    ]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {"type": "Whitespace"},
        "post_processor": None,
        "decoder": None,
        "model": {"type": "WordLevel", "vocab": _vocab(vocab_size), "unk_token": UNK},
    }


def tokenizer_config_json(max_len: int = 16384) -> dict[str, Any]:
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": BOS,
        "eos_token": EOS,
        "unk_token": UNK,
        "pad_token": EOS,
        "add_bos_token": False,
        "add_eos_token": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": max_len,
        "chat_template": CHAT_TEMPLATE,
    }


def config_json(vocab_size: int = DEFAULT_VOCAB_SIZE, max_len: int = 16384) -> dict[str, Any]:
    """A small llama-like ``config.json`` (sizes only matter for the mocker's KV maths)."""
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": vocab_size,
        "hidden_size": 256,
        "intermediate_size": 688,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 4,
        "max_position_embeddings": max_len,
        "rms_norm_eps": 1e-6,
        "bos_token_id": SPECIAL_TOKENS.index(BOS),
        "eos_token_id": SPECIAL_TOKENS.index(EOS),
        "torch_dtype": "bfloat16",
        "tie_word_embeddings": False,
    }


def generation_config_json() -> dict[str, Any]:
    return {
        "bos_token_id": SPECIAL_TOKENS.index(BOS),
        "eos_token_id": SPECIAL_TOKENS.index(EOS),
    }


def write_tiny_model(
    directory: str | Path, vocab_size: int = DEFAULT_VOCAB_SIZE, max_len: int = 16384
) -> Path:
    """Write the tiny model folder into ``directory`` (created if needed) and return it."""
    if vocab_size < MIN_VOCAB_SIZE:
        raise ValueError(f"vocab_size must be at least {MIN_VOCAB_SIZE}, got {vocab_size}")
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    files = {
        "tokenizer.json": tokenizer_json(vocab_size),
        "tokenizer_config.json": tokenizer_config_json(max_len),
        "config.json": config_json(vocab_size, max_len),
        "generation_config.json": generation_config_json(),
    }
    for name, doc in files.items():
        (path / name).write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    return path
