"""Forward-only job state rule that the join applies within a batch, as the SQL upsert does."""

from __future__ import annotations

JOB_STATES: tuple[str, ...] = ("unscheduled", "pending", "running", "completed")

_RANKS: dict[str, int] = {state: rank for rank, state in enumerate(JOB_STATES)}


def state_rank(state: str) -> int:
    """Return the position of ``state`` in ``JOB_STATES``; raise ValueError for other values."""
    try:
        return _RANKS[state]
    except KeyError:
        raise ValueError(f"unknown job state {state!r}; expected one of {JOB_STATES}") from None


def should_apply(current: str | None, incoming: str) -> bool:
    """Decide whether an event in state ``incoming`` may overwrite a job stored in ``current``.

    A new job (``current`` is None) always applies. A completed job never changes again.
    Otherwise the event applies when its state ranks at least as high as the stored one,
    so repeats of pending or running rewrite the row and backward moves are ignored.
    """
    if current is None:
        return True

    if current == "completed":
        return False

    return state_rank(incoming) >= state_rank(current)
