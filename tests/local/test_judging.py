"""The labelling sample's order: disagreements first, then a seeded draw that holds both judge verdicts."""

from __future__ import annotations

from oc_cli.local.judging import JudgeMixin


def answers(verdicts: dict[int, tuple[bool, bool]]) -> list[dict]:
    """One baseline and one candidate answer per case, with the judge's verdicts given."""
    return [{"case": case, "side": side, "judgePass": passed}
            for case, pair in verdicts.items() for side, passed in zip(("baseline", "candidate"), pair)]


def key(rows: list[dict]) -> list[tuple[int, str]]:
    return [(r["case"], r["side"]) for r in rows]


def test_cases_where_the_verdicts_disagree_come_first_with_both_answers() -> None:
    verdicts = {c: (True, True) for c in range(1, 21)}
    verdicts[7] = (True, False)
    verdicts[13] = (False, True)
    rows = JudgeMixin._sample_order(answers(verdicts), 10, seed=1)
    assert key(rows[:4]) == [(7, "baseline"), (7, "candidate"), (13, "baseline"), (13, "candidate")]
    assert len(rows) == 10 and len(set(key(rows))) == 10


def test_the_draw_is_seeded() -> None:
    pool = answers({c: (c % 3 == 0, c % 3 == 0) for c in range(1, 31)})
    assert key(JudgeMixin._sample_order(pool, 8, seed=5)) == key(JudgeMixin._sample_order(pool, 8, seed=5))
    assert key(JudgeMixin._sample_order(pool, 8, seed=5)) != key(JudgeMixin._sample_order(pool, 8, seed=6))


def test_a_small_draw_always_holds_both_judge_verdicts() -> None:
    # 2 failing answers among 40: a draw of 3 would usually miss them
    pool = answers({c: (c != 1, c != 1) for c in range(1, 21)})
    for seed in range(50):
        rows = JudgeMixin._sample_order(pool, 3, seed=seed)
        assert len(rows) == 3 and len(set(key(rows))) == 3
        assert {r["judgePass"] for r in rows} == {True, False}


def test_a_size_beyond_the_answers_returns_every_answer_once() -> None:
    pool = answers({c: (True, c % 2 == 0) for c in range(1, 6)})
    rows = JudgeMixin._sample_order(pool, 100, seed=0)
    assert sorted(key(rows)) == sorted(key(pool))
