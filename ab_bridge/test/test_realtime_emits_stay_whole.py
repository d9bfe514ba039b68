"""Events emitted from several threads reach the server whole; the faster binary check
gives python-socketio's answer."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import pytest
from protocol_server import ProtocolServer
from session_helpers import Recorder, wait_until
from socketio import packet as sio_packet

from ab_bridge.realtime import RealtimeClient
from node_kit.socketio_overrides import FastPacket


def random_payload(rng: random.Random, depth: int = 0) -> Any:
    choice = rng.randrange(9 if depth < 4 else 5)
    if choice == 0:
        return rng.randrange(-5, 5)
    if choice == 1:
        return rng.random()
    if choice == 2:
        return rng.choice(["", "bits", None, True, False])
    if choice == 3:
        return bytes(rng.randrange(3)) if rng.random() < 0.1 else rng.randrange(2)
    if choice == 4:
        return (1, b"x") if rng.random() < 0.05 else "t"   # tuples are not looked into
    if choice in (5, 6):
        return [random_payload(rng, depth + 1) for _ in range(rng.randrange(6))]
    return {f"k{i}": random_payload(rng, depth + 1) for i in range(rng.randrange(5))}


def joined_client(server: ProtocolServer, on_link=lambda s, d: None) -> RealtimeClient:
    """A RealtimeClient of run-1, connected and joined (the caller closes it)."""
    client = RealtimeClient(server.url, "run-1", on_event=lambda e, p: None, on_link=on_link,
                            reconnect_delay_s=0.1, reconnect_delay_max_s=0.4,
                            connect_timeout_s=3.0)
    client.start()
    if not wait_until(lambda: client.connected and "run-1" in server.joined):
        client.close()
        server.stop()
        pytest.fail("the client never joined run-1")
    return client


def test_fast_binary_check_answers_like_socketio() -> None:
    rng = random.Random(7)
    payloads = [random_payload(rng) for _ in range(3000)]
    payloads += [b"", bytearray(b"x"), [[[[b"deep"]]]], {"a": {"b": [1, {"c": bytearray()}]}},
                 {"rows": [{"t": t, "id": "joint0", "bits": [0, 1] * 16} for t in range(20)]}]
    binary = 0
    for payload in payloads:
        expected = sio_packet.Packet.data_is_binary(payload)
        assert FastPacket.data_is_binary(payload) is expected, payload
        binary += expected
    assert 100 < binary < len(payloads) - 100          # both answers were exercised
    data = ["cycle:update", {"runId": "r", "outputs": [{"t": 0, "id": "j", "bits": [0, 1]}]}]
    assert FastPacket(sio_packet.EVENT, data=data, namespace="/ab").encode() == \
        sio_packet.Packet(sio_packet.EVENT, data=data, namespace="/ab").encode()
    chunk = ["io:chunk", {"inputId": "camera", "data": b"\x00\x01"}]
    assert FastPacket(sio_packet.EVENT, data=chunk, namespace="/ab").encode() == \
        sio_packet.Packet(sio_packet.EVENT, data=chunk, namespace="/ab").encode()


@pytest.mark.timeout(60)
def test_binary_chunks_keep_their_attachments_when_threads_emit_together() -> None:
    """A binary event is a header frame plus attachment frames; a text event sent by another
    thread in between used to be taken by the server as the attachment."""
    server = ProtocolServer().start()
    recorder = Recorder()
    client = joined_client(server, recorder.on_link)
    per_thread = 60
    try:
        # Widen the race: pause after each binary event's header frame (Socket.IO packet
        # type 5), so another thread's frame would come before the attachment unless the
        # client keeps an event's frames together.
        send = client._sio.eio.send

        def slow_send(data: Any) -> None:
            send(data)
            if isinstance(data, str) and data.startswith("5"):
                time.sleep(0.002)

        client._sio.eio.send = slow_send

        def chunks(worker: int) -> None:
            for i in range(per_thread):
                client.emit("io:chunk", {"runId": "run-1", "inputId": f"in{worker}", "seq": i,
                                         "data": f"{worker}:{i}".encode() * 50},
                            direct=worker == 0)   # written here, or by the writer thread

        def texts() -> None:
            for i in range(per_thread):
                client.emit("learn:reward", {"runId": "run-1", "cycle": i, "globalReward": 0.5})

        threads = [threading.Thread(target=chunks, args=(w,)) for w in range(2)]
        threads.append(threading.Thread(target=texts))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert wait_until(lambda: len(server.received_of("io:chunk")) == 2 * per_thread
                          and len(server.received_of("learn:reward")) == per_thread, 20)
        for payload in server.received_of("io:chunk"):
            worker = payload["inputId"][2:]
            assert payload["data"] == f"{worker}:{payload['seq']}".encode() * 50
    finally:
        client.close()
        server.stop()


@pytest.mark.timeout(60)
def test_direct_frames_go_out_on_the_emitting_thread() -> None:
    """Over websocket, direct emits are written by the thread that emits (no hop through the
    Engine.IO writer thread's queue), the others are queued; all arrive whole, in order."""
    server = ProtocolServer().start()
    client = joined_client(server)
    try:
        eio = client._sio.eio
        assert eio.current_transport == "websocket"
        queued: list[Any] = []
        put = eio.queue.put

        def noted_put(item: Any, *args: Any, **kwargs: Any) -> None:
            queued.append(item)
            put(item, *args, **kwargs)

        eio.queue.put = noted_put
        for i in range(20):
            assert client.emit("io:chunk", {"runId": "run-1", "inputId": "camera", "seq": i,
                                            "data": bytes([i]) * 100}, direct=True)
        assert queued == []
        for i in range(20):
            assert client.emit("learn:reward", {"runId": "run-1", "cycle": i,
                                                "globalReward": 0.5})
            assert client.emit("io:chunk", {"runId": "run-1", "inputId": "camera",
                                            "seq": 20 + i, "data": bytes([i]) * 100},
                               direct=True)
        assert len(queued) >= 20                     # the rewards (and what had to follow)
        assert wait_until(lambda: len(server.received_of("learn:reward")) == 20)
        assert wait_until(lambda: len(server.received_of("io:chunk")) == 40)
        assert [c["seq"] for c in server.received_of("io:chunk")] == list(range(40))
        assert all(c["data"] == bytes([c["seq"] % 20]) * 100
                   for c in server.received_of("io:chunk"))
        events = [name for name, _ in server.received if name != "run:join"]
        assert events == ["io:chunk"] * 20 + ["learn:reward", "io:chunk"] * 20
    finally:
        client.close()
        server.stop()


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_the_link_outlives_the_writer_threads_idle_limit() -> None:
    """Engine.IO's writer thread gives up after (ping interval + 5 s) with nothing queued;
    with messages written directly, the pongs keep it fed and the link keeps working."""
    server = ProtocolServer(ping_interval_s=1.0).start()     # writer limit: 6 s
    client = joined_client(server)
    try:
        deadline = time.monotonic() + 8.0
        sent = 0
        while time.monotonic() < deadline:
            assert client.emit("learn:reward", {"runId": "run-1", "cycle": sent,
                                                "globalReward": 0.5}, direct=True)
            sent += 1
            time.sleep(0.05)
        assert client._sio.eio.write_loop_task is not None    # the writer still runs
        assert client.connected
        assert wait_until(lambda: len(server.received_of("learn:reward")) == sent)
    finally:
        client.close()
        server.stop()


@pytest.mark.timeout(60)
def test_the_link_can_send_as_soon_as_it_is_connected() -> None:
    """The server may send the moment the client joins (the embedded brain's first io:need
    follows run:join at once), and the answer goes out on the reader thread at once. The
    link counts as connected from the namespace's CONNECT packet on: python-socketio's own
    `connected` flag comes later, on the thread that called connect(), and answers sent
    before it used to be dropped without a word (a test failed now and then on it)."""
    server = ProtocolServer().start()
    sent_on_connect: list[bool] = []
    holder: list[RealtimeClient] = []

    def on_link(state: str, detail: str) -> None:
        # Called on the reader thread, in the connect handler, right after run:join.
        if state == "connected" and holder:
            sent_on_connect.append(holder[0].emit(
                "io:chunk", {"runId": "run-1", "inputId": "camera", "data": b"\x01"},
                direct=True))

    client = RealtimeClient(server.url, "run-1", on_event=lambda e, p: None, on_link=on_link,
                            reconnect_delay_s=0.1, reconnect_delay_max_s=0.4,
                            connect_timeout_s=3.0)
    holder.append(client)
    try:
        client.start()
        assert wait_until(lambda: sent_on_connect)
        assert sent_on_connect == [True]
        assert wait_until(lambda: server.received_of("io:chunk"))
        assert server.received_of("io:chunk")[0]["data"] == b"\x01"
    finally:
        client.close()
        server.stop()


@pytest.mark.timeout(60)
def test_emit_many_writes_an_answer_at_once_and_keeps_it_whole() -> None:
    """emit_many (brain_session's answer to io:need) writes all its events' frames with one
    send; they arrive whole and in order, also while another thread emits (then an answer
    meeting queued frames goes through the queue after them)."""
    server = ProtocolServer().start()
    client = joined_client(server)
    try:
        ws = client._sio.eio.ws
        writes: list[int] = []
        send_frame = ws.send_frame

        def counted_send_frame(frame: Any) -> int:
            writes.append(len(getattr(frame, "frames", [])))
            return send_frame(frame)

        ws.send_frame = counted_send_frame
        answers = 40

        def answer(i: int) -> None:
            assert client.emit_many([("io:chunk", {"runId": "run-1", "inputId": f"in{k}",
                                                   "seq": i, "data": bytes([i, k]) * 30})
                                     for k in range(4)])

        for i in range(answers // 2):
            answer(i)
        assert writes == [8] * (answers // 2)      # 4 events of 2 frames, one write

        def texts() -> None:
            for i in range(answers):
                client.emit("learn:reward", {"runId": "run-1", "cycle": i, "globalReward": 0.5})

        other = threading.Thread(target=texts)
        other.start()
        for i in range(answers // 2, answers):
            answer(i)
        other.join(30)
        assert wait_until(lambda: len(server.received_of("io:chunk")) == 4 * answers
                          and len(server.received_of("learn:reward")) == answers, 20)
        received = server.received_of("io:chunk")
        assert [(p["seq"], p["inputId"]) for p in received] == \
            [(i, f"in{k}") for i in range(answers) for k in range(4)]
        assert all(p["data"] == bytes([p["seq"], int(p["inputId"][2:])]) * 30 for p in received)
    finally:
        client.close()
        server.stop()
