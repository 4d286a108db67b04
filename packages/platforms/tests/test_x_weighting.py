"""X's weighted length (twitter-text v3). Expected values marked "conformance" are the
WeightedTweetsWithDiscountedEmojiCounterTest cases of twitter/twitter-text conformance/validate.yml."""

import pytest
from siar_platforms import x_weighted_length

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # 👨‍👩‍👧‍👦, 7 code points
ENGLAND = "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f"  # 🏴󠁧󠁢󠁥󠁮󠁧󠁿


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 0),
        ("This is a test.", 15),
        ("a" * 280, 280),
        ("Á", 1),  # Latin-1: weight 1
        ("ÁB", 2),
        ("ıłŋ", 3),  # Latin Extended-A, below U+10FF
        ("Жук", 3),  # Cyrillic, below U+10FF
        ("\u2000\u200d", 2),  # general punctuation spaces, ZWJ: weight 1
        ("\u2010\u201f", 2),  # dashes and quotes
        ("\u2032\u2037", 2),  # primes
        ("\u200e", 2),  # U+200E (left-to-right mark) is outside the ranges: weight 2
        ("\u2026", 2),  # … U+2026 is outside the ranges
        ("\u2066", 2),
    ],
)
def test_code_point_weights(text: str, expected: int) -> None:
    assert x_weighted_length(text) == expected


def test_cjk_counts_two_per_character() -> None:
    assert x_weighted_length("日本語") == 6
    assert x_weighted_length("저찀쯿쿿") == 8
    assert x_weighted_length("の" * 140) == 280
    assert x_weighted_length("の" * 141) == 282
    # conformance: "3 latin char + 160 CJK char"
    poem = (
        "故人西辞黄鹤楼，烟花三月下扬州。孤帆远影碧空尽，唯见长江天际流。朱雀桥边野草花，乌衣巷口夕阳斜。"
        "旧时王谢堂前燕，飞入寻常百姓家。朝辞白帝彩云间，千里江陵一日还。两岸猿声啼不住，轻舟已过万重山。"
        "泪湿罗巾梦不成，夜深前殿按歌声。红颜未老恩先断，斜倚薰笼坐到明。独在异乡为异客，每逢佳节倍思亲。"
        "遥知兄弟登高处，遍插茱萸少一人。"
    )
    assert len(poem) == 160
    assert x_weighted_length(poem) == 320
    assert x_weighted_length("the" + poem) == 323


def test_astral_characters_that_are_not_emoji_count_two() -> None:
    assert x_weighted_length("\U00010000\U0010ffff") == 4
    assert x_weighted_length("𝒜") == 2  # U+1D49C mathematical script A


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("😷", 2),
        ("😷👾😡🔥💩", 10),
        ("🐱" * 140, 280),  # conformance
        ("😷" * 160, 320),  # conformance
        ("🙋🏽", 2),  # skin tone modifier sequence
        ("🙋🏽👨\u200d🎤", 4),  # conformance (v3): modifier sequence + ZWJ profession
        (FAMILY, 2),  # ZWJ family of four: one emoji
        (FAMILY * 140, 280),  # conformance "140 family emoji"
        ("🇮🇩", 2),  # flag: two regional indicators, one emoji
        ("🇮🇩🇳🇱🇯🇵", 6),
        (ENGLAND, 2),  # subdivision flag: tag sequence
        ("🏳️\u200d🌈", 2),  # rainbow flag
        ("❤️", 2),  # heart + VS16
        ("❤️\u200d🔥", 2),
        ("1️⃣", 2),  # keycap
        ("#️⃣", 2),
        ("©", 1),  # © alone is a Latin-1 character
        ("©️", 2),  # © with VS16 is an emoji
        ("☺", 2),  # U+263A: weight 2 either way
        ("☺\ufe0e", 4),  # text presentation: not an emoji (twemoji-parser), 2 + 2
        ("🫠", 2),  # Unicode 14, newer than twemoji-parser's table
        ("🧑🏽\u200d🚀", 2),
        ("H🐱☺" + FAMILY, 7),
        ("Unicode 10.0 emoji: 🤪; 🧕; 🧕🏾; " + ENGLAND, 34),  # conformance
        ("Unicode 9.0 emoji: 🤠; 💃; 💃🏾", 29),  # conformance
    ],
)
def test_emoji_count_two_each_including_sequences(text: str, expected: int) -> None:
    assert x_weighted_length(text) == expected


def test_broken_zwj_sequence_counts_its_parts() -> None:
    # a dangling ZWJ is an ordinary character of weight 1
    assert x_weighted_length("👨\u200d") == 3
    assert x_weighted_length("😀\u200da") == 4


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("http://test.com", 23),
        ("https://test.com", 23),
        ("test.com", 23),
        ("Test https://test.com test https://test.com test.com test", 86),  # conformance
        ("https://www.twitter.com/aloha " * 10, 240),  # conformance
        ("https://example.com/" + "a" * 200, 23),  # a long URL still counts 23
        ("https://perpusnas.go.id/koleksi?id=1", 23),
        ("perpusnas.go.id", 23),
        ("perpusnas.go.id/koleksi", 23),
        ("Lihat https://example.com.", 6 + 23 + 1),  # trailing full stop is not part of the URL
        ("(https://example.com/a_(b))", 1 + 23 + 1),  # balanced parentheses stay in the URL
        ("\u2066\u202ahttp://foobar.پاکستان/\u202c\u2069", 31),  # conformance: IDN TLD
        ("randomurlrandomurlrandomurlrandomurlrandomurlrandomurlrandomurls.com", 68),  # 64-char label: not a URL
        ("file.py", 7),  # one label + ccTLD without a path is not a URL (twitter-text)
        ("t.co", 23),  # except .co and .tv
        ("budi@example.com", 16),  # an e-mail address is not a URL
        ("http://localhost/", 17),  # no TLD
        ("http://192.168.0.1/index.html", 23),
        ("http://256.1.2.3/", 17),  # invalid IPv4
    ],
)
def test_urls_count_23(text: str, expected: int) -> None:
    assert x_weighted_length(text) == expected


def test_url_length_is_configurable() -> None:
    assert x_weighted_length("see https://example.com", url_length=30) == 34


def test_cjk_url_host_limited_by_punycode_length() -> None:
    # conformance: a host whose punycode exceeds 63 characters is not a URL
    words = "あいうえおかきくけこ" * 12
    assert x_weighted_length(words + " http://" + "あいうえおかきくけこ" * 5 + "あいう.com") == 358
    assert x_weighted_length(words + " http://" + "あいうえおかきくけこ" * 5 + "あい.com") == 264


def test_nfc_normalisation() -> None:
    decomposed = "A\u0301"  # A + combining acute
    assert x_weighted_length(decomposed) == 1
    # conformance: "שּׁ" normalises to 3 characters (composition exclusions keep the marks)
    assert x_weighted_length("A\ufb2c") == 4
    # a Hangul syllable written as jamo composes into one character of weight 2
    assert x_weighted_length("\u1100\u1161") == 2


def test_indonesian_post() -> None:
    text = (
        "Perpustakaan Kota membuka kelas menulis cerpen untuk remaja! 📚✍️ "
        "Daftar gratis di perpusnas.go.id/kelas sebelum 30 Juni. #AyoMembaca #HariBukuNasional"
    )
    plain = text.replace("📚✍️", "").replace("perpusnas.go.id/kelas", "")
    assert x_weighted_length(text) == len(plain) + 2 + 2 + 23
    assert len(plain) == 126
    assert x_weighted_length(text) == 153
