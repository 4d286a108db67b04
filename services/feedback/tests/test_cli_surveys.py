"""``siar surveys …`` against the real feedback service (in-process on a socket, the real
database): a library's team defines, opens, reads and closes a patron survey from a terminal."""

from __future__ import annotations

import asyncio
import csv
import io
import json

import httpx
from siar_cli.client import Config
from siar_cli.main import app as cli
from siar_devstack.serving import served
from typer.testing import CliRunner

from .conftest import TOKEN, running, survey_body


async def siar(url: str, *args: str, token: str = TOKEN, stdin: str | None = None):
    """The command as a librarian runs it (in a thread: it is synchronous, the service is not)."""
    config = Config(token=token, feedback_url=url, timezone="Asia/Jakarta")
    return await asyncio.to_thread(CliRunner().invoke, cli, list(args), obj=config, input=stdin,
                                   catch_exceptions=False)


async def test_a_survey_from_the_terminal(clean_db, amqp_url, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")
    spec = tmp_path / "survei.json"
    spec.write_text(json.dumps(survey_body(slug="survei-desember")), encoding="utf-8")
    async with running(clean_db, amqp_url) as app, served(app) as url:
        nothing = await siar(url, "surveys", "list")
        assert nothing.exit_code == 0 and "No survey yet" in nothing.output
        created = await siar(url, "surveys", "create", str(spec))
        assert created.exit_code == 0, created.output
        assert "survei-desember defined as a draft" in created.output
        listed = await siar(url, "surveys", "list")
        assert "draft" in listed.output and "Survei Kepuasan Pemustaka" in listed.output
        opened = await siar(url, "surveys", "open", "survei-desember")
        assert opened.exit_code == 0 and "survei-desember is open" in opened.output
        assert "https://perpus.example.id/" in opened.output  # the public link to hand out

        async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}) as api:
            for answers in ({"kepuasan": 5, "rekomendasi": 10, "saran": "Tambah buku anak"},
                            {"kepuasan": 4, "rekomendasi": 6}, {"kepuasan": 2, "rekomendasi": 9}):
                sent = await api.post("/v1/surveys/survei-desember/responses",
                                      json={"channel": "telegram", "answers": answers})
                assert sent.status_code == 201, sent.text
        shown = await siar(url, "surveys", "show", "survei-desember")
        assert "kepuasan" in shown.output and "telegram" in shown.output and "3 answers" in shown.output
        results = await siar(url, "surveys", "results", "survei-desember")
        assert results.exit_code == 0, results.output
        assert "3 answers" in results.output and "by channel: telegram 3" in results.output
        assert "average rating 3.7 / 5" in results.output and "CSAT 66.7 %" in results.output
        assert "NPS 33.3" in results.output  # two promoters (10, 9), one detractor (6)
        as_json = json.loads((await siar(url, "surveys", "results", "survei-desember", "--json")).stdout)
        assert as_json["responses"] == 3 and round(as_json["nps"], 1) == 33.3
        words = await siar(url, "surveys", "answers", "survei-desember")
        rows = list(csv.reader(io.StringIO(words.stdout.lstrip("\ufeff"))))
        assert any("Tambah buku anak" in cell for row in rows for cell in row)
        out = tmp_path / "jawaban.csv"
        saved = await siar(url, "surveys", "answers", "survei-desember", "-o", str(out))
        assert "1 answer written" in saved.output and "Tambah buku anak" in out.read_text(encoding="utf-8-sig")
        closed = await siar(url, "surveys", "close", "survei-desember")
        assert closed.exit_code == 0 and "closed after 3 answers" in closed.output

        # Mistakes read as what to fix.
        (tmp_path / "bad.json").write_text("{\"title\": ", encoding="utf-8")
        bad = await siar(url, "surveys", "create", str(tmp_path / "bad.json"))
        assert bad.exit_code == 2 and "is not JSON" in bad.output
        listed_file = tmp_path / "list.json"
        listed_file.write_text("[]", encoding="utf-8")
        wrong = await siar(url, "surveys", "create", str(listed_file))
        assert wrong.exit_code == 2 and "a survey is an object" in wrong.output
        (tmp_path / "notepad.json").write_bytes(json.dumps(survey_body()).encode("utf-16"))  # Notepad's "Unicode"
        utf16 = await siar(url, "surveys", "create", str(tmp_path / "notepad.json"))
        assert utf16.exit_code == 2 and "is not UTF-8 text" in utf16.output
        nan = await siar(url, "surveys", "create", "-", stdin='{"title": {"id": "x"}, "rate_limit_per_minute": NaN}')
        assert nan.exit_code == 2 and "standard input is not JSON: NaN is not a JSON number" in nan.output
        # The service's words read as written: a pattern's [a-z0-9] or a name's [red] are not markup.
        odd = await siar(url, "surveys", "show", "[red]x?y")  # ? stays in the name, not the query
        assert odd.exit_code == 1 and "no survey [red]x?y" in odd.output
        slug = await siar(url, "surveys", "create", "-", stdin=json.dumps(survey_body(slug="Besar")))
        assert slug.exit_code == 1 and "[a-z0-9]" in slug.output, slug.output
        refused = await siar(url, "surveys", "create", "-", stdin=json.dumps({"title": {"id": "Tanpa pertanyaan"}}))
        assert refused.exit_code == 1 and "questions" in refused.output
        again = await siar(url, "surveys", "close", "survei-desember")
        assert again.exit_code == 1 and "only an open or scheduled survey closes" in again.output
        missing = await siar(url, "surveys", "show", "tidak-ada")
        assert missing.exit_code == 1 and "no survey tidak-ada" in missing.output
    gone = await siar(url, "surveys", "list")
    assert gone.exit_code == 2 and "cannot reach the feedback" in gone.output and "SIAR_FEEDBACK_URL" in gone.output
