"""The vocabulary tables and the engagement-rate definition (no database)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from siar_metrics import vocabulary
from siar_metrics.engagement import Rate, combined, rate
from siar_metrics.vocabulary import ACCOUNT, POST, VOCABULARY, has_post_insights, normalise

PLATFORMS_MD = Path(__file__).resolve().parents[4] / "shared" / "platforms.md"
DOCS = Path(__file__).resolve().parents[3] / "docs" / "metrics.md"
PLATFORMS = ("facebook", "instagram", "threads", "x", "youtube", "tiktok", "telegram", "whatsapp", "mastodon",
             "bluesky", "linkedin")


def test_every_platform_has_a_post_and_an_account_table():
    assert set(POST) == set(ACCOUNT) == set(PLATFORMS)
    for tables in (POST, ACCOUNT):
        for platform, mapping in tables.items():
            assert all(v is None or v in VOCABULARY for v in mapping.values()), platform
    # Audience is always followers; engagement never is.
    assert all(v in (None, "followers") for m in ACCOUNT.values() for v in m.values())
    assert all(v != "followers" for m in POST.values() for v in m.values())


@pytest.mark.skipif(not PLATFORMS_MD.exists(), reason="shared/platforms.md is not beside the repository")
def test_the_raw_names_are_the_ones_platforms_md_lists():
    text = PLATFORMS_MD.read_text()
    # Names the table takes from elsewhere than platforms.md item 6 (each is explained in the table).
    elsewhere = {"comments", "shares", "post_media_view", "quotes_count", "media_count", "following_count", "tweet_count", "statuses_count",
                 "followers_count", "page_daily_follows", "member_count", "engagement",
                 # Facebook videos' /video_insights (developers.facebook.com/docs/video-api/guides/insights)
                 "total_video_views", "total_video_views_unique", "total_video_reactions_by_type_total"}
    for tables in (POST, ACCOUNT):
        for platform, mapping in tables.items():
            for name in mapping:
                assert name in elsewhere or re.search(rf"\b{re.escape(name)}\b", text), (platform, name)


def test_normalising_adds_up_names_that_share_a_metric_and_keeps_unknown_ones_out():
    raw = {"retweet_count": 3, "quote_count": 2, "like_count": 10, "impression_count": 500, "user_profile_clicks": 4,
           "brand_new_metric": 9}
    assert normalise("post", "x", raw) == {"shares": 5, "likes": 10, "views": 500}
    assert normalise("post", "mastodon", {"favourites_count": 7, "reblogs_count": 1, "replies_count": 2}) == {
        "likes": 7, "shares": 1, "comments": 2}
    assert normalise("account", "telegram", {"member_count": 812}) == {"followers": 812}
    assert normalise("post", "instagram", {"total_interactions": 99, "saved": 3}) == {"saves": 3}
    assert normalise("post", "somewhere-new", {"likes": 1}) == {}


def test_platforms_without_post_metrics_are_not_asked():
    assert not has_post_insights("telegram")
    assert not has_post_insights("whatsapp")
    assert has_post_insights("mastodon")
    assert has_post_insights("a-platform-added-later")


def test_the_denominator_is_reach_then_views_then_followers():
    assert rate({"likes": 10, "comments": 5, "shares": 3, "saves": 2, "reach": 400, "views": 1000}, 5000) == Rate(
        20, 400, "reach")
    assert rate({"likes": 10, "views": 1000}, 5000) == Rate(10, 1000, "views")
    assert rate({"likes": 10, "reach": 0, "views": 0}, 5000) == Rate(10, 5000, "followers")
    assert rate({"likes": 10}, None) == Rate(10, None, None)
    assert rate({"likes": 10}, 0).value is None
    assert rate({"likes": 10, "clicks": 90, "reach": 100}).value == pytest.approx(0.1)  # clicks are left out


def test_several_posts_are_rated_by_their_totals_not_by_averaging_ratios():
    small = rate({"likes": 9, "reach": 10})  # 90 %
    large = rate({"likes": 10, "reach": 1000})  # 1 %
    unrated = rate({"likes": 50})
    assert combined([small, large, unrated]) == pytest.approx(19 / 1010)
    assert combined([unrated]) is None


@given(st.dictionaries(st.sampled_from(vocabulary.POST_METRICS), st.integers(0, 10**9)),
       st.none() | st.integers(0, 10**9))
def test_a_rate_is_never_negative_and_names_its_basis(metrics, followers):
    r = rate(metrics, followers)
    assert r.interactions == sum(metrics.get(k, 0) for k in ("likes", "comments", "shares", "saves"))
    if r.denominator is None:
        assert r.basis is None and r.value is None
    else:
        assert r.denominator > 0 and r.value >= 0
        assert r.denominator == {"reach": metrics.get("reach"), "views": metrics.get("views"),
                                 "followers": followers}[r.basis]


def test_the_docs_define_the_rate_and_list_every_platform():
    text = DOCS.read_text()
    assert "(likes + comments + shares + saves)" in text
    for platform in PLATFORMS:
        assert f"| {platform} " in text.lower() or f"| {platform}|" in text.lower(), platform
