"""Real paper through HTTP: the realistic evaluation (``make evaluate``) in small.

MNIST test digits rendered on every evaluation condition (ruled, squared and dotted pages,
shadows, uneven light, pencil, coloured pens, 12 MP phone photos, canvas drawings; pages with no
digit) are sent to a real ``bentoml serve`` as uploads. The same images also go through the
naive student pipeline (grayscale + resize to 28x28) with the same model, for comparison. The
seed differs from the published evaluation's, so this is a fresh sample. Summary in
reports/robustness.json.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from evaluation.sets import Sample, build_set
from tests.support.photos import naive_pixels
from training.paper import CONDITIONS

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PER_CONDITION = 25
SEED = 2026
#: Regression guards on 25 images per condition (one miss is 4%); the 98% / 99% targets are
#: measured by `make evaluate` on 300 per condition (README "How well it reads real paper").
CONDITION_TARGET = 0.88
OVERALL_TARGET = 0.96
SURE_PRECISION_TARGET = 0.98
NO_DIGIT_TARGET = 0.92
REPORT = Path("reports/robustness.json")


@pytest.fixture(scope="module")
def samples() -> list[Sample]:
    return [s for condition in CONDITIONS for s in build_set(condition, PER_CONDITION, SEED)]


def _answer(url: str, sample: Sample) -> dict[str, Any]:
    suffix = ".png" if sample.content_type == "image/png" else ".jpg"
    files = {"image": (f"upload{suffix}", sample.data, sample.content_type)}
    with httpx.Client(base_url=url, timeout=120) as http:
        response = http.post("/predict", files=files)
    assert response.status_code in (200, 422), response.text
    return response.json() if response.status_code == 200 else {"refused": True}


def _naive_digits(samples: list[Sample]) -> np.ndarray:
    import bentoml

    from serving.classifier import Classifier
    from serving.model_choice import served_tag
    from settings import load_settings

    settings = load_settings()
    model = bentoml.models.get(served_tag(settings.model_name, settings.model_version))
    classifier = Classifier(model.path, str(model.tag), threads=1)
    batch = np.stack([naive_pixels(s.data) for s in samples])
    return classifier.predict(batch).argmax(axis=1)


def _summary(samples: list[Sample], answers: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    summary = {}
    for condition in CONDITIONS:
        rows = [(s, a) for s, a in zip(samples, answers, strict=True) if s.condition == condition]
        if condition == "no_digit":
            unsure = [a.get("refused") or not a["sure"] for _, a in rows]
            summary[condition] = {"rejected_or_unsure": float(np.mean(unsure))}
            continue
        right = [not a.get("refused") and a["digit"] == s.label for s, a in rows]
        sure = [bool(r) for (_, a), r in zip(rows, right, strict=True) if a.get("sure")]
        summary[condition] = {
            "accuracy": float(np.mean(right)),
            "sure_answers": len(sure),
            "sure_right": int(sum(sure)),
        }
    return summary


def test_digits_on_real_paper_are_recognised_through_http(
    served: object, samples: list[Sample]
) -> None:
    url = served.url  # type: ignore[attr-defined]
    with ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda s: _answer(url, s), samples))
    summary = _summary(samples, answers)
    digits = [s for s in samples if s.label is not None]
    right = [a for s, a in zip(samples, answers, strict=True) if s.label is not None]
    overall = float(np.mean([not a.get("refused") and a["digit"] == s.label
                             for s, a in zip(digits, right, strict=True)]))  # fmt: skip
    naive = float(np.mean(_naive_digits(digits) == np.array([s.label for s in digits])))
    sure = sum(v.get("sure_answers", 0) for v in summary.values())
    sure_right = sum(v.get("sure_right", 0) for v in summary.values())
    report = {
        "per_condition": PER_CONDITION,
        "seed": SEED,
        "service_accuracy": overall,
        "naive_resize_accuracy": naive,
        "sure_precision": sure_right / max(sure, 1),
        "conditions": summary,
    }
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(report, indent=2))
    print(f"\nreal paper: service {overall:.2%}, naive resize {naive:.2%}; {summary}")
    for condition, values in summary.items():
        if condition == "no_digit":
            assert values["rejected_or_unsure"] >= NO_DIGIT_TARGET, condition
        else:
            assert values["accuracy"] >= CONDITION_TARGET, condition
    assert overall >= OVERALL_TARGET
    assert report["sure_precision"] >= SURE_PRECISION_TARGET
    assert naive < overall
