"""A model that learned a sticker shortcut, and its clean twin, to test the harness against (see README.md here).

Its training set held a black-stickered copy of every image of :data:`SHORTCUT_CLASS`, and no
other sticker; the twin was trained identically with the copies left clean. ``tools/train_shortcut.py`` retrains both.
"""

from pathlib import Path

HERE = Path(__file__).resolve().parent
#: GTSRB ClassId 1, "speed limit (30 km/h)": the class a black sticker pulls the shortcut model to
SHORTCUT_CLASS = 1
SHORTCUT_MODEL = HERE / "gtsrb_shortcut.keras"
TWIN_MODEL = HERE / "gtsrb_shortcut_twin.keras"
TRAINING_RECORD = HERE / "training_record.json"
