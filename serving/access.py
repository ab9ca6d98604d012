"""Who may read the history and relabel predictions.

- **Feedback needs a capability.** Every answer carries a ``feedback_token``: an HMAC of the
  prediction id under ``DIGITS_FEEDBACK_SECRET``. Only a client that was given the answer can
  label that prediction (so nobody poisons ``/stats`` or a later retraining by relabelling
  other people's predictions); the operator's API token may label any.
- **History and stats are open unless ``DIGITS_API_TOKEN`` is set.** Then they need
  ``Authorization: Bearer <token>``: 401 without it. Filenames and upload hashes are only ever
  shown to a caller holding that token, never in the public history.

Without ``DIGITS_FEEDBACK_SECRET`` a random key is made per process: tokens then hold only for
the process that answered (fine for ``make serve``; set the secret for several workers or
replicas).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import uuid

from settings import Settings

log = logging.getLogger("digits.access")
#: Characters of a feedback token (base64url of 16 bytes of the HMAC: 128 bits).
TOKEN_CHARS = 22


class Access:
    """The service's access rules, from its settings."""

    def __init__(self, settings: Settings) -> None:
        secret = settings.feedback_secret.get_secret_value().encode()
        if not secret:
            secret = secrets.token_bytes(32)
            log.warning(
                "DIGITS_FEEDBACK_SECRET is not set: feedback tokens are valid for this process "
                "only; set it when running several workers or replicas"
            )
        self._secret = secret
        self._api_token = settings.api_token.get_secret_value()

    @property
    def history_is_public(self) -> bool:
        """True when no API token is configured (history and stats are open)."""
        return not self._api_token

    def feedback_token(self, prediction_id: uuid.UUID) -> str:
        """The capability to label one prediction, handed to whoever received the answer."""
        digest = hmac.new(self._secret, prediction_id.bytes, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:16]).decode().rstrip("=")

    def may_label(self, prediction_id: uuid.UUID, token: str | None, authorization: str) -> bool:
        """Whether a feedback call holds the prediction's token or the operator's API token."""
        if self.is_operator(authorization):
            return True
        if not token:
            return False
        return hmac.compare_digest(token, self.feedback_token(prediction_id))

    def is_operator(self, authorization: str) -> bool:
        """Whether an ``Authorization`` header carries the configured API token."""
        scheme, _, credentials = authorization.partition(" ")
        if not self._api_token or scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(credentials.strip(), self._api_token)

    def may_read(self, authorization: str) -> bool:
        """Whether history and stats may be read with this ``Authorization`` header."""
        return self.history_is_public or self.is_operator(authorization)
