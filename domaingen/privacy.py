"""Differential privacy: accounting, DP-SGD batches and the pipeline's privacy hooks.

A recipe's ``train.privacy`` (``recipe.PrivacySection``: ``epsilon``, ``delta``,
``max_grad_norm``, ``accountant``) asks for an (ε, δ)-DP bundle. Everything in it that
saw the training records is then produced by an accounted mechanism:

- the codec is fitted from public facts only (``fit_codec``: a codec offers
  ``fit_private(raw, privacy)``; the tabular one needs public bounds and category lists
  from the recipe and spends nothing), or spends part of the budget, reported as a
  ``DpEvent`` (``codec.privacy_event``) that the model's calibration composes with its own;
- the model trains with an accounted mechanism (``prepare_model``: a family offers
  ``use_privacy(privacy, prior)``): DP-SGD for ``vae`` / ``gan`` (Poisson-sampled
  batches, each example's gradient clipped to ``max_grad_norm``, Gaussian noise), noisy
  histograms and a noisy correlation for ``copula``.

Accounting is dp-accounting's (Google's library): ``dp_sgd_event`` describes DP-SGD as
``SelfComposedDpEvent(PoissonSampledDpEvent(q, GaussianDpEvent(σ)), steps)``,
``epsilon_of`` asks the RDP (``rdp``) or privacy-loss-distribution (``pld``) accountant
for its ε at δ, and ``calibrate`` finds the smallest noise multiplier that reaches the
target ε with ``dp_accounting.calibrate_dp_mechanism`` (never above the target). No
formula of our own decides ε. Neighbouring data sets differ by adding or removing one
record (the accountants' default relation).

``privacy_meta`` is what the bundle's ``meta.json`` records: the target and spent ε, δ,
the accountant, and what was spent where (codec, training) with each mechanism's noise
multiplier, sampling rate and steps.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import UsageError

__all__ = [
    "ACCOUNTANTS",
    "make_accountant",
    "gaussian_event",
    "dp_sgd_event",
    "compose",
    "epsilon_of",
    "calibrate",
    "DPSGDPlan",
    "plan_dp_sgd",
    "PoissonBatches",
    "PrivateTraining",
    "PrivacySettings",
    "spent_record",
    "clip_rows",
    "fit_codec",
    "prepare_model",
    "privacy_meta",
]

#: accountants of dp-accounting a recipe may name: Rényi DP, privacy loss distributions
ACCOUNTANTS = {"rdp": "dp_accounting.rdp.RdpAccountant", "pld": "dp_accounting.pld.PLDAccountant"}


@contextlib.contextmanager
def _quiet_absl() -> Iterator[None]:
    """dp-accounting's RDP code logs a warning for every fractional order it drops (their
    series do not converge for some σ, q); the result is still a valid upper bound."""
    logger = logging.getLogger("absl")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def make_accountant(name: str) -> Any:
    """A fresh dp-accounting accountant: ``rdp`` (RdpAccountant) or ``pld`` (PLDAccountant)."""
    if name == "rdp":
        from dp_accounting import rdp

        return rdp.RdpAccountant()
    if name == "pld":
        from dp_accounting import pld

        return pld.PLDAccountant()
    raise UsageError(f"train.privacy.accountant {name!r} is not known; use one of: {', '.join(ACCOUNTANTS)}")


def gaussian_event(noise_multiplier: float) -> Any:
    """The Gaussian mechanism with noise std ``noise_multiplier`` x its L2 sensitivity."""
    import dp_accounting

    return dp_accounting.GaussianDpEvent(float(noise_multiplier))


def dp_sgd_event(noise_multiplier: float, sampling_rate: float, steps: int) -> Any:
    """DP-SGD: ``steps`` Gaussian steps, each on a Poisson sample of rate ``sampling_rate``."""
    import dp_accounting

    step = dp_accounting.PoissonSampledDpEvent(float(sampling_rate), dp_accounting.GaussianDpEvent(float(noise_multiplier)))
    return dp_accounting.SelfComposedDpEvent(step, int(steps))


def compose(*events: Any) -> Any:
    """The composition of ``events`` (``None`` entries skipped; nothing: a no-op event)."""
    import dp_accounting

    kept = [e for e in events if e is not None]
    if not kept:
        return dp_accounting.NoOpDpEvent()
    return kept[0] if len(kept) == 1 else dp_accounting.ComposedDpEvent(kept)


def epsilon_of(event: Any, delta: float, accountant: str = "rdp") -> float:
    """The ε at ``delta`` that ``accountant`` gives for ``event``."""
    with _quiet_absl():
        return float(make_accountant(accountant).compose(event).get_epsilon(float(delta)))


def calibrate(make_event: Callable[[float], Any], epsilon: float, delta: float, accountant: str = "rdp",
              prior: Any = None) -> float:
    """The smallest noise multiplier σ (within 1e-4) for which ``prior`` composed with
    ``make_event(σ)`` is (``epsilon``, ``delta``)-DP under ``accountant``; never above the
    target (dp-accounting's ``calibrate_dp_mechanism`` checks the side it returns).
    ``prior``: what was already spent on the same records (e.g. the codec's DpEvent)."""
    import dp_accounting

    if prior is not None and epsilon_of(prior, delta, accountant) >= epsilon:
        raise UsageError(
            f"train.privacy: the codec already spent the whole budget (epsilon={epsilon}); "
            "raise train.privacy.epsilon or give the codec public bounds"
        )
    with _quiet_absl():
        return float(
            dp_accounting.calibrate_dp_mechanism(
                lambda: make_accountant(accountant),
                lambda sigma: compose(prior, make_event(sigma)),
                float(epsilon),
                float(delta),
                bracket_interval=dp_accounting.LowerEndpointAndGuess(0.0, 1.0),
                tol=1e-4,
            )
        )


@dataclass
class DPSGDPlan:
    """DP-SGD settings of one training: the noise multiplier calibrated for (q, steps)."""

    noise_multiplier: float
    sampling_rate: float
    steps: int
    max_grad_norm: float
    expected_batch_size: float
    epsilon: float  # spent by the whole (prior + training), from the accountant
    delta: float
    accountant: str
    event: Any = field(repr=False)

    def meta(self) -> dict[str, Any]:
        """The plan as JSON (what meta.json's ``privacy.where.training`` holds)."""
        return {
            "mechanism": "DP-SGD (per-example clipping, Gaussian noise)",
            "sampling": "poisson",
            "sampling_rate": self.sampling_rate,
            "steps": self.steps,
            "noise_multiplier": self.noise_multiplier,
            "max_grad_norm": self.max_grad_norm,
            "expected_batch_size": self.expected_batch_size,
        }


def plan_dp_sgd(privacy: Any, n: int, batch_size: int, steps: int, prior: Any = None) -> DPSGDPlan:
    """Calibrate DP-SGD on ``n`` records with expected batch ``batch_size`` (rate
    q = batch_size / n) for ``steps`` noisy steps to reach ``privacy.epsilon``."""
    n, steps = int(n), int(steps)
    if n < 1 or steps < 1:
        raise UsageError(f"train.privacy: DP-SGD needs records and steps (got {n} records, {steps} steps)")
    q = min(1.0, float(batch_size) / n)
    sigma = calibrate(lambda s: dp_sgd_event(s, q, steps), privacy.epsilon, privacy.delta, privacy.accountant, prior)
    event = compose(prior, dp_sgd_event(sigma, q, steps))
    spent = epsilon_of(event, privacy.delta, privacy.accountant)
    return DPSGDPlan(sigma, q, steps, float(privacy.max_grad_norm), q * n, spent, float(privacy.delta), privacy.accountant, event)


class PoissonBatches:
    """Poisson-sampled batches for DP-SGD: in each step every record is included
    independently with probability ``q`` (what ``PoissonSampledDpEvent`` accounts for).

    Drawn as a Binomial(n, q) size and a uniform subset of that size (the same
    distribution). Sizes are drawn up front, so every step fits one fixed ``capacity``
    (the largest size): ``take`` returns row indices padded with 0 and a 0/1 mask.
    """

    def __init__(self, n: int, q: float, steps: int, seed: int):
        self.n, self.q, self.seed = int(n), float(q), int(seed)
        self.sizes = np.random.default_rng([self.seed, 0]).binomial(self.n, self.q, size=int(steps))
        self.capacity = max(1, int(self.sizes.max(initial=1)))

    def take(self, steps: Any) -> tuple[np.ndarray, np.ndarray]:
        """(indices, mask) of the batches of ``steps`` (step numbers), each ``(len(steps), capacity)``."""
        steps = [int(s) for s in steps]
        idx = np.zeros((len(steps), self.capacity), np.int64)
        mask = np.zeros((len(steps), self.capacity), np.float32)
        for k, step in enumerate(steps):
            size = int(self.sizes[step])
            rng = np.random.default_rng([self.seed, 1, step])  # a step's rows do not depend on how calls are cut
            idx[k, :size] = rng.choice(self.n, size=size, replace=False)
            mask[k, :size] = 1.0
        return idx, mask


class PrivateTraining:
    """Mixin of family models that train under ``train.privacy``: ``use_privacy`` checks
    the model's options (``check_privacy``, refusing what would leak) and keeps the
    settings (``dp``) for ``train_on``; after training ``privacy_spent`` says what was spent."""

    dp: "PrivacySettings | None" = None
    privacy_spent: dict[str, Any] | None = None

    def check_privacy(self, privacy: Any) -> None:
        """Raise ``UsageError`` for options that cannot be trained privately (default: none)."""

    def use_privacy(self, privacy: Any, prior: Any = None) -> None:
        """Train the next ``train_on`` privately; ``prior``: a DpEvent already spent on the records."""
        self.check_privacy(privacy)
        self.dp = PrivacySettings(privacy, prior)


@dataclass
class PrivacySettings:
    """A recipe's ``train.privacy`` and what the codec spent before training (a DpEvent or None)."""

    privacy: Any
    prior: Any = None


# --- the pipeline's hooks ---------------------------------------------------------------------
def fit_codec(codec: Any, raw: Any, privacy: Any) -> Any:
    """``codec.fit(raw)``, or under ``privacy`` the codec's ``fit_private(raw, privacy)``
    (which must not learn from the records outside an accounted mechanism)."""
    if privacy is None:
        return codec.fit(raw)
    fit_private = getattr(codec, "fit_private", None)
    if fit_private is None:
        raise UsageError(
            f"train.privacy: the {type(codec).__name__} codec has no differentially private fitting (its "
            "statistics would come from the records); remove train.privacy or use the tabular plugin"
        )
    return fit_private(raw, privacy)


def prepare_model(model: Any, codec: Any, privacy: Any) -> Any:
    """Hand ``privacy`` (and what the codec already spent) to the model before training;
    refuse a family that cannot train privately. Returns the model."""
    if privacy is None:
        return model
    use_privacy = getattr(model, "use_privacy", None)
    if use_privacy is None:
        family = getattr(model, "family", type(model).__name__)
        raise UsageError(
            f"train.privacy: the {family} family has no differentially private training; "
            "use model.family vae, gan or copula, or remove train.privacy"
        )
    use_privacy(privacy, prior=getattr(codec, "privacy_event", None))
    return model


def privacy_meta(codec: Any, model: Any) -> dict[str, Any]:
    """``{"privacy": {...}}`` for meta.json when the model trained privately, else ``{}``:
    target and spent ε, δ, the accountant, and what the codec and training spent."""
    spent = getattr(model, "privacy_spent", None)
    if not spent:
        return {}
    codec_part = getattr(codec, "privacy_spent", None) or {"mechanism": "none reported", "epsilon": None}
    return {"privacy": {**dict(spent["summary"]), "where": {"codec": dict(codec_part), "training": dict(spent["training"])}}}


def spent_record(privacy: Any, epsilon: float, training: dict[str, Any]) -> dict[str, Any]:
    """What a family stores as ``privacy_spent`` after private training (``privacy_meta`` reads it)."""
    return {
        "summary": {
            "target_epsilon": float(privacy.epsilon),
            "epsilon": float(epsilon),
            "delta": float(privacy.delta),
            "accountant": f"{privacy.accountant} ({ACCOUNTANTS[privacy.accountant]}, dp-accounting)",
            "neighbouring": "add or remove one record",
        },
        "training": {**training, "epsilon_with_codec": float(epsilon)},
    }


def clip_rows(z: np.ndarray, norm: float) -> np.ndarray:
    """Rows of ``z`` scaled down to L2 norm at most ``norm`` (bounds one record's part)."""
    lengths = np.sqrt(np.einsum("ij,ij->i", z, z))
    return z * np.minimum(1.0, norm / np.maximum(lengths, 1e-12))[:, None]
