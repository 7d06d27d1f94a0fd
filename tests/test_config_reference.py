"""The config reference (config/README.md) is generated from the schema and kept in step."""

from dataclasses import MISSING, fields

from xlt.analysis.settings import AnalysisSettings
from xlt.config import CHECKOUT_SCHEMA, read_schema
from xlt.config_reference import COMMAND, REFERENCE, reference, undocumented

SCHEMA = read_schema(CHECKOUT_SCHEMA)


def test_every_schema_key_has_a_description():
    assert undocumented(SCHEMA) == [], "give each of these keys a `description:` in the schema"


def test_the_committed_reference_is_the_generated_one():
    committed = REFERENCE.read_text(encoding="utf-8") if REFERENCE.exists() else ""
    assert committed == reference(SCHEMA), (
        f"{REFERENCE} is not what config/schema.yaml makes; regenerate it: {COMMAND}"
    )


def schema_defaults(node: dict) -> dict:
    return {
        key: child["default"] for key, child in node["properties"].items() if "default" in child
    }


def dataclass_defaults(cls: type) -> dict:
    found = {}
    for field in fields(cls):
        if field.default is not MISSING:
            found[field.name] = field.default
        elif field.default_factory is not MISSING:
            found[field.name] = field.default_factory()
    return found


def test_the_training_code_applies_the_schema_s_lora_and_train_defaults():
    """finetune.lora/train reach the finetune rule as given (their defaults would otherwise
    change a finished adapter's params), so the training code applies the schema's defaults:
    they must be the same values."""
    from xlt.train.settings import LoraSettings, TrainSettings

    definitions = SCHEMA["definitions"]
    assert dataclass_defaults(LoraSettings) == schema_defaults(definitions["lora"])
    assert dataclass_defaults(TrainSettings) == schema_defaults(definitions["train"])


def test_library_callers_get_the_schema_s_analysis_defaults():
    """AnalysisSettings() (the analysis called as a library, without a config) has the values
    validation fills into a config's `analysis:`."""
    analysis = schema_defaults(SCHEMA["properties"]["analysis"])
    assert dataclass_defaults(AnalysisSettings) == {**analysis, "bands": None}
