from bankrisk.training.tracking import CHALLENGER, CHAMPION, promotion_decision


def test_first_model_becomes_champion() -> None:
    assert promotion_decision(0.70, None, 0.0) == CHAMPION


def test_must_beat_the_champion_on_the_same_test_data() -> None:
    assert promotion_decision(0.790, 0.785, 0.0) == CHAMPION
    assert promotion_decision(0.785, 0.785, 0.0) == CHALLENGER  # a tie is not a win
    assert promotion_decision(0.780, 0.785, 0.0) == CHALLENGER
    assert promotion_decision(0.787, 0.785, 0.005) == CHALLENGER  # gain below the margin
