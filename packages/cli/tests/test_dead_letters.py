"""`siar dead-letters` against the real RabbitMQ: list shows the reason, replay sends it home."""

from __future__ import annotations

import asyncio
import socket

import aio_pika
from siar_contracts import DEAD_EXCHANGE, dead_queue_name, queue_name
from siar_runtime.bus import Bus
from typer.testing import CliRunner


async def _setup(amqp_url: str, *extra: aio_pika.Message) -> None:
    bus = Bus(amqp_url, "cli-test")
    await bus.connect()  # declares the topology in this session's vhost
    channel = await bus.connection.channel(publisher_confirms=True)
    for name in (queue_name("scheduler"), dead_queue_name("scheduler")):
        await (await channel.get_queue(name)).purge()
    dead = await channel.get_exchange(DEAD_EXCHANGE)
    await dead.publish(
        aio_pika.Message(b'{"broken": true', message_id="m-1", headers={
            "x-siar-reason": "malformed", "x-siar-detail": "not a CloudEvent: body: Invalid JSON",
            "x-siar-queue": queue_name("scheduler"), "x-siar-routing-key": "post.published"}),
        routing_key=queue_name("scheduler"),
    )
    for message in extra:
        await dead.publish(message, routing_key=queue_name("scheduler"))
    await bus.close()


async def _queue_depths(amqp_url: str) -> tuple[int, int]:
    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel()
    home = await channel.declare_queue(queue_name("scheduler"), passive=True)
    dead = await channel.declare_queue(dead_queue_name("scheduler"), passive=True)
    depths = (home.declaration_result.message_count, dead.declaration_result.message_count)
    await (await channel.get_queue(queue_name("scheduler"))).purge()
    await connection.close()
    return depths


def test_list_then_replay_a_dead_letter(amqp_url):
    from siar_cli.main import app

    asyncio.run(_setup(amqp_url))
    runner = CliRunner()
    env = {"SIAR_AMQP_URL": amqp_url, "COLUMNS": "200"}
    listed = runner.invoke(app, ["dead-letters", "list", "--service", "scheduler"], env=env)
    assert listed.exit_code == 0, listed.output
    assert "malformed" in listed.output and "post.published" in listed.output and "m-1" in listed.output

    missing = runner.invoke(app, ["dead-letters", "replay", "--service", "scheduler", "--id", "nope"], env=env)
    assert missing.exit_code == 1 and "no dead letter" in missing.output
    unsaid = runner.invoke(app, ["dead-letters", "replay"], env=env)
    assert unsaid.exit_code == 2
    bad = runner.invoke(app, ["dead-letters", "list", "--service", "nosuch"], env=env)
    assert bad.exit_code != 0

    replayed = runner.invoke(app, ["dead-letters", "replay", "--service", "scheduler", "--id", "m-1"], env=env)
    assert replayed.exit_code == 0, replayed.output
    assert "Replayed 1 message" in replayed.output
    assert asyncio.run(_queue_depths(amqp_url)) == (1, 0)


def test_a_dead_letter_whose_queue_is_gone_stays_a_dead_letter(amqp_url):
    """A replay to a queue that no longer exists comes back from the broker (mandatory): the letter
    is kept and the command says why, for --all and for --id."""
    from siar_cli.main import app

    gone = {"x-siar-reason": "refused", "x-siar-detail": "d", "x-siar-queue": "siar.gone",
            "x-siar-routing-key": "post.published"}
    asyncio.run(_setup(amqp_url, aio_pika.Message(b'{"a": 1}', message_id="m-gone", headers=gone),
                       aio_pika.Message(b'{"b": 2}', message_id="m-gone-2", headers=gone)))
    runner = CliRunner()
    env = {"SIAR_AMQP_URL": amqp_url, "COLUMNS": "200"}
    replayed = runner.invoke(app, ["dead-letters", "replay", "--service", "scheduler", "--all"], env=env)
    assert replayed.exit_code == 1, replayed.output
    assert "Replayed 1 message (scheduler 1)." in replayed.output  # m-1, whose queue exists
    assert "kept m-gone " in replayed.output and "kept m-gone-2 " in replayed.output and "NO_ROUTE" in replayed.output
    assert asyncio.run(_queue_depths(amqp_url)) == (1, 2)
    listed = runner.invoke(app, ["dead-letters", "list", "--service", "scheduler"], env=env)
    assert "m-gone" in listed.output and "m-gone-2" in listed.output

    one = runner.invoke(app, ["dead-letters", "replay", "--service", "scheduler", "--id", "m-gone"], env=env)
    assert one.exit_code == 1 and "kept m-gone" in one.output and "no dead letter" not in one.output
    assert asyncio.run(_queue_depths(amqp_url)) == (0, 2)


def test_list_shows_whole_ids_in_a_narrow_terminal_and_says_when_there_are_more(amqp_url):
    # The id is what `replay --id` takes: cut to fit the terminal, it could not be pasted; and a
    # --limit that left letters out said nothing.
    from siar_cli.main import app

    long_id = "e3e2b500-cde6-40c9-b379-2d54c0a2a6f1"
    headers = {"x-siar-reason": "invalid_payload", "x-siar-detail": "data.post_id: Field required " * 8,
               "x-siar-queue": queue_name("scheduler"), "x-siar-routing-key": "post.published"}
    asyncio.run(_setup(amqp_url, *(aio_pika.Message(b"{}", message_id=f"{long_id[:-1]}{n}", headers=headers)
                                   for n in range(3))))
    runner = CliRunner()
    env = {"SIAR_AMQP_URL": amqp_url, "COLUMNS": "100"}
    listed = runner.invoke(app, ["dead-letters", "list", "--service", "scheduler", "--limit", "2"], env=env)
    assert listed.exit_code == 0, listed.output
    assert "m-1" in listed.output and f"{long_id[:-1]}0" in listed.output
    assert f"{long_id[:-1]}1" not in listed.output  # the third and fourth letters are not shown…
    assert "more dead letters of scheduler than the 2 shown" in listed.output  # …and it says so
    everything = runner.invoke(app, ["dead-letters", "list", "--service", "scheduler"], env=env)
    assert "more dead letters" not in everything.output and f"{long_id[:-1]}2" in everything.output
    asyncio.run(_queue_depths(amqp_url))


async def _dead_in(amqp_url: str, services: tuple[str, ...], message_id: str | None) -> None:
    """The same event dead in several services' dead-letter queues (each handled it and failed);
    with no id, only empties their queues."""
    bus = Bus(amqp_url, "cli-test")
    await bus.connect()
    channel = await bus.connection.channel(publisher_confirms=True)
    for service in services:
        for name in (queue_name(service), dead_queue_name(service)):
            await (await channel.get_queue(name)).purge()
    dead = await channel.get_exchange(DEAD_EXCHANGE)
    for service in services if message_id else ():
        await dead.publish(
            aio_pika.Message(b'{"specversion": "1.0"}', message_id=message_id, headers={
                "x-siar-reason": "handler_failed", "x-siar-detail": "d", "x-siar-queue": queue_name(service),
                "x-siar-routing-key": "post.published"}),
            routing_key=queue_name(service),
        )
    await bus.close()


async def _depths(amqp_url: str, services: tuple[str, ...]) -> dict[str, tuple[int, int]]:
    """(home, dead) messages per service; the home queues are emptied afterwards."""
    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel()
    depths = {}
    for service in services:
        home = await channel.declare_queue(queue_name(service), passive=True)
        dead = await channel.declare_queue(dead_queue_name(service), passive=True)
        depths[service] = (home.declaration_result.message_count, dead.declaration_result.message_count)
        await home.purge()
    await connection.close()
    return depths


def test_replay_by_id_sends_back_every_copy_of_an_event_dead_in_several_queues(amqp_url):
    # post.published reaches the scheduler and the metrics service: when both failed on it, its
    # message id is dead twice. Replaying only the first copy found left the other dead, unsaid.
    from siar_cli.main import app

    both = ("scheduler", "metrics")
    asyncio.run(_dead_in(amqp_url, both, "m-both"))
    runner = CliRunner()
    env = {"SIAR_AMQP_URL": amqp_url, "COLUMNS": "200"}
    replayed = runner.invoke(app, ["dead-letters", "replay", "--id", "m-both"], env=env)
    assert replayed.exit_code == 0, replayed.output
    assert "Replayed 2 messages (" in replayed.output
    assert "scheduler 1" in replayed.output and "metrics 1" in replayed.output
    assert asyncio.run(_depths(amqp_url, both)) == {"scheduler": (1, 0), "metrics": (1, 0)}

    # --service still narrows it to the queues named.
    asyncio.run(_dead_in(amqp_url, both, "m-both"))
    one = runner.invoke(app, ["dead-letters", "replay", "--id", "m-both", "--service", "metrics"], env=env)
    assert one.exit_code == 0 and "Replayed 1 message (metrics 1)." in one.output, one.output
    assert asyncio.run(_depths(amqp_url, both)) == {"scheduler": (0, 1), "metrics": (1, 0)}
    asyncio.run(_dead_in(amqp_url, both, None))  # empties both services' queues again


def test_a_broker_out_of_reach_is_named_without_its_password():
    from siar_cli.dead_letters import masked
    from siar_cli.main import app

    assert masked("amqp://siar:s3cret-pass@rabbitmq:5672/") == "amqp://siar:***@rabbitmq:5672/"
    assert masked("amqp://rabbitmq:5672/") == "amqp://rabbitmq:5672/"
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"amqp://siar:s3cret-pass@127.0.0.1:{port}/"
    runner = CliRunner()
    for command in (["dead-letters", "list"], ["dead-letters", "replay", "--all"]):
        result = runner.invoke(app, command, env={"SIAR_AMQP_URL": url, "COLUMNS": "200"})
        assert result.exit_code == 2, result.output
        assert "cannot reach RabbitMQ at amqp://siar:***@127.0.0.1:" in result.output
        assert "s3cret-pass" not in result.output
