"""The served models, as every API sees them: the models Triton serves now (t2i.contract names them), the
default one for requests that name none, and the aliases (`T2I_MODEL_ALIASES`) that may point any name at
any served model. Read from Triton on each request (the client caches it for a moment), so a model loaded or
unloaded in Triton appears or goes without restarting the frontend."""

from __future__ import annotations

from dataclasses import dataclass

from frontend.http.errors import InvalidParameter
from frontend.settings import DEFAULT_MODEL_TARGET, Settings
from t2i.contract import ModelMetadata


@dataclass(frozen=True)
class Catalogue:
    models: dict[str, ModelMetadata]  # served name -> its metadata, by name
    default: str  # the served model of requests that name none; "" when nothing is served
    aliases: dict[str, str]  # alias -> served name, only those whose target is served

    @classmethod
    def of(cls, models: dict[str, ModelMetadata], settings: Settings) -> Catalogue:
        """T2I_DEFAULT_MODEL where it is served, else the first served model by name."""
        default = settings.default_model if settings.default_model in models else next(iter(models), "")
        aliases = {}
        for alias, target in settings.model_aliases.items():
            served = default if target == DEFAULT_MODEL_TARGET else target
            if served in models and alias not in models:
                aliases[alias] = served
        return cls(models, default, aliases)

    def names(self) -> dict[str, str]:
        """Every `model` name taken -> the served model it runs: served names, then aliases."""
        return {name: name for name in self.models} | self.aliases

    def resolve(self, name: str | None, param: str = "model") -> ModelMetadata:
        """The served model a request names (None or "": the default); a 400 naming the served models
        and aliases for any other name."""
        served = self.names().get(name or self.default)
        if served is None:
            models = ", ".join(self.models) or "none right now"
            aliases = ", ".join(self.aliases) or "none"
            raise InvalidParameter(
                f"model '{name}' is not served here; served models: {models}; aliases: {aliases}",
                param=param,
            )
        return self.models[served]
