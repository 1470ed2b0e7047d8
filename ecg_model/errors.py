"""The one error type the library raises for problems a user can fix or understand."""


class ECGImageError(ValueError):
    """An input that cannot be read or assessed; the message is meant for a person.

    ``kind`` tells the caller whether the file could not be read at all (``"error"``)
    or was read but cannot be assessed (``"rejected"``).
    """

    def __init__(self, message: str, kind: str = "error") -> None:
        super().__init__(message)
        if kind not in ("error", "rejected"):
            raise RuntimeError(f"kind must be 'error' or 'rejected', not {kind!r}")
        self.kind = kind


class WeightsError(ValueError):
    """A weights file that is missing, corrupted or of an unknown format."""
