"""validate(): every rule, with the platforms' exact numbers and the librarian-facing wording."""

import pytest
from siar_platforms import Content, Media, Platform, Rule, Violation, rules_for, validate

MB = 2**20
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"


def image(**kw) -> Media:
    return Media(kind="image", url="https://cdn.example.org/a.jpg", **kw)


def video(**kw) -> Media:
    return Media(kind="video", url="https://cdn.example.org/a.mp4", **kw)


def gif(**kw) -> Media:
    return Media(kind="gif", url="https://cdn.example.org/a.gif", **kw)


def rules_of(violations: list[Violation]) -> list[str]:
    return [v.rule for v in violations]


def messages(violations: list[Violation]) -> list[str]:
    return [v.message for v in violations]


def only(violations: list[Violation]) -> Violation:
    assert len(violations) == 1, violations
    return violations[0]


# What each platform minimally needs besides text, so text rules can be tested alone.
NEEDS = {
    "instagram": {"media": (image(),)},
    "youtube": {"media": (video(),), "title": "Story time"},
    "tiktok": {"media": (video(),)},
}


def post(platform: str, text: str, **kw) -> Content:
    return Content(text=text, **{**NEEDS.get(platform, {}), **kw})


# -- text length ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("platform", "limit", "unit_char", "message"),
    [
        ("facebook", 63_206, "a", "Facebook: 63,207 of 63,206 characters"),
        ("instagram", 2_200, "a", "Instagram: 2,201 of 2,200 characters"),
        ("threads", 500, "a", "Threads: 501 of 500 characters"),
        ("x", 280, "a", "X: 281 of 280 characters"),
        ("youtube", 5_000, "a", "YouTube: 5,001 of 5,000 bytes in the description"),
        ("tiktok", 2_200, "a", "TikTok: 2,201 of 2,200 characters"),
        ("telegram", 4_096, "a", "Telegram: 4,097 of 4,096 characters"),
        ("mastodon", 500, "a", "Mastodon: 501 of 500 characters"),
        ("bluesky", 300, "a", "Bluesky: 301 of 300 characters"),
        ("linkedin", 3_000, "a", "LinkedIn: 3,001 of 3,000 characters"),
    ],
)
def test_text_at_the_limit_passes_and_one_more_fails(platform: str, limit: int, unit_char: str, message: str) -> None:
    assert validate(platform, post(platform, unit_char * limit)) == []
    v = only(validate(platform, post(platform, unit_char * (limit + 1))))
    assert (v.platform, v.rule, v.actual, v.limit, v.message) == (Platform(platform), Rule.TEXT_TOO_LONG, limit + 1, limit, message)


def test_x_message_example() -> None:
    v = only(validate("x", Content("a" * 297)))
    assert v.message == "X: 297 of 280 characters"
    assert (v.actual, v.limit) == (297, 280)


def test_x_counts_cjk_double_and_urls_as_23() -> None:
    assert validate("x", Content("の" * 140)) == []
    assert only(validate("x", Content("の" * 141))).message == "X: 282 of 280 characters"
    long_url = "https://example.org/" + "a" * 300
    assert validate("x", Content("a" * 256 + " " + long_url)) == []  # 256 + 1 + 23 = 280
    assert only(validate("x", Content("a" * 257 + " " + long_url))).actual == 281


def test_x_emoji_sequences_count_two() -> None:
    assert validate("x", Content(FAMILY * 140)) == []
    assert only(validate("x", Content(FAMILY * 140 + "a"))).actual == 281
    assert validate("x", Content("🇮🇩" * 140)) == []


def test_bluesky_counts_graphemes() -> None:
    text = "e\u0301" * 300  # 600 code points, 300 graphemes
    assert validate("bluesky", Content(text)) == []
    assert only(validate("bluesky", Content(text + "!"))).actual == 301
    assert validate("bluesky", Content(FAMILY * 100)) == []  # 100 graphemes, 2,500 bytes


def test_bluesky_byte_limit() -> None:
    text = FAMILY * 121  # 121 graphemes but 25 bytes each: 3,025 bytes
    v = only(validate("bluesky", Content(text)))
    assert (v.rule, v.actual, v.limit) == (Rule.TEXT_TOO_LONG, 3_025, 3_000)
    assert v.message == (
        "Bluesky: 3,025 of 3,000 bytes (letters outside basic Latin and emoji take several bytes each)"
    )


def test_mastodon_urls_and_mentions() -> None:
    url = "https://perpustakaan.example.org/" + "x" * 200
    text = "a" * (500 - 24) + " " + url  # 476 + 1 + 23 = 500
    assert validate("mastodon", Content(text)) == []
    assert only(validate("mastodon", Content("a" + text))).actual == 501
    mention = "@budi@perpustakaan.social.example.org"
    text = "a" * (500 - 6) + " " + mention  # "@budi" counts 5
    assert validate("mastodon", Content(text)) == []


def test_mastodon_instance_limit() -> None:
    text = "a" * 800
    assert only(validate("mastodon", Content(text))).message == "Mastodon: 800 of 500 characters"
    assert validate("mastodon", Content(text), limits={"max_characters": 1000}) == []
    v = only(validate("mastodon", Content("a" * 1001), limits={"max_characters": 1000}))
    assert v.message == "Mastodon: 1,001 of 1,000 characters"
    # characters_reserved_per_url from the instance
    text = "a" * 470 + " https://example.org"
    assert validate("mastodon", Content(text)) == []  # 470 + 1 + 23
    assert only(validate("mastodon", Content(text), limits={"characters_reserved_per_url": 30})).actual == 501


def test_threads_emoji_count_their_utf8_bytes() -> None:
    assert validate("threads", Content("😀" * 125)) == []  # 125 × 4 = 500
    v = only(validate("threads", Content("😀" * 125 + "a")))
    assert (v.actual, v.message) == (501, "Threads: 501 of 500 characters")
    assert only(validate("threads", Content(FAMILY * 20 + "a"))).actual == 501  # 20 × 25 + 1


def test_telegram_caption_versus_text() -> None:
    text = "a" * 1_025
    assert validate("telegram", Content(text)) == []
    v = only(validate("telegram", Content(text, media=(image(),))))
    assert (v.rule, v.actual, v.limit) == (Rule.TEXT_TOO_LONG, 1_025, 1_024)
    assert v.message == (
        "Telegram: 1,025 of 1,024 characters (with an image or video the text is a caption, "
        "which may have 1,024; a text-only post may have 4,096)"
    )
    assert validate("telegram", Content("a" * 1_024, media=(image(), video()))) == []
    # UTF-16: an emoji counts 2
    assert validate("telegram", Content("😀" * 512, media=(image(),))) == []
    assert only(validate("telegram", Content("😀" * 512 + "a", media=(image(),)))).actual == 1_025
    v = only(validate("telegram", Content("a" * 4_097)))
    assert v.message == "Telegram: 4,097 of 4,096 characters"


def test_tiktok_counts_utf16() -> None:
    assert validate("tiktok", post("tiktok", "😀" * 1_100)) == []
    assert only(validate("tiktok", post("tiktok", "😀" * 1_100 + "a"))).actual == 2_201


def test_youtube_description_bytes() -> None:
    assert validate("youtube", post("youtube", "é" * 2_500)) == []  # 5,000 bytes
    v = only(validate("youtube", post("youtube", "é" * 2_500 + "a")))
    assert v.message == "YouTube: 5,001 of 5,000 bytes in the description"


def test_indonesian_post_on_every_platform() -> None:
    text = (
        "Perpustakaan Kota membuka kelas menulis cerpen untuk remaja! 📚✍️ "
        "Daftar gratis di https://perpusnas.go.id/kelas sebelum 30 Juni. #AyoMembaca #HariBukuNasional"
    )
    for platform in Platform:
        assert validate(platform, post(platform.value, text)) == [], platform


# -- empty text ------------------------------------------------------------------------------------


@pytest.mark.parametrize("platform", ["facebook", "threads", "x", "telegram", "mastodon", "bluesky", "linkedin"])
@pytest.mark.parametrize("text", ["", "   \n\t"])
def test_empty_text_only_post_is_refused(platform: str, text: str) -> None:
    v = only(validate(platform, Content(text)))
    assert v.rule == Rule.TEXT_EMPTY
    assert v.message.endswith(": the post is empty; write some text or attach media")


@pytest.mark.parametrize("platform", list(Platform))
def test_media_only_post_is_fine_where_media_is_allowed(platform: Platform) -> None:
    media = (image(),) if platform is Platform.LINKEDIN else (video(),)  # no LinkedIn video yet
    kw = {"title": "Judul"} if platform is Platform.YOUTUBE else {}
    assert validate(platform, Content("", media=media, **kw)) == []


def test_empty_post_on_a_media_platform_reports_the_media_only() -> None:
    assert rules_of(validate("instagram", Content(""))) == [Rule.MEDIA_REQUIRED]


# -- hashtags ------------------------------------------------------------------------------------


def test_instagram_hashtags() -> None:
    tags = " ".join(f"#buku{i}" for i in range(30))
    assert validate("instagram", post("instagram", tags)) == []
    v = only(validate("instagram", post("instagram", tags + " #satu")))
    assert (v.rule, v.actual, v.limit) == (Rule.TOO_MANY_HASHTAGS, 31, 30)
    assert v.message == "Instagram: 31 hashtags, at most 30"
    # numbers and URL fragments are not hashtags
    assert validate("instagram", post("instagram", tags + " #2024 https://example.com/#bagian")) == []
    # other platforms do not limit them
    assert validate("x", Content(" ".join(f"#t{i}" for i in range(40)))) == []


# -- media required and kinds ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("platform", "message"),
    [
        ("instagram", "Instagram needs at least one image or video"),
        ("youtube", "YouTube needs a video"),
        ("tiktok", "TikTok needs at least one image or video"),
    ],
)
def test_media_required(platform: str, message: str) -> None:
    kw = {"title": "Judul"} if platform == "youtube" else {}
    v = only(validate(platform, Content("Halo", **kw)))
    assert (v.rule, v.actual, v.limit, v.message) == (Rule.MEDIA_REQUIRED, 0, 1, message)


@pytest.mark.parametrize(
    ("platform", "media", "message"),
    [
        ("instagram", gif(), "Instagram does not accept GIFs; it takes images or videos"),
        ("threads", gif(), "Threads does not accept GIFs; it takes images or videos"),
        ("bluesky", gif(), "Bluesky does not accept GIFs; it takes images or videos"),
        ("tiktok", gif(), "TikTok does not accept GIFs; it takes images or videos"),
        ("youtube", image(), "YouTube does not accept images; it takes videos"),
    ],
)
def test_unsupported_kinds(platform: str, media: Media, message: str) -> None:
    kw = {"title": "Judul"} if platform == "youtube" else {}
    v = only(validate(platform, Content("Halo", media=(media,), **kw)))
    assert (v.rule, v.actual, v.media_index, v.message) == (Rule.UNSUPPORTED_MEDIA, media.kind, 0, message)


def test_unknown_kind_and_position() -> None:
    odd = Media(kind="audio", url="u")  # type: ignore[arg-type]
    v = only(validate("x", Content("Halo", media=(image(), odd))))
    assert v.message == "X does not accept attachments of type 'audio' (attachment 2)"
    assert v.media_index == 1


def test_mime_types() -> None:
    v = only(validate("instagram", post("instagram", "Halo", media=(image(mime_type="image/png"),))))
    assert (v.rule, v.actual) == (Rule.UNSUPPORTED_MEDIA, "image/png")
    assert v.message == "Instagram accepts only JPEG images; the image is image/png"
    assert validate("instagram", post("instagram", "Halo", media=(image(mime_type="IMAGE/JPEG"),))) == []
    v = only(validate("bluesky", Content("Halo", media=(video(mime_type="video/quicktime"),))))
    assert v.message == "Bluesky accepts only MP4 videos; the video is video/quicktime"
    assert validate("x", Content("Halo", media=(image(mime_type="image/png"),))) == []


# -- media counts ----------------------------------------------------------------------------------


def test_x_four_photos_or_one_gif_or_one_video() -> None:
    assert validate("x", Content("Halo", media=(image(),) * 4)) == []
    v = only(validate("x", Content("Halo", media=(image(),) * 5)))
    assert (v.rule, v.actual, v.limit, v.message) == (Rule.TOO_MANY_MEDIA, 5, 4, "X: 5 images, at most 4")
    assert only(validate("x", Content("Halo", media=(video(), video())))).message == "X: 2 videos, at most 1"
    assert only(validate("x", Content("Halo", media=(gif(), gif())))).message == "X: 2 GIFs, at most 1"
    v = only(validate("x", Content("Halo", media=(image(), video()))))
    assert (v.rule, v.actual, v.limit) == (Rule.MIXED_MEDIA, "image, video", "video")
    assert v.message == "X: a video must be posted on its own, without other attachments"
    assert only(validate("x", Content("Halo", media=(image(), gif())))).message == (
        "X: a GIF must be posted on its own, without other attachments"
    )


def test_mastodon_four_attachments_video_alone() -> None:
    assert validate("mastodon", Content("Halo", media=(image(), image(), gif(), image()))) == []
    v = only(validate("mastodon", Content("Halo", media=(image(),) * 5)))
    assert v.message == "Mastodon: 5 attachments, at most 4"
    assert validate("mastodon", Content("Halo", media=(image(),) * 5), limits={"max_media_attachments": 6}) == []
    assert rules_of(validate("mastodon", Content("Halo", media=(video(), image())))) == [Rule.MIXED_MEDIA]


def test_bluesky_four_images_or_one_video() -> None:
    assert validate("bluesky", Content("Halo", media=(image(),) * 4)) == []
    assert only(validate("bluesky", Content("Halo", media=(image(),) * 5))).message == "Bluesky: 5 images, at most 4"
    assert rules_of(validate("bluesky", Content("Halo", media=(image(), video())))) == [Rule.MIXED_MEDIA]


def test_instagram_carousel_up_to_ten() -> None:
    assert validate("instagram", Content("Halo", media=(image(), video()) * 5)) == []
    v = only(validate("instagram", Content("Halo", media=(image(),) * 11)))
    assert (v.actual, v.limit, v.message) == (11, 10, "Instagram: 11 attachments, at most 10")


def test_telegram_album_up_to_ten_gif_alone() -> None:
    assert validate("telegram", Content("Halo", media=(image(), video()) * 5)) == []
    assert only(validate("telegram", Content("Halo", media=(image(),) * 11))).message == (
        "Telegram: 11 attachments, at most 10"
    )
    assert rules_of(validate("telegram", Content("Halo", media=(gif(), image())))) == [Rule.MIXED_MEDIA]
    assert validate("telegram", Content("Halo", media=(gif(),))) == []


def test_threads_carousel_up_to_twenty() -> None:
    assert validate("threads", Content("Halo", media=(image(),) * 20)) == []
    assert only(validate("threads", Content("Halo", media=(image(),) * 21))).message == (
        "Threads: 21 attachments, at most 20"
    )


def test_tiktok_one_video_or_up_to_35_photos() -> None:
    assert validate("tiktok", Content("Halo", media=(image(),) * 35)) == []
    assert only(validate("tiktok", Content("Halo", media=(image(),) * 36))).message == "TikTok: 36 images, at most 35"
    assert only(validate("tiktok", Content("Halo", media=(video(), video())))).message == "TikTok: 2 videos, at most 1"
    assert rules_of(validate("tiktok", Content("Halo", media=(video(), image())))) == [Rule.MIXED_MEDIA]


def test_youtube_exactly_one_video() -> None:
    v = only(validate("youtube", Content("Halo", title="Judul", media=(video(), video()))))
    assert v.message == "YouTube: 2 videos, at most 1"


def test_linkedin_up_to_20_images_and_no_video_yet() -> None:
    assert validate("linkedin", Content("Halo", media=(image(),) * 20)) == []
    assert only(validate("linkedin", Content("Halo", media=(image(),) * 21))).message == "LinkedIn: 21 images, at most 20"
    # The adapter does not send videos yet: refused when the post is scheduled, not when it is due.
    v = only(validate("linkedin", Content("Halo", media=(video(),))))
    assert (v.rule, v.message) == (Rule.UNSUPPORTED_MEDIA, "LinkedIn does not accept videos; it takes images or GIFs")
    assert rules_of(validate("linkedin", Content("Halo", media=(video(), image())))) == [Rule.UNSUPPORTED_MEDIA]
    assert rules_for("linkedin").max_videos == 0


def test_facebook_many_photos_video_alone() -> None:
    assert validate("facebook", Content("Halo", media=(image(),) * 30)) == []
    assert rules_of(validate("facebook", Content("Halo", media=(video(), image())))) == [Rule.MIXED_MEDIA]


# -- media sizes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("platform", "media", "limit", "message"),
    [
        ("x", image(size_bytes=5 * MB + 1), 5 * MB, "X: the image is 5,242,881 bytes, at most 5,242,880 bytes"),
        ("x", image(size_bytes=6_500_000), 5 * MB, "X: the image is 6.2 MB, at most 5 MB"),
        ("x", gif(size_bytes=16 * MB), 15 * MB, "X: the GIF is 16 MB, at most 15 MB"),
        ("x", video(size_bytes=600 * MB), 512 * MB, "X: the video is 600 MB, at most 512 MB"),
        ("instagram", image(size_bytes=9 * MB), 8 * MB, "Instagram: the image is 9 MB, at most 8 MB"),
        ("instagram", video(size_bytes=2 * 2**30), 2**30, "Instagram: the video is 2 GB, at most 1 GB"),
        ("threads", image(size_bytes=9 * MB), 8 * MB, "Threads: the image is 9 MB, at most 8 MB"),
        ("facebook", image(size_bytes=5 * MB), 4 * MB, "Facebook: the image is 5 MB, at most 4 MB"),
        ("telegram", image(size_bytes=12_000_000), 10_000_000, "Telegram: the image is 12 MB, at most 10 MB"),
        ("telegram", video(size_bytes=60_000_000), 50_000_000, "Telegram: the video is 60 MB, at most 50 MB"),
        ("mastodon", image(size_bytes=10_485_761), 10_485_760, "Mastodon: the image is 10,485,761 bytes, at most 10,485,760 bytes"),
        ("mastodon", gif(size_bytes=11 * MB), 10_485_760, "Mastodon: the GIF is 11 MB, at most 10 MB"),
        ("mastodon", video(size_bytes=50 * MB), 41_943_040, "Mastodon: the video is 50 MB, at most 40 MB"),
        ("bluesky", image(size_bytes=2_500_000), 2_000_000, "Bluesky: the image is 2.5 MB, at most 2 MB"),
        ("bluesky", video(size_bytes=300_000_001), 300_000_000, "Bluesky: the video is 300,000,001 bytes, at most 300,000,000 bytes"),
        ("tiktok", video(size_bytes=5 * 2**30), 4 * 2**30, "TikTok: the video is 5 GB, at most 4 GB"),
    ],
)
def test_media_too_large(platform: str, media: Media, limit: int, message: str) -> None:
    v = only(validate(platform, Content("Halo", media=(media,))))
    assert (v.rule, v.actual, v.limit, v.media_index, v.message) == (
        Rule.MEDIA_TOO_LARGE, media.size_bytes, limit, 0, message,
    )


def test_size_at_the_limit_passes_and_unknown_size_is_not_checked() -> None:
    assert validate("x", Content("Halo", media=(image(size_bytes=5 * MB),))) == []
    assert validate("bluesky", Content("Halo", media=(image(size_bytes=2_000_000),))) == []
    assert validate("x", Content("Halo", media=(image(size_bytes=None),))) == []


def test_instance_size_limits() -> None:
    big = image(size_bytes=12 * MB)
    assert rules_of(validate("mastodon", Content("Halo", media=(big,)))) == [Rule.MEDIA_TOO_LARGE]
    assert validate("mastodon", Content("Halo", media=(big,)), limits={"image_size_limit": 16 * MB}) == []


def test_media_position_in_messages() -> None:
    found = validate("x", Content("Halo", media=(image(), image(size_bytes=6 * MB))))
    v = only(found)
    assert (v.media_index, v.message) == (1, "X: image 2 is 6 MB, at most 5 MB")


# -- video durations ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("platform", "seconds", "rule", "limit", "message"),
    [
        ("instagram", 2.0, Rule.VIDEO_TOO_SHORT, 3, "Instagram: the video is 2 s long, at least 3 s"),
        ("instagram", 901.0, Rule.VIDEO_TOO_LONG, 900, "Instagram: the video is 15 min 1 s long, at most 15 min"),
        ("tiktok", 2.5, Rule.VIDEO_TOO_SHORT, 3, "TikTok: the video is 2.5 s long, at least 3 s"),
        ("tiktok", 750.0, Rule.VIDEO_TOO_LONG, 600, "TikTok: the video is 12 min 30 s long, at most 10 min"),
        ("x", 0.4, Rule.VIDEO_TOO_SHORT, 0.5, "X: the video is 0.4 s long, at least 0.5 s"),
        ("x", 141.0, Rule.VIDEO_TOO_LONG, 140, "X: the video is 2 min 21 s long, at most 2 min 20 s"),
        ("threads", 301.0, Rule.VIDEO_TOO_LONG, 300, "Threads: the video is 5 min 1 s long, at most 5 min"),
        ("youtube", 3_700.0, Rule.VIDEO_TOO_LONG, 900, "YouTube: the video is 1 h 1 min 40 s long, at most 15 min"),
        ("instagram", 900.2, Rule.VIDEO_TOO_LONG, 900, "Instagram: the video is 900.2 s long, at most 900 s"),
    ],
)
def test_video_duration(platform: str, seconds: float, rule: Rule, limit: float, message: str) -> None:
    kw = {"title": "Judul"} if platform == "youtube" else {}
    v = only(validate(platform, Content("Halo", media=(video(duration_seconds=seconds),), **kw)))
    assert (v.rule, v.actual, v.limit, v.media_index, v.message) == (rule, seconds, limit, 0, message)


def test_duration_at_the_limits_and_unknown() -> None:
    for seconds in (3.0, 900.0, None):
        assert validate("instagram", Content("Halo", media=(video(duration_seconds=seconds),))) == []
    assert validate("tiktok", Content("Halo", media=(video(duration_seconds=600),))) == []
    # TikTok's creator_info tells each account's maximum
    assert rules_of(
        validate("tiktok", Content("Halo", media=(video(duration_seconds=400),)), limits={"max_video_post_duration_sec": 300})
    ) == [Rule.VIDEO_TOO_LONG]
    # a verified YouTube channel may upload longer videos
    long = Content("Halo", title="Judul", media=(video(duration_seconds=3_600),))
    assert validate("youtube", long, limits={"max_video_seconds": 43_200}) == []
    # platforms without a duration rule
    assert validate("mastodon", Content("Halo", media=(video(duration_seconds=99_999),))) == []


# -- titles ------------------------------------------------------------------------------------------


def test_youtube_title() -> None:
    v = only(validate("youtube", Content("Halo", media=(video(),))))
    assert (v.rule, v.message) == (Rule.TITLE_REQUIRED, "YouTube needs a title")
    assert rules_of(validate("youtube", Content("Halo", media=(video(),), title="  "))) == [Rule.TITLE_REQUIRED]
    assert validate("youtube", Content("Halo", media=(video(),), title="j" * 100)) == []
    v = only(validate("youtube", Content("Halo", media=(video(),), title="j" * 101)))
    assert (v.rule, v.actual, v.limit, v.message) == (
        Rule.TITLE_TOO_LONG, 101, 100, "YouTube: 101 of 100 characters in the title",
    )
    v = only(validate("youtube", Content("Halo", media=(video(),), title="<Dongeng> hari ini")))
    assert (v.rule, v.actual, v.message) == (
        Rule.FORBIDDEN_CHARACTERS, "<>", "YouTube does not allow < or > in the title",
    )


def test_youtube_description_forbids_angle_brackets() -> None:
    v = only(validate("youtube", post("youtube", "Usia 5 > 3")))
    assert (v.rule, v.actual, v.message) == (Rule.FORBIDDEN_CHARACTERS, ">", "YouTube does not allow > in the description")
    assert validate("x", Content("Usia 5 > 3 <3")) == []


def test_tiktok_title() -> None:
    assert validate("tiktok", Content("", media=(video(),))) == []  # optional
    assert validate("tiktok", Content("", media=(video(),), title="😀" * 1_100)) == []  # 2,200 UTF-16 units
    v = only(validate("tiktok", Content("", media=(video(),), title="😀" * 1_100 + "a")))
    assert (v.rule, v.actual, v.limit, v.message) == (
        Rule.TITLE_TOO_LONG, 2_201, 2_200, "TikTok: 2,201 of 2,200 characters in the title",
    )
    # photo posts have a 90-character title
    assert validate("tiktok", Content("", media=(image(),), title="j" * 90)) == []
    v = only(validate("tiktok", Content("", media=(image(),), title="j" * 91)))
    assert v.message == "TikTok: 91 of 90 characters in the title of a photo post"


def test_titles_are_ignored_where_platforms_have_none() -> None:
    assert validate("x", Content("Halo", title="<" * 500)) == []


# -- alt text ----------------------------------------------------------------------------------------


def test_alt_text_limits() -> None:
    assert validate("mastodon", Content("Halo", media=(image(alt_text="a" * 1_500),))) == []
    v = only(validate("mastodon", Content("Halo", media=(image(alt_text="a" * 1_501),))))
    assert (v.rule, v.actual, v.limit, v.message) == (
        Rule.ALT_TEXT_TOO_LONG, 1_501, 1_500, "Mastodon: the description of the image has 1,501 characters, at most 1,500",
    )
    assert rules_of(validate("x", Content("Halo", media=(image(alt_text="a" * 1_001),)))) == [Rule.ALT_TEXT_TOO_LONG]


# -- several violations -----------------------------------------------------------------------------------


def test_all_violations_are_reported_in_order() -> None:
    content = Content(
        "a" * 2_300 + " " + " ".join(f"#t{i}" for i in range(31)),
        media=(gif(), image(size_bytes=9 * MB), video(duration_seconds=1.0)),
    )
    found = validate("instagram", content)
    assert rules_of(found) == [
        Rule.TEXT_TOO_LONG,
        Rule.TOO_MANY_HASHTAGS,
        Rule.UNSUPPORTED_MEDIA,
        Rule.MEDIA_TOO_LARGE,
        Rule.VIDEO_TOO_SHORT,
    ]
    assert [v.media_index for v in found] == [None, None, 0, 1, 2]
    assert messages(found)[2:] == [
        "Instagram does not accept GIFs (attachment 1); it takes images or videos",
        "Instagram: image 2 is 9 MB, at most 8 MB",
        "Instagram: video 3 is 1 s long, at least 3 s",
    ]


def test_platform_may_be_enum_or_string() -> None:
    assert validate(Platform.X, Content("a" * 281)) == validate("x", Content("a" * 281))
    with pytest.raises(ValueError):
        validate("friendster", Content("Halo"))


def test_violations_are_frozen() -> None:
    v = only(validate("x", Content("a" * 281)))
    with pytest.raises(AttributeError):
        v.message = "changed"  # type: ignore[misc]
    assert v.platform == "x" and v.rule == "text_too_long"  # StrEnums compare as strings
