"""Field types shared by the public APIs' schemas."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    GetJsonSchemaHandler,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic_core import CoreSchema

from frontend.http.errors import InvalidParameter
from t2i import contract
from t2i.request import Loras

PublicSize = Literal[
    "256x256", "512x512", "1024x1024", "1792x1024", "1024x1792", "1536x1024", "1024x1536", "auto"
]
# A named size, `auto`, or any WIDTHxHEIGHT (the model's side limits are checked in sizing.parse_size).
SIZE_PATTERN = r"^(auto|[1-9][0-9]{0,4}x[1-9][0-9]{0,4})$"
MAX_SEED = 4294967295
# Images per public request (`n`, `count`); the pipeline itself takes up to contract.MAX_IMAGES.
MAX_IMAGES_PER_REQUEST = 4
# The contract's scheduler names as the schema's enum (Literal of a tuple is the Literal of its items).
SchedulerName = Literal[contract.SCHEDULERS]  # type: ignore[valid-type]


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must contain non-whitespace characters")
    return value


def _safe_name(value: str) -> str:
    if ".." in value:
        raise ValueError("must not contain '..'")
    return value


def prompt_field(max_length: int) -> type[str]:
    return Annotated[str, Field(min_length=1, max_length=max_length), AfterValidator(_not_blank)]  # type: ignore[return-value]


Seed = Annotated[int, Field(ge=0, le=MAX_SEED, description="Image i uses seed + i; random if unset.")]
# File and folder names in the image store: letters, digits, '.', '_', '-'; no path separators, no '..'.
SafeName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"), AfterValidator(_safe_name)]


class NullIsDefault:
    """Marks a field of a `NullableFieldsModel` whose explicit JSON null means its default, as OpenAI's
    nullable fields do; the field's schema then documents null as allowed."""

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        return {"anyOf": [handler(schema), {"type": "null"}]}


class NullableFieldsModel(BaseModel):
    """A body whose `Annotated[..., NullIsDefault()]` fields read an explicit null as omitted, so the
    default is defined once, on the field, and the field keeps its plain type after validation."""

    @model_validator(mode="before")
    @classmethod
    def _null_is_default(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        nullable = {
            name
            for name, info in cls.model_fields.items()
            if any(isinstance(marker, NullIsDefault) for marker in info.metadata)
        }
        return {key: value for key, value in data.items() if value is not None or key not in nullable}


class LoraChoice(BaseModel):
    """One LoRA adapter of the model (GET /v1/models lists them per model) and its strength."""

    name: str = Field(max_length=100, description="An adapter the model lists in GET /v1/models (`loras`).")
    scale: float = Field(
        1.0, description=f"Strength, between -{contract.MAX_LORA_SCALE:g} and {contract.MAX_LORA_SCALE:g}."
    )


LORAS_DESCRIPTION = (
    "Extension: LoRA adapters applied to this request alone, in order, as diffusers' load_lora_weights + "
    "set_adapters apply them (models exported with the torch backend; others answer 400). "
    'E.g. [{"name": "watercolor", "scale": 0.8}]; a multipart form takes the same list as JSON text.'
)
# JSON bodies take the list; multipart forms (and the JSON edit body, which shares their fields) also the
# list as JSON text.
LorasField = Annotated[list[LoraChoice] | None, Field(None, description=LORAS_DESCRIPTION)]
LorasFormField = Annotated[list[LoraChoice] | str | None, Field(None, description=LORAS_DESCRIPTION)]
_LORA_LIST = TypeAdapter(list[LoraChoice])


def lora_pairs(value: list[LoraChoice] | str | None) -> Loras:
    """The internal request's (name, scale) pairs; a 400 naming `loras` for text that is not such a list.
    Names and scales are checked against the model by t2i.request.check_request."""
    if value is None:
        return ()
    if isinstance(value, str):
        try:
            value = _LORA_LIST.validate_json(value)
        except ValidationError:
            raise InvalidParameter(
                'loras must be a JSON list of {"name": ..., "scale": ...} objects', param="loras"
            ) from None
    return tuple((choice.name, choice.scale) for choice in value)
