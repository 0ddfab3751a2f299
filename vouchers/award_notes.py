"""The engine's notes in the reader's words: one translation per code, for every place that shows
an award (the record page, the patient page's history, cm_simulate).

The engine (vouchers/engine.py) is pure and speaks no language; an Award carries a note code
(engine.NOTES), and this is the one place that says it.
"""

from django.utils.translation import gettext_lazy as _

from vouchers import engine

AWARD_NOTES = {
    engine.ALREADY_EARNED: _(
        "A negative already earned on this day; this one is recorded and earns nothing."
    ),
    engine.OUTSIDE_WEEKS: _(
        "This is after the protocol's last week; it is recorded and earns nothing."
    ),
}


def award_note(code: str) -> str:
    """The note `code` in the active language ("" for no note). A code without words here is a
    programming error, so it fails loudly instead of showing the code to a patient."""
    return str(AWARD_NOTES[code]) if code else ""
