"""Learning from users: export labelled predictions, retrain on them, promote only a better model.

``python -m training.feedback export`` (:mod:`.export`), ``python -m training.feedback retrain``
(:mod:`.retrain`, gated by :mod:`.gate`, reported by :mod:`.report`); ``make retrain`` runs both.
"""
