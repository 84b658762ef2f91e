"""Errors a user can act on: each names the file and the problem in one line."""


class CellsegError(Exception):
    """Base class for errors reported to the user without a traceback."""


class InputError(CellsegError):
    """An input image or folder cannot be used."""

    def __init__(self, path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")

    def __reduce__(self):  # pickles whole (from a Dask worker to the client)
        return type(self), (self.path, self.problem)


class ModelFileError(CellsegError):
    """A model path does not hold a valid cellseg model."""

    def __init__(self, path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: not a cellseg model ({problem})")

    def __reduce__(self):
        return type(self), (self.path, self.problem)


class Cancelled(CellsegError):
    """A long job was cancelled by the user."""
