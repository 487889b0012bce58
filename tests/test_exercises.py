"""The exercise checkers: friendly for an untouched exercise, specific when wrong."""

from __future__ import annotations

import pandas as pd

from mmlab.exercises import welcome


def test_label_share_feedback(capsys):
    frame = pd.DataFrame({"label": [0, 1, 1, 1]})
    assert welcome.check_label_share(None, frame) is False
    assert "not attempted yet" in capsys.readouterr().out
    assert welcome.check_label_share(0.75, frame) is True
    assert welcome.check_label_share(75, frame) is False
    assert "percentage" in capsys.readouterr().out
    assert welcome.check_label_share(3, frame) is False
    assert "number of mean memes" in capsys.readouterr().out
    assert welcome.check_label_share(0.25, frame) is False
    assert "label 0" in capsys.readouterr().out
    assert welcome.check_label_share("lots", frame) is False


def test_mood_rule_feedback(capsys):
    assert welcome.check_mood_rule(...) is False
    assert "not attempted yet" in capsys.readouterr().out

    def untouched(image_mood, text_mood):
        ...  # your rule here

    assert welcome.check_mood_rule(untouched) is False
    assert "not attempted yet" in capsys.readouterr().out
    assert welcome.check_mood_rule(lambda image, text: int(image != text)) is True
    assert welcome.check_mood_rule(lambda image, text: image) is False
    assert "2 of the 4 cases are off" in capsys.readouterr().out
    assert welcome.check_mood_rule(lambda image, text: 1 / 0) is False
    assert "ZeroDivisionError" in capsys.readouterr().out
    assert welcome.check_mood_rule(42) is False
