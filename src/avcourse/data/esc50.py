"""ESC-50 environmental sounds: metadata records and the five cross-validation folds.

ESC-50 (Piczak, ACM MM 2015) holds 2,000 five-second clips in 50 classes,
split into 5 folds that keep clips of one source recording together; results
are the mean over the 5 train/test splits. Download it from
https://github.com/karolpiczak/ESC-50 (the repository's archive); its root
has ``meta/esc50.csv`` and ``audio/<filename>.wav``.

Used by: avcourse prepare (recipes)
"""

import csv
from pathlib import Path

__all__ = ["DOWNLOAD_HINT", "esc50_folds", "load_esc50"]

_COLUMNS = ("filename", "fold", "target", "category", "esc10", "src_file", "take")
DOWNLOAD_HINT = (
    "Download ESC-50 from https://github.com/karolpiczak/ESC-50 and pass the folder that holds "
    "meta/esc50.csv and audio/."
)


def load_esc50(root, check_audio=True):
    """Read ESC-50's metadata.

    Args:
        root: the dataset folder (with ``meta/esc50.csv`` and ``audio/``).
        check_audio: also check that every listed audio file exists.

    Returns:
        list of dicts, one per clip in file order: ``filename``, ``fold``
        (int 1-5), ``target`` (int class index), ``category``, ``esc10``
        (bool: part of the ESC-10 subset), ``src_file``, ``take`` and
        ``path`` (the ``Path`` of the audio file).

    Raises:
        FileNotFoundError: if ``meta/esc50.csv`` or ``audio/`` is missing, or
            (with ``check_audio``) audio files are missing; the message says
            how many, names the first 10 and where to get them.
        ValueError: if the CSV lacks a column or has a malformed row.
    """
    root = Path(root)
    meta = root / "meta" / "esc50.csv"
    audio = root / "audio"
    if not meta.is_file():
        raise FileNotFoundError(f"ESC-50 metadata {str(meta)!r} does not exist. {DOWNLOAD_HINT}")
    if not audio.is_dir():
        raise FileNotFoundError(f"ESC-50 audio folder {str(audio)!r} does not exist. {DOWNLOAD_HINT}")
    with meta.open(newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        absent = [column for column in _COLUMNS if column not in (reader.fieldnames or ())]
        if absent:
            raise ValueError(f"{meta} lacks the column(s) {absent}; expected {','.join(_COLUMNS)}.")
        records = []
        for row in reader:
            try:
                records.append(
                    {
                        "filename": row["filename"],
                        "fold": int(row["fold"]),
                        "target": int(row["target"]),
                        "category": row["category"],
                        "esc10": {"True": True, "False": False}[row["esc10"]],
                        "src_file": row["src_file"],
                        "take": row["take"],
                        "path": audio / row["filename"],
                    }
                )
            except (KeyError, ValueError):
                raise ValueError(f"{meta}, line {reader.line_num}: malformed row {row!r}.") from None
    if check_audio:
        missing = [record["filename"] for record in records if not record["path"].is_file()]
        if missing:
            raise FileNotFoundError(
                f"{len(missing)} of {len(records)} ESC-50 audio files are missing under {audio}; "
                f"first {min(10, len(missing))}: {', '.join(missing[:10])}. {DOWNLOAD_HINT}"
            )
    return records


def esc50_folds(records, test_fold):
    """Split ESC-50 records into the training and test sets of one fold.

    Args:
        records: records of :func:`load_esc50`.
        test_fold: the fold held out for testing, one of the records' folds (1-5).

    Returns:
        ``(train, test)``: lists of records, in input order.

    Raises:
        ValueError: if ``test_fold`` is not one of the records' folds.
    """
    folds = sorted({record["fold"] for record in records})
    if isinstance(test_fold, bool) or test_fold not in folds:
        raise ValueError(f"`test_fold` must be one of the folds {folds}; received {test_fold!r}.")
    train = [record for record in records if record["fold"] != test_fold]
    test = [record for record in records if record["fold"] == test_fold]
    return train, test
