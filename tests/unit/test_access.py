"""Who may read history and relabel predictions (serving/access.py)."""

from __future__ import annotations

import uuid

from serving.access import TOKEN_CHARS, Access
from settings import Settings


def test_a_feedback_token_opens_only_its_own_prediction() -> None:
    access = Access(Settings(feedback_secret="s3cret"))
    mine, other = uuid.uuid4(), uuid.uuid4()
    token = access.feedback_token(mine)
    assert len(token) == TOKEN_CHARS
    assert access.may_label(mine, token, "")
    assert not access.may_label(other, token, "")
    assert not access.may_label(mine, None, "")
    assert not access.may_label(mine, token[:-1] + "x", "")


def test_replicas_sharing_the_secret_accept_each_others_tokens() -> None:
    prediction = uuid.uuid4()
    first, second = Access(Settings(feedback_secret="k")), Access(Settings(feedback_secret="k"))
    assert second.may_label(prediction, first.feedback_token(prediction), "")
    assert Access(Settings(feedback_secret="other")).feedback_token(prediction) != (
        first.feedback_token(prediction)
    )


def test_without_a_secret_each_process_has_its_own_key() -> None:
    prediction = uuid.uuid4()
    assert Access(Settings()).feedback_token(prediction) != Access(Settings()).feedback_token(
        prediction
    )


def test_history_is_open_without_an_api_token_and_nobody_is_operator() -> None:
    access = Access(Settings())
    assert access.history_is_public
    assert access.may_read("")
    assert not access.is_operator("Bearer ")
    assert not access.is_operator("Bearer anything")


def test_the_api_token_guards_history_and_may_label_anything() -> None:
    access = Access(Settings(api_token="t0ken"))
    assert not access.may_read("")
    assert not access.may_read("Bearer wrong")
    assert not access.may_read("Basic t0ken")
    assert access.may_read("Bearer t0ken")
    assert access.may_read("bearer  t0ken ")
    assert access.may_label(uuid.uuid4(), None, "Bearer t0ken")
