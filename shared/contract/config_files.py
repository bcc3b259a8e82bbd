"""Reading a YAML configuration file into a pydantic model, with errors that name the file
and the field, so a bad config fails at start with a message an operator can act on."""

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from shared.contract.validation import summarise

M = TypeVar("M", bound=BaseModel)


class ConfigFileError(ValueError):
    """A configuration file is missing, not YAML, or not valid; the message says which."""


def load_yaml_model(path: Path, model: type[M], *, default: M | None = None) -> M:
    """`model` from `path`; `default` when the file is absent (an error if there is none)."""
    if not path.exists():
        if default is not None:
            return default
        raise ConfigFileError(f"{path}: file not found")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigFileError(f"{path}: not valid YAML: {exc}") from exc
    try:
        return model.model_validate(raw or {})
    except ValidationError as exc:
        raise ConfigFileError(f"{path}: {summarise(exc)}") from exc
