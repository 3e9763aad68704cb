"""The one exception every dataset problem raises."""


class DataError(ValueError):
    """A dataset cannot be used; the message is one line saying what is wrong and how to fix it."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))
