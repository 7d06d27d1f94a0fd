import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from xlt.config import ConfigError, check_config
from xlt.languages import UnknownLanguageError

SCHEMA = "config/schema.yaml"


def load(name):
    with open(f"config/{name}.yaml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@pytest.mark.parametrize("name", ["config", "paper"])
def test_shipped_configs_are_valid(name):
    config = load(name)
    validate(config, SCHEMA)
    check_config(config)


def test_a_typo_in_a_key_is_rejected_naming_the_key():
    config = load("config")
    config["languagess"] = config.pop("languages")
    with pytest.raises(WorkflowError, match="languagess"):
        validate(config, SCHEMA)


def test_a_wrong_type_is_rejected_naming_the_value():
    config = load("config")
    config["data"]["n_test"] = "sixteen"
    with pytest.raises(WorkflowError, match="sixteen"):
        validate(config, SCHEMA)


def test_a_model_needs_a_hub_id_or_a_build():
    config = load("config")
    del config["models"]["demo-dense"]["build"]
    with pytest.raises(WorkflowError):
        validate(config, SCHEMA)


def test_unknown_language_names_code_key_and_suggestion():
    config = load("config")
    config["languages"].append("heb_Hebrew")
    with pytest.raises(UnknownLanguageError) as err:
        check_config(config)
    assert "heb_Hebrew" in str(err.value) and "languages" in str(err.value)
    assert "heb_Hebr" in str(err.value)


def test_unknown_source_language_names_the_source():
    config = load("config")
    config["sources"]["arabic"] = ["arb_Arab", "arq_Arab"]
    with pytest.raises(UnknownLanguageError, match=r"sources\.arabic"):
        check_config(config)


def test_unknown_template_lists_the_known_ones():
    config = load("config")
    config["prompts"]["direct"] = "nope"
    with pytest.raises(ConfigError, match="belebele_num"):
        check_config(config)


def test_paper_config_is_the_paper_grid():
    config = load("paper")
    assert len(config["models"]) == 7
    assert {m["architecture"] for m in config["models"].values()} == {"dense", "moe"}
    sizes = [m["size_b"] for m in config["models"].values()]
    assert min(sizes) == 4 and max(sizes) == 671
    assert config["sources"]["arabic"] == [
        "arb_Arab",
        "acm_Arab",
        "apc_Arab",
        "ars_Arab",
        "ary_Arab",
        "arz_Arab",
    ]
    assert config["data"]["n_test"] == 100
    assert {"heb_Hebr", "amh_Ethi", "mlt_Latn", "fra_Latn", "jpn_Jpan", "kor_Hang"} <= set(
        config["languages"]
    )


def test_an_evaluated_prompting_needs_its_template_and_budget():
    config = load("config")
    del config["evaluate"]["max_new_tokens"]["cot"]
    with pytest.raises(ConfigError, match=r"evaluate\.max_new_tokens\.cot"):
        check_config(config)
