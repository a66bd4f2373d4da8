"""MediaWiki title rules: link-target normalisation, namespaces, interwiki prefixes, disambiguation pages.

Everything here is pure and picklable (plain dicts/frozensets in frozen dataclasses), so a
:class:`NamespaceTable` built once from a dump's siteinfo can be shipped to Beam workers as a side input or a
DoFn constructor argument.

Normalisation follows MediaWiki's ``Title`` rules as far as link targets in article text need them:
HTML entities and ``%XX`` escapes decoded, ``_`` → space, whitespace (and bidi marks) collapsed, ``#fragment``
stripped, one leading ``:`` stripped (it only forces a link instead of a category/file/language inclusion),
namespace prefix recognised case-insensitively (localised names from the dump's siteinfo, the canonical English
names every wiki accepts, and common aliases like ``Image:``), interwiki and language prefixes recognised, and
the first letter upper-cased for namespaces whose case is ``first-letter`` (all Wikipedias).
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, Iterable, Mapping, Optional, Tuple
from urllib.parse import unquote

__all__ = [
    "NamespaceTable", "LinkTarget", "normalize_title", "normalize_namespace_name", "ucfirst",
    "classify_link", "pipe_trick", "template_name", "is_disambiguation", "DISAMBIGUATION",
    "WIKIPEDIA_LANGUAGES", "INTERWIKI_PREFIXES", "LANGUAGES",
]

# The 24 mPMR languages.
LANGUAGES = ("ar", "bn", "de", "el", "en", "es", "fi", "fr", "hi", "id", "it", "ja", "ko", "nl", "pl", "pt",
             "ru", "sv", "sw", "te", "th", "tr", "vi", "zh")

# ---------------------------------------------------------------------------------------------------------------
# Namespaces
# ---------------------------------------------------------------------------------------------------------------

NS_MEDIA, NS_SPECIAL, NS_MAIN, NS_FILE, NS_TEMPLATE, NS_CATEGORY = -2, -1, 0, 6, 10, 14

# Canonical (English) namespace names: MediaWiki accepts them on every wiki, whatever its language.
_CANONICAL = {
    -2: "Media", -1: "Special", 1: "Talk", 2: "User", 3: "User talk", 4: "Project", 5: "Project talk",
    6: "File", 7: "File talk", 8: "MediaWiki", 9: "MediaWiki talk", 10: "Template", 11: "Template talk",
    12: "Help", 13: "Help talk", 14: "Category", 15: "Category talk", 100: "Portal", 101: "Portal talk",
    118: "Draft", 119: "Draft talk", 710: "TimedText", 711: "TimedText talk", 828: "Module", 829: "Module talk",
    108: "Book", 109: "Book talk", 446: "Education Program", 447: "Education Program talk",
    2300: "Gadget", 2301: "Gadget talk", 2302: "Gadget definition", 2303: "Gadget definition talk",
    2600: "Topic",
}
# Aliases valid on all Wikipedias (Image: predates File:; WP:/Wikipedia: are the project namespace).
_COMMON_ALIASES = {"Image": 6, "Image talk": 7, "Wikipedia": 4, "Wikipedia talk": 5, "WP": 4, "WT": 5,
                   "Project": 4, "Project talk": 5}

# Localised names of the namespaces that matter for link classification when a dump has no <siteinfo>
# (File 6, Template 10, Category 14, plus image aliases and Portal). With siteinfo, its names are used too.
# Entries marked "?" in the comment are from memory and less certain.
_LOCAL_NAMESPACES: Dict[str, Dict[str, int]] = {
    "ar": {"ملف": 6, "صورة": 6, "قالب": 10, "تصنيف": 14, "بوابة": 100, "ويكيبيديا": 4, "وسائط": -2, "خاص": -1},
    "bn": {"চিত্র": 6, "টেমপ্লেট": 10, "বিষয়শ্রেণী": 14, "প্রবেশদ্বার": 100, "উইকিপিডিয়া": 4},  # ?
    "de": {"Datei": 6, "Bild": 6, "Vorlage": 10, "Kategorie": 14, "Portal": 100, "Spezial": -1, "Medium": -2,
           "Benutzer": 2, "Hilfe": 12, "Diskussion": 1},
    "el": {"Αρχείο": 6, "Εικόνα": 6, "Πρότυπο": 10, "Κατηγορία": 14, "Πύλη": 100, "Βικιπαίδεια": 4},
    "en": {},
    "es": {"Archivo": 6, "Imagen": 6, "Plantilla": 10, "Categoría": 14, "Portal": 100, "Anexo": 104,
           "Especial": -1, "Usuario": 2, "Ayuda": 12},
    "fi": {"Tiedosto": 6, "Kuva": 6, "Malline": 10, "Luokka": 14, "Teemasivu": 100, "Toiminnot": -1},
    "fr": {"Fichier": 6, "Image": 6, "Modèle": 10, "Catégorie": 14, "Portail": 100, "Projet": 102,
           "Spécial": -1, "Utilisateur": 2, "Aide": 12, "Discussion": 1},
    "hi": {"चित्र": 6, "साँचा": 10, "श्रेणी": 14, "प्रवेशद्वार": 100, "विकिपीडिया": 4},  # ?
    "id": {"Berkas": 6, "Gambar": 6, "Templat": 10, "Kategori": 14, "Portal": 100, "Istimewa": -1},
    "it": {"File": 6, "Immagine": 6, "Template": 10, "Categoria": 14, "Portale": 100, "Progetto": 102,
           "Speciale": -1, "Utente": 2, "Aiuto": 12},
    "ja": {"ファイル": 6, "画像": 6, "Template": 10, "Category": 14, "ポータル": 100, "プロジェクト": 102,
           "特別": -1, "利用者": 2, "ヘルプ": 12},
    "ko": {"파일": 6, "그림": 6, "틀": 10, "분류": 14, "포털": 100, "위키프로젝트": 102, "특수": -1,
           "사용자": 2, "도움말": 12, "위키백과": 4},
    "nl": {"Bestand": 6, "Afbeelding": 6, "Sjabloon": 10, "Categorie": 14, "Portaal": 100, "Speciaal": -1,
           "Gebruiker": 2},
    "pl": {"Plik": 6, "Grafika": 6, "Szablon": 10, "Kategoria": 14, "Portal": 100, "Specjalna": -1,
           "Wikipedysta": 2, "Pomoc": 12},
    "pt": {"Ficheiro": 6, "Arquivo": 6, "Imagem": 6, "Predefinição": 10, "Categoria": 14, "Portal": 100,
           "Especial": -1, "Usuário": 2, "Utilizador": 2, "Ajuda": 12},
    "ru": {"Файл": 6, "Изображение": 6, "Шаблон": 10, "Категория": 14, "Портал": 100, "Проект": 104,
           "Служебная": -1, "Участник": 2, "Справка": 12, "Википедия": 4, "ВП": 4},
    "sv": {"Fil": 6, "Bild": 6, "Mall": 10, "Kategori": 14, "Portal": 100, "Special": -1, "Användare": 2},
    "sw": {"Picha": 6, "Faili": 6, "Kigezo": 10, "Jamii": 14, "Wikipedia": 4},  # ?
    "te": {"దస్త్రం": 6, "బొమ్మ": 6, "మూస": 10, "వర్గం": 14, "వేదిక": 100, "వికీపీడియా": 4},  # ?
    "th": {"ไฟล์": 6, "ภาพ": 6, "แม่แบบ": 10, "หมวดหมู่": 14, "สถานีย่อย": 100, "วิกิพีเดีย": 4, "พิเศษ": -1},
    "tr": {"Dosya": 6, "Resim": 6, "Şablon": 10, "Kategori": 14, "Portal": 100, "Özel": -1, "Kullanıcı": 2,
           "Vikipedi": 4},
    "vi": {"Tập tin": 6, "Hình": 6, "Bản mẫu": 10, "Thể loại": 14, "Cổng thông tin": 100, "Đặc biệt": -1,
           "Thành viên": 2, "Trợ giúp": 12},
    "zh": {"File": 6, "文件": 6, "檔案": 6, "档案": 6, "图像": 6, "圖像": 6, "Template": 10, "模板": 10,
           "样板": 10, "Category": 14, "分类": 14, "分類": 14, "Portal": 100, "主题": 100, "Special": -1},
}

# Every Wikipedia language code (as interwiki/language-link prefix). Not exhaustive for closed/new wikis, but
# the language links of real articles use these; unknown prefixes fall back to "article with a colon".
WIKIPEDIA_LANGUAGES: FrozenSet[str] = frozenset("""
aa ab ace ady af ak als alt am ami an ang anp ar arc ary arz as ast atj av avk awa ay az azb ba ban bar bat-smg
bcl be be-tarask be-x-old bg bh bi bjn blk bm bn bo bpy br bs bug bxr ca cbk-zam cdo ce ceb ch cho chr chy ckb
co cr crh cs csb cu cv cy da dag de din diq dsb dty dv dz ee el eml en eo es et eu ext fa fat ff fi fiu-vro fj
fo fon fr frp frr fur fy ga gag gan gcr gd gl glk gn gom gor got gpe gu guc gur guw gv ha hak haw he hi hif ho
hr hsb ht hu hy hyw hz ia id ie ig ii ik ilo inh io is it iu ja jam jbo jv ka kaa kab kbd kbp kcg kg ki kj kk
kl km kn ko koi kr krc ks ksh ku kv kw ky la lad lb lbe lez lfn lg li lij lld lmo ln lo lrc lt ltg lv mad mai
map-bms mdf mg mh mhr mi min mk ml mn mni mnw mo mr mrj ms mt mus mwl my myv mzn na nah nap nds nds-nl ne new
ng nia nl nn no nov nqo nrm nso nv ny oc olo om or os pa pag pam pap pcd pcm pdc pfl pi pih pl pms pnb pnt ps
pt pwn qu rm rmy rn ro roa-rup roa-tara ru rue rw sa sah sat sc scn sco sd se sg sh shi shn si simple sk skr sl
sm smn sn so sq sr srn ss st stq su sv sw szl szy ta tay tcy te tet tg th ti tk tl tly tn to tpi tr trv ts tt
tum tw ty tyv udm ug uk ur uz ve vec vep vi vls vo wa war wo wuu xal xh xmf yi yo yue za zea zgh zh zh-classical
zh-min-nan zh-yue zu
""".split())

# Sister projects and common interwiki-map prefixes: links through them render inline but leave the wiki.
INTERWIKI_PREFIXES: FrozenSet[str] = frozenset("""
wikt wiktionary commons c wikisource s wikiquote q wikibooks b wikinews n wikiversity v wikivoyage voy
wikispecies species wikidata d meta m mw mediawikiwiki foundation wmf wikimedia wikipedia w phabricator phab
incubator outreach translatewiki toollabs toolforge metawikimedia sep11 mediazilla bugzilla gerrit rev
doi arxiv google imdb oeis rfc iso639-3 scholar lojban wikitech wikilivres smcwiki wikia fandom memoryalpha
ethnologue oldwikisource betawikiversity testwiki test2wiki wikifunctions f lexeme l
""".split())


def normalize_namespace_name(name: str) -> str:
    """Lookup key of a namespace name or prefix: spaces/underscores collapsed, case-folded."""
    return " ".join(name.replace("_", " ").split()).casefold()


@dataclass(frozen=True)
class NamespaceTable:
    """Namespace names → keys for one wiki, plus its language (for first-letter case rules) and case mode.

    Build with :meth:`from_siteinfo` (the dump's ``<namespaces>``; pass a
    :class:`pipelines.wiki.dump.SiteInfo`, or its ``namespace_names()``) or :meth:`default` (built-in names
    when the dump has no siteinfo). Both add canonical English names and common aliases."""
    lang: str = "en"
    names: Mapping[str, int] = field(default_factory=dict)  # normalize_namespace_name(name) -> key
    case_sensitive: FrozenSet[int] = frozenset()  # namespaces whose case is "case-sensitive"
    title_names: Mapping[int, str] = field(default_factory=dict)  # key -> display name used in full titles

    @classmethod
    def default(cls, lang: str = "en") -> "NamespaceTable":
        return cls._build(lang, {}, frozenset())

    @classmethod
    def from_siteinfo(cls, siteinfo, lang: Optional[str] = None) -> "NamespaceTable":
        """``siteinfo``: a SiteInfo (namespaces ``(key, name, case)``), or a ``{key: name}`` mapping, or None."""
        if siteinfo is None:
            return cls.default(lang or "en")
        if isinstance(siteinfo, Mapping):
            entries = [(k, v, "first-letter") for k, v in siteinfo.items()]
            lang = lang or "en"
        else:
            entries = list(siteinfo.namespaces)
            lang = lang or siteinfo.lang or "en"
        case_sensitive = frozenset(k for k, _, case in entries if case == "case-sensitive")
        return cls._build(lang, {k: n for k, n, _ in entries if n}, case_sensitive)

    @classmethod
    def _build(cls, lang: str, local: Mapping[int, str], case_sensitive: FrozenSet[int]) -> "NamespaceTable":
        names: Dict[str, int] = {}
        title_names: Dict[int, str] = dict(_CANONICAL)
        for name, key in _COMMON_ALIASES.items():
            names[normalize_namespace_name(name)] = key
        for key, name in _CANONICAL.items():
            names[normalize_namespace_name(name)] = key
        for name, key in _LOCAL_NAMESPACES.get(lang.split("-")[0], {}).items():
            names[normalize_namespace_name(name)] = key
        for key, name in local.items():  # the dump's own names win
            names[normalize_namespace_name(name)] = key
            title_names[key] = name
        names.pop("", None)
        return cls(lang=lang, names=names, case_sensitive=case_sensitive, title_names=title_names)

    def namespace_of(self, prefix: str) -> Optional[int]:
        return self.names.get(normalize_namespace_name(prefix))

    def names_of(self, key: int) -> Tuple[str, ...]:
        """All known lookup keys (normalised, case-folded) of namespace ``key``."""
        return tuple(n for n, k in self.names.items() if k == key)


# ---------------------------------------------------------------------------------------------------------------
# Title normalisation
# ---------------------------------------------------------------------------------------------------------------

# Characters MediaWiki strips from titles (bidi marks) and whitespace it collapses.
_STRIP_CHARS = dict.fromkeys(map(ord, "\u200e\u200f\u202a\u202b\u202c\u202d\u202e"), None)
_WS_RE = re.compile(r"[\s_\u00a0\u1680\u180e\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+")
_PERCENT_RE = re.compile(r"%[0-9A-Fa-f]{2}")
# Characters that can never appear in a title; MediaWiki rejects such links (they render as plain text).
_ILLEGAL_RE = re.compile(r"[<>\[\]{}|\x00-\x1f\x7f\ufffd]")


def ucfirst(title: str, lang: str = "en") -> str:
    """Upper-case the first character as MediaWiki does. Turkic languages map i → İ; characters whose upper
    case is several characters (ß → SS, ŉ ...) are left alone, as MediaWiki's first-letter overrides do."""
    if not title:
        return title
    first = title[0]
    if lang in ("tr", "az", "kaa", "crh", "gag", "kk", "tt") and first == "i":
        upper = "İ"
    else:
        upper = first.upper()
        if len(upper) != 1:
            upper = first
    return upper + title[1:]


def _clean(raw: str) -> str:
    text = raw
    if "&" in text:
        text = html.unescape(text)
    if "%" in text and _PERCENT_RE.search(text):
        try:
            text = unquote(text, errors="strict")
        except UnicodeDecodeError:
            pass
    text = text.translate(_STRIP_CHARS)
    return _WS_RE.sub(" ", text).strip()


def normalize_title(raw: str, lang: str = "en", *, first_letter: bool = True) -> str:
    """Normalise a page title (no namespace handling): entities/escapes decoded, ``_``→space, whitespace
    collapsed, ``#fragment`` and one leading ``:`` removed, first letter upper-cased. ``"dog_house#History"``
    → ``"Dog house"``."""
    text = _clean(raw)
    if "#" in text:
        text = text.split("#", 1)[0].rstrip()
    if text.startswith(":"):
        text = text[1:].lstrip()
    return ucfirst(text, lang) if first_letter else text


@dataclass(frozen=True)
class LinkTarget:
    """What a ``[[target]]`` points to. ``kind`` is one of:

    - ``"article"``: main namespace; ``title`` is the normalised title (the anchor target)
    - ``"category"`` / ``"file"``: category or file/media inclusion (``leading_colon`` True: a plain link to it)
    - ``"language"``: a language link (``[[fr:Titre]]``, not displayed); ``"interwiki"``: other wiki, displayed
    - ``"namespace"``: another namespace of this wiki (Wikipedia:, Help:, Template: ...)
    - ``"fragment"``: only ``#section`` (a link within the page); ``"invalid"``: empty or illegal title
    """
    kind: str
    title: str
    namespace: int = 0
    fragment: str = ""
    prefix: str = ""
    leading_colon: bool = False


def classify_link(raw: str, table: NamespaceTable) -> LinkTarget:
    """Classify and normalise the target of an internal link as MediaWiki would resolve it."""
    text = _clean(raw)
    fragment = ""
    if "#" in text:
        text, fragment = text.split("#", 1)
        text = text.rstrip()
    leading_colon = text.startswith(":")
    if leading_colon:
        text = text[1:].lstrip()
    if not text:
        return LinkTarget("fragment" if fragment else "invalid", "", fragment=fragment,
                          leading_colon=leading_colon)
    if _ILLEGAL_RE.search(text):
        return LinkTarget("invalid", text, leading_colon=leading_colon)
    if ":" in text:
        prefix, rest = text.split(":", 1)
        prefix, rest = prefix.strip(), rest.strip()
        ns = table.namespace_of(prefix)
        if ns is not None and ns != 0:
            kind = "category" if ns == NS_CATEGORY else "file" if ns in (NS_FILE, NS_MEDIA) else "namespace"
            first = ns not in table.case_sensitive
            name = table.title_names.get(ns, prefix)
            title = f"{name}:{ucfirst(rest, table.lang) if first else rest}"
            return LinkTarget(kind, title, namespace=ns, fragment=fragment, prefix=prefix,
                              leading_colon=leading_colon)
        lowered = prefix.lower()
        if lowered in WIKIPEDIA_LANGUAGES:
            # Without a leading colon a language link goes to the sidebar; with one it is an inline link.
            kind = "interwiki" if leading_colon else "language"
            return LinkTarget(kind, rest, fragment=fragment, prefix=lowered, leading_colon=leading_colon)
        if lowered in INTERWIKI_PREFIXES:
            return LinkTarget("interwiki", rest, fragment=fragment, prefix=lowered, leading_colon=leading_colon)
    first = NS_MAIN not in table.case_sensitive
    return LinkTarget("article", ucfirst(text, table.lang) if first else text, fragment=fragment,
                      leading_colon=leading_colon)


_PAREN_TAIL_RE = re.compile(r"\s*[(（][^()（）]*[)）]\s*$")


def pipe_trick(raw_target: str) -> str:
    """The text MediaWiki shows for ``[[target|]]``: no namespace/interwiki prefix, no trailing
    ``(qualifier)``, else nothing after the first comma. ``"Mercury (planet)"`` → ``"Mercury"``,
    ``"Help:Contents"`` → ``"Contents"``, ``"Seattle, Washington"`` → ``"Seattle"``."""
    text = _clean(raw_target).lstrip(":")
    if ":" in text:
        text = text.split(":", 1)[1].strip()
    stripped = _PAREN_TAIL_RE.sub("", text)
    if stripped != text and stripped:
        return stripped
    if ", " in text:
        return text.split(", ", 1)[0]
    if "，" in text:
        return text.split("，", 1)[0]
    return text


_SUBST_RE = re.compile(r"^\s*(?:safesubst|subst|msgnw|msg|raw)\s*:", re.I)


def template_name(raw: str, table: Optional[NamespaceTable] = None) -> str:
    """Normalised template name: ``subst:`` etc. and a ``Template:`` prefix (any language) removed, comments
    and whitespace cleaned, first letter upper-cased. ``"  template:disambig "`` → ``"Disambig"``."""
    text = re.sub(r"<!--.*?-->", "", raw, flags=re.S)
    text = _SUBST_RE.sub("", text)
    text = _clean(text)
    if ":" in text:
        prefix, rest = text.split(":", 1)
        key = normalize_namespace_name(prefix)
        ns = table.names.get(key) if table is not None else (10 if key == "template" else None)
        if ns == NS_TEMPLATE:
            text = rest.strip()
    return ucfirst(text, table.lang if table is not None else "en")


# ---------------------------------------------------------------------------------------------------------------
# Disambiguation pages
# ---------------------------------------------------------------------------------------------------------------
# Per language: (disambiguation templates, title qualifiers). Template names are compared after
# template_name() normalisation and case-folding; qualifiers are matched as a trailing "(…)" of the title,
# case-folded. English also has the families "... disambiguation" and "...dis" (hndis, geodis, ...), matched
# by rule in is_disambiguation(). Entries marked "# ?" are from memory and less certain than the others.
# Independently of this table, a page whose wikitext contains the magic word __DISAMBIG__ (used on most
# wikis by the Disambiguator extension, usually through the templates) is a disambiguation page.

DISAMBIGUATION: Dict[str, Tuple[Tuple[str, ...], Tuple[str, ...]]] = {
    "ar": (("توضيح", "صفحة توضيح", "Disambig", "Disambiguation"), ("توضيح",)),
    "bn": (("দ্ব্যর্থতা নিরসন", "Disambig", "Disambiguation", "দ্ব্যর্থতানিরসন"), ("দ্ব্যর্থতা নিরসন",)),  # ?
    "de": (("Begriffsklärung", "BKL", "Disambiguation", "Begriffsklärungsseite"), ("Begriffsklärung",)),
    "el": (("Αποσαφήνιση", "Disambig", "Disambiguation", "Αποσαφ"), ("αποσαφήνιση",)),
    "en": (("Disambiguation", "Disambig", "Dab", "Disamb", "Disambiguation page", "Hndis", "Geodis", "Shipindex",
            "Set index article", "Surname", "Given name", "Hospitaldis", "Letter-NumberCombDisambig",
            "Mathdab", "Numberdis", "Schooldis", "Roaddis", "Chinese title disambiguation", "Species Latin name"
            " disambiguation", "Mountainindex", "Place name disambiguation", "Human name disambiguation",
            "Dbig", "Disambig-cleanup", "Disambiguation cleanup", "Airport disambiguation", "Callsigndis",
            "Caselawindex", "Genus disambiguation", "Lakeindex", "Sportindex"),
           ("disambiguation",)),
    "es": (("Desambiguación", "Desambig", "Des", "Disambig", "Disambiguation", "Homonimia"),
           ("desambiguación",)),
    "fi": (("Täsmennyssivu", "Täsmennys", "Disambig", "Disambiguation"), ("täsmennyssivu",)),
    "fr": (("Homonymie", "Patronymie", "Bandeau homonymie", "Homonymie de personnes", "Toponymie",
            "Disambig", "Disambiguation", "Batailles homonymes", "Homonymie bateau", "Paronymie"),
           ("homonymie", "homonymes")),
    "hi": (("बहुविकल्पी", "बहुविकल्पी शब्द", "Disambig", "Disambiguation"), ("बहुविकल्पी",)),  # ?
    "id": (("Disambig", "Disambiguasi", "Disambiguation", "Dab", "Disambig info", "Nama orang"),
           ("disambiguasi",)),
    "it": (("Disambigua", "Disambig", "Disambiguation", "Ombra"), ("disambigua",)),
    "ja": (("Aimai", "曖昧さ回避", "人名の曖昧さ回避", "地名の曖昧さ回避", "Disambig", "Dab", "Disambiguation"),
           ("曖昧さ回避",)),
    "ko": (("동음이의", "동음이의어", "Disambig", "Disambiguation", "지명 동음이의", "인명 동음이의"),
           ("동음이의",)),
    "nl": (("Dp", "Dpintro", "Disambig", "Disambiguation", "Dpbeschrijving"), ("doorverwijspagina",)),
    "pl": (("Ujednoznacznienie", "Disambig", "Disambiguation", "Strona ujednoznaczniająca"),
           ("ujednoznacznienie",)),
    "pt": (("Desambiguação", "Desambig", "Disambig", "Disambiguation", "Dab"), ("desambiguação",)),
    "ru": (("Неоднозначность", "Многозначность", "Disambig", "Disambiguation", "Неоднозначность/ссылки",
            "Список однофамильцев", "Однофамильцы", "Список тёзок"), ("значения",)),
    "sv": (("Förgrening", "Gren", "Disambig", "Disambiguation", "Robotskapad förgrening", "Efternamn",
            "Förnamn"), ("olika betydelser", "förgrening")),
    "sw": (("Maana", "Disambig", "Disambiguation"), ("maana",)),  # ?
    "te": (("అయోమయ నివృత్తి", "అయోమయనివృత్తి", "Disambig", "Disambiguation"), ("అయోమయ నివృత్తి",)),  # ?
    "th": (("แก้ความกำกวม", "Disambig", "Disambiguation"), ("แก้ความกำกวม",)),
    "tr": (("Anlam ayrımı", "Anlam ayrım", "Disambig", "Disambiguation", "Kişi adı"), ("anlam ayrımı",)),
    "vi": (("Trang định hướng", "Định hướng", "Disambig", "Disambiguation", "TLĐH", "Tên người"),
           ("định hướng",)),
    "zh": (("Disambig", "Disambiguation", "消歧义", "消歧義", "消歧义页", "Dab", "Shortpages", "Hndis"),
           ("消歧义", "消歧義")),
}

_DISAMBIG_TEMPLATES: Dict[str, FrozenSet[str]] = {
    lang: frozenset(t.casefold() for t in templates) for lang, (templates, _) in DISAMBIGUATION.items()}
_DISAMBIG_TITLE_RE: Dict[str, "re.Pattern[str]"] = {
    lang: re.compile(r"[(（]\s*(?:%s)\s*[)）]\s*$" % "|".join(re.escape(q) for q in quals), re.I)
    for lang, (_, quals) in DISAMBIGUATION.items()}
_EN_DIS_FAMILY_RE = re.compile(r"^(?:[a-z]+dis|[a-z ]+ disambiguation)$", re.I)


def is_disambiguation(title: str, templates: Iterable[str] = (), lang: str = "en",
                      magic_words: Iterable[str] = ()) -> bool:
    """Is this page a disambiguation page? ``templates`` are :func:`template_name`-normalised names used on
    the page (``WikiText.templates``), ``magic_words`` the page's behaviour switches (``WikiText.magic_words``).

    The title check is per language; the template check also accepts the English names on every wiki
    (``{{Disambig}}`` redirects exist almost everywhere)."""
    base = lang.split("-")[0]
    if any(w.upper() in ("__DISAMBIG__", "__DISAMBIGUATION__") for w in magic_words):
        return True
    known = _DISAMBIG_TEMPLATES.get(base, frozenset()) | _DISAMBIG_TEMPLATES["en"]
    for name in templates:
        folded = name.casefold()
        if folded in known:
            return True
        if base == "en" and _EN_DIS_FAMILY_RE.match(folded) and folded not in _EN_DIS_FALSE_POSITIVES:
            return True
    pattern = _DISAMBIG_TITLE_RE.get(base)
    if pattern is not None and pattern.search(title):
        return True
    return base != "en" and _DISAMBIG_TITLE_RE["en"].search(title) is not None


# "...dis" family members that are not disambiguation templates.
_EN_DIS_FALSE_POSITIVES = frozenset({"redis", "this", "ais", "cannabis", "genesis", "tennis", "paris", "davis",
                                     "dabbrev", "dablink", "dabsearch"})
