"""Model configurations as JSON: what checkpoints store to rebuild a model."""

from __future__ import annotations

from dataclasses import MISSING, asdict, fields
from typing import Any, Self

from rnnlab.errors import ConfigError


class JsonConfig:
    """``to_json`` / ``from_json`` for a config dataclass, with errors that name the keys."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_json(cls, obj: Any) -> Self:
        """Rebuild from ``to_json()`` output; unknown or missing keys are a ConfigError."""
        if not isinstance(obj, dict):
            raise ConfigError(f"model config must be a JSON object, got {type(obj).__name__}")
        known = fields(cls)  # type: ignore[arg-type]
        names = {f.name for f in known}
        unknown = sorted(set(obj) - names)
        if unknown:
            raise ConfigError(f"model config has unknown keys {unknown}; known: {sorted(names)}")
        required = [f.name for f in known if f.default is MISSING and f.default_factory is MISSING]
        missing = [name for name in required if name not in obj]
        if missing:
            raise ConfigError(f"model config is missing {missing}")
        return cls(**obj)
