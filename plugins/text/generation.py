"""``generate.options`` -> a ``GenerationRequest``: the prompt as a primer, lengths, stop
strings, sampling controls and labels; ``finish`` cuts and checks each generated passage.

A passage is the prompt followed by what the model wrote: it ends at ``eos``, before the
first stop string (searched after the prompt), or at ``max_chars`` characters after the
prompt. In ``records: qa`` mode a passage must read ``Q: <question>\\nA: <answer>``;
anything else is malformed and dropped (never written as an item).
"""

from __future__ import annotations

import math
import re

import numpy as np

from domaingen.errors import ConditionError
from domaingen.plugin import GenerationRequest

from .codec import LABEL, TextCodec
from .options import TextGenerateOptions
from .records import TextRecord

__all__ = ["build_request", "finish", "parse_qa", "prompt_ids", "max_new_tokens", "preview"]

_QA = re.compile(r"\AQ: (?P<q>[^\n]*\S[^\n]*)\nA: (?P<a>.*\S.*)\Z", re.DOTALL)


def parse_qa(text: str) -> tuple[str, str] | None:
    """(question, answer) of a well-formed ``Q: ...\\nA: ...`` item, else ``None``."""
    match = _QA.match(text)
    return (match["q"].strip(), match["a"].strip()) if match else None


def prompt_ids(codec: TextCodec, prompt: str) -> list[int]:
    """The prompt's tokens; refuses characters whose tokens never occur in the training text."""
    tok = codec.tokenizer
    ids = tok.encode(prompt)
    unseen = [i for i in ids if not codec.seen_[i]]
    if unseen:
        chars = sorted({ch for ch in prompt if any(not codec.seen_[i] for i in tok.encode(ch))})
        raise ConditionError(
            f"the prompt has characters the training text never had: {''.join(chars)!r}; "
            "remove them, or train on text that has them"
        )
    return ids


def max_new_tokens(codec: TextCodec, options: TextGenerateOptions) -> int:
    """Tokens to generate after the prompt: ``max_tokens``, or enough for ``max_chars``
    (at the training text's characters per token, with a margin), or one training window."""
    if options.max_tokens is not None:
        return int(options.max_tokens)
    if options.max_chars is not None:
        return int(math.ceil(options.max_chars / max(codec.chars_per_token_, 0.25) * 1.25)) + 8
    return codec.seq_len - 1


def build_request(codec: TextCodec, options: TextGenerateOptions) -> GenerationRequest:
    """Controls (primer, max_length, sampling), label conditions and the finishing filter."""
    for stop in options.stop:
        if not stop:
            raise ConditionError("generate.options.stop holds an empty string; remove it")
        if options.max_chars is not None and len(stop) > options.max_chars:
            raise ConditionError(f"stop string {stop!r} is longer than max_chars ({options.max_chars}); it can never occur")
    ids = prompt_ids(codec, options.prompt)
    controls = {
        "temperature": options.temperature,
        "top_k": options.top_k,
        "top_p": options.top_p,
        "repetition_penalty": options.repetition_penalty,
        "no_repeat_ngram": options.no_repeat_ngram,
        "max_length": 1 + len(ids) + max_new_tokens(codec, options),
    }
    if ids:
        controls["primer"] = np.asarray(ids, dtype=np.int32)
    # only tokens of the training text: a byte token the model never saw could only write U+FFFD
    allowed = np.asarray(codec.seen_, dtype=bool).copy()
    allowed[codec.tokenizer.eos_id] = True
    controls["allowed_tokens"] = allowed
    conditions = None
    if options.conditions:
        unknown = sorted(set(options.conditions) - {LABEL})
        if unknown or not codec.labelled:
            raise ConditionError(
                f"generate.options.conditions names {sorted(options.conditions)}; "
                + (f"this text has one label: {LABEL!r}" if codec.labelled else "this text has no labels")
            )
        value = options.conditions[LABEL]
        if value not in codec.classes_:
            shown = ", ".join(codec.classes_[:20]) + (" ..." if len(codec.classes_) > 20 else "")
            raise ConditionError(f"unknown label {value!r}; the labels are: {shown}")
        conditions = {LABEL: codec.classes_.index(value)}
    qa = codec.options.records == "qa"
    return GenerationRequest(conditions=conditions, controls=controls, accept=lambda records: finish(records, options, qa))


def finish(records: list[TextRecord], options: TextGenerateOptions, qa: bool) -> list[TextRecord]:
    """Cut each passage at a stop string or ``max_chars``; in qa mode keep well-formed items only."""
    prompt, out = options.prompt, []
    for record in records:
        text = record.text
        body = text[len(prompt) :] if text.startswith(prompt) else text
        cuts = [i for i in (body.find(s) for s in options.stop) if i >= 0]
        if cuts:
            body = body[: min(cuts)]
        if options.max_chars is not None:
            body = body[: options.max_chars]
        text = prompt + body
        if qa:
            item = parse_qa(text)
            if item is None:
                continue
            out.append(TextRecord(text, record.label, question=item[0], answer=item[1], seed=record.seed))
        else:
            out.append(TextRecord(text, record.label, seed=record.seed))
    return out


def preview(bundle, n: int, options: dict, seed: int, write, stream: bool) -> None:
    """``domaingen sample``: ``n`` passages, each finished as ``finish`` does (stop strings,
    ``max_chars``); the first is drawn from ``seed`` itself, as a generated record with
    that ``seed`` was. With ``stream`` each one is written piece by piece while the model
    draws it: the text is held back only as long as it could still be the start of a
    stop string or pass ``max_chars``; otherwise each finished passage is written whole."""
    from domaingen.training import derive_seed

    recipe = bundle.recipe_with_options(options)
    opts, codec, model = recipe.generate_options, bundle.codec, bundle.model
    request = build_request(codec, opts)
    for k in range(n):
        printer = _StreamPrinter(codec, opts, write) if stream else None
        row_seed = seed if k == 0 else derive_seed(seed, "preview", k)  # a JSONL line's seed gives its passage
        samples = model.sample(
            1, seed=row_seed, conditions=request.conditions, controls=request.controls,
            on_tokens=printer.push if printer else None, row_seeds=[row_seed],
        )
        record = request.accept(codec.decode(samples.x, None, labels=samples.labels))
        text = record[0].text if record else "(malformed item, not shown)"
        if printer is not None:
            printer.finish(text)
        else:
            write(text + "\n")


class _StreamPrinter:
    """Writes a passage's text (prompt included) as its tokens arrive, never past what
    ``finish`` keeps: text that could still be the start of a stop string is held back."""

    def __init__(self, codec: TextCodec, options: TextGenerateOptions, write) -> None:
        self.decoder = codec.tokenizer.stream_decoder()
        self.options, self.write = options, write
        self.text, self.shown, self.ended = "", 0, False
        self.hold = max((len(s) for s in options.stop), default=1) - 1
        self.skip = {codec.tokenizer.pad_id, codec.tokenizer.bos_id}
        self.eos = codec.tokenizer.eos_id

    def push(self, position: int, tokens: np.ndarray) -> None:
        token = int(tokens[0])
        if self.ended or token in self.skip:
            return
        if token == self.eos:
            self.ended = True
            return
        self.text += self.decoder.push(token)
        start = len(self.options.prompt)
        if any(s in self.text[start:] for s in self.options.stop):
            self.ended = True
            return
        safe = min(len(self.text), max(start, len(self.text) - self.hold))  # the prompt itself needs no holding back
        if self.options.max_chars is not None:
            safe = min(safe, start + self.options.max_chars)
        if safe > self.shown:
            self.write(self.text[self.shown : safe])
            self.shown = safe

    def finish(self, final: str) -> None:
        """Write the rest of the finished passage ``final`` (prompt + what ``finish`` kept)."""
        self.write(final[self.shown :] + "\n\n")
