"""Tests of the language registry: coverage of Belebele, Semitic grouping, error messages."""

import pickle

import pytest

from xlt.languages import (
    Language,
    UnknownLanguageError,
    check_codes,
    codes,
    language,
    load_registry,
    semitic_codes,
)

ARABIC = ["arb_Arab", "arb_Latn", "acm_Arab", "apc_Arab", "ars_Arab", "ary_Arab", "arz_Arab"]
OTHER_SEMITIC = ["heb_Hebr", "amh_Ethi", "tir_Ethi", "mlt_Latn"]
CONTROLS = [
    "eng_Latn", "fra_Latn", "jpn_Jpan", "kor_Hang", "tur_Latn", "pes_Arab", "urd_Arab", "hau_Latn",
]  # fmt: skip
ROMANIZED = ["hin_Latn", "ben_Latn", "npi_Latn", "sin_Latn", "urd_Latn", "arb_Latn"]


def test_covers_all_122_belebele_codes_once():
    all_codes = codes()
    assert len(all_codes) == 122
    assert len(set(all_codes)) == 122
    assert {*ROMANIZED, "zho_Hans", "zho_Hant"} <= set(all_codes)


def test_rows_are_complete_and_script_matches_code_suffix():
    for code, lang in load_registry().items():
        assert isinstance(lang, Language)
        assert lang.code == code
        assert all([lang.name, lang.family, lang.genus, lang.script])
        assert lang.script == code.split("_")[1]


@pytest.mark.parametrize("code", ARABIC + OTHER_SEMITIC)
def test_semitic(code):
    lang = language(code)
    assert lang.is_semitic
    assert lang.family == "Afro-Asiatic"


def test_semitic_codes_are_exactly_the_eleven():
    assert sorted(semitic_codes()) == sorted(ARABIC + OTHER_SEMITIC)


@pytest.mark.parametrize("code", CONTROLS)
def test_controls_are_not_semitic(code):
    assert not language(code).is_semitic


def test_script_is_independent_of_genealogy():
    maltese = language("mlt_Latn")
    assert maltese.is_semitic and maltese.script == "Latn"
    for code in ["pes_Arab", "urd_Arab"]:
        lang = language(code)
        assert lang.script == "Arab" and not lang.is_semitic
    assert language("pes_Arab").genus == "Iranian"
    assert language("urd_Arab").genus == "Indic"


def test_other_afro_asiatic_branches():
    assert language("hau_Latn").genus == "Chadic"
    assert language("som_Latn").genus == "Cushitic"
    assert language("gaz_Latn").genus == "Cushitic"
    assert all(language(c).family == "Afro-Asiatic" for c in ["hau_Latn", "som_Latn", "gaz_Latn"])


@pytest.mark.parametrize("bad", ["heb_Hebrew", "hbr_Hebr", "HEB_HEBR"])
def test_unknown_code_names_it_and_suggests_hebrew(bad):
    with pytest.raises(UnknownLanguageError) as info:
        language(bad)
    message = str(info.value)
    assert repr(bad) in message
    assert "heb_Hebr" in info.value.suggestions[bad]
    assert "FLORES-200" in message and "xlt languages" in message
    assert "\n" not in message


def test_unknown_language_error_is_a_value_error_and_picklable():
    error = UnknownLanguageError(["xxx_Latn"], "languages")
    assert isinstance(error, ValueError)
    copy = pickle.loads(pickle.dumps(error))
    assert str(copy) == str(error) and copy.codes == ["xxx_Latn"] and copy.where == "languages"


def test_check_codes_accepts_known_codes():
    check_codes(ARABIC + CONTROLS, where="languages")
    check_codes([], where="languages")


def test_check_codes_lists_every_unknown_code_and_where():
    with pytest.raises(UnknownLanguageError) as info:
        check_codes(
            ["arb_Arab", "heb_Hebrew", "eng_Latn", "hbr_Hebr", "xx"], where="sources.arabic"
        )
    message = str(info.value)
    assert info.value.codes == ["heb_Hebrew", "hbr_Hebr", "xx"]
    assert info.value.where == "sources.arabic"
    assert "sources.arabic" in message
    for bad in ["heb_Hebrew", "hbr_Hebr", "xx"]:
        assert repr(bad) in message
    assert message.count("did you mean") == 2  # "xx" is too far from any code
    assert "\n" not in message
