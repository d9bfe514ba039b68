"""DirectReadAsyncServer (node_kit.socketio_overrides) against the stock python-socketio
client: events, binary ones included, arrive in order with their acks, on a connection
opened on the websocket transport (read by the override) and on one upgraded from polling
(read by engineio's own handler); the server's emits reach the client in order; and
FastPacket's JSON decoder answers as engineio's."""

from __future__ import annotations

import socket
import threading

import pytest
import socketio
from aiohttp import web
from engineio import async_socket
from engineio import json as engineio_json

from node_kit.loop_thread import LoopThread
from node_kit.socketio_overrides import DirectReadAsyncServer, FastPacket

NS = "/t"
COUNT = 60


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(monkeypatch):
    """An aiohttp app with DirectReadAsyncServer on a loop thread; `got` holds what its
    handler received, `engineio_handlers` how many connections engineio's own websocket
    handler read."""
    counted = {"engineio_handlers": 0}
    stock = async_socket.AsyncSocket._websocket_handler

    async def counting(self, ws):
        counted["engineio_handlers"] += 1
        return await stock(self, ws)

    monkeypatch.setattr(async_socket.AsyncSocket, "_websocket_handler", counting)
    sio = DirectReadAsyncServer(async_mode="aiohttp", serializer=FastPacket,
                                async_handlers=False)
    got: list = []

    @sio.on("item", namespace=NS)
    async def item(sid, data):
        got.append(data)
        await sio.emit("back", {"n": data["n"]}, to=sid, namespace=NS)
        return {"n": data["n"]}

    app = web.Application()
    sio.attach(app)
    loop = LoopThread("direct-read-test")
    port = _free_port()
    runner = web.AppRunner(app)

    async def startup():
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()

    loop.start(startup)
    try:
        yield f"http://127.0.0.1:{port}", got, counted
    finally:
        loop.stop(runner.cleanup)


def collect_back(client) -> tuple[list[int], threading.Event]:
    """The `n` of each "back" event the client gets, and an event set once COUNT came."""
    back: list[int] = []
    all_back = threading.Event()

    def on_back(data):
        back.append(data["n"])
        if len(back) == COUNT:
            all_back.set()

    client.on("back", on_back, namespace=NS)
    return back, all_back


@pytest.mark.parametrize("transports, engineio_handlers",
                         [(["websocket"], 0), (["polling", "websocket"], 1)])
def test_events_and_emits_keep_their_order(server, transports, engineio_handlers):
    url, got, counted = server
    client = socketio.Client(logger=False, engineio_logger=False)
    back, all_back = collect_back(client)
    client.connect(url, transports=transports, namespaces=[NS], wait_timeout=10)
    try:
        if transports != ["websocket"]:
            # wait for the upgrade: engineio's handler then reads the websocket
            for _ in range(100):
                if client.transport() == "websocket":
                    break
                threading.Event().wait(0.05)
            assert client.transport() == "websocket"
        acks = []
        for n in range(COUNT):
            payload = {"n": n, "data": bytes([n % 256]) * 5} if n % 2 else {"n": n}
            if n % 10 == 9:
                acks.append(client.call("item", payload, namespace=NS, timeout=10))
            else:
                client.emit("item", payload, namespace=NS)
        assert all_back.wait(10), f"{len(back)} of {COUNT} emits came back"
        assert [d["n"] for d in got] == list(range(COUNT))
        assert [d["data"] for d in got[1::2]] == [bytes([n % 256]) * 5
                                                  for n in range(1, COUNT, 2)]
        assert back == list(range(COUNT))
        assert acks == [{"n": n} for n in range(9, COUNT, 10)]
        assert counted["engineio_handlers"] == engineio_handlers
    finally:
        client.disconnect()


@pytest.mark.parametrize("text", [
    '["e",{"a":[1,2,3],"b":-4,"c":1.5e3,"d":"x"}]',
    '["e",' + "1" * 100 + "]",
    '["e","' + "7" * 150 + '"]',                      # digits in a string: accepted
    '["e",1.' + "5" * 120 + "]",                      # a long fraction: accepted
])
def test_fast_json_decodes_as_engineio(text):
    assert FastPacket.json.loads(text) == engineio_json.loads(text)


def test_fast_json_refuses_long_integers_as_engineio():
    text = '["e",' + "9" * 101 + "]"
    with pytest.raises(ValueError):
        engineio_json.loads(text)
    with pytest.raises(ValueError, match="too large"):
        FastPacket.json.loads(text)


def test_the_in_order_client_reads_frames_with_fewer_recv_calls(server, monkeypatch):
    """InOrderClient reads what the socket has at once: its server's emits arrive in order,
    with fewer recv calls than frames x 3 (header, length, payload: websocket-client's)."""
    import websocket._core

    from node_kit.socketio_overrides import InOrderClient

    url, got, _ = server
    calls = [0]
    stock_recv = websocket._core.recv

    def counting_recv(sock, size):
        calls[0] += 1
        return stock_recv(sock, size)

    monkeypatch.setattr(websocket._core, "recv", counting_recv)
    client = InOrderClient(serializer=FastPacket, logger=False, engineio_logger=False)
    back, all_back = collect_back(client)
    client.connect(url, transports=["websocket"], namespaces=[NS], wait_timeout=10)
    try:
        before = calls[0]
        for n in range(COUNT):
            client.emit("item", {"n": n, "pad": "x" * 300}, namespace=NS)
        assert all_back.wait(10), f"{len(back)} of {COUNT} emits came back"
        assert back == list(range(COUNT))
        assert [d["n"] for d in got] == list(range(COUNT))
        assert calls[0] - before <= COUNT + 5     # one per frame at most (stock: three)
    finally:
        client.disconnect()


def test_the_stock_client_s_binary_events_take_the_shorter_path(server, monkeypatch):
    """The stock python-socketio client's binary events ({"n", "data": bytes}) over a real
    websocket are the shape DirectReadAsyncServer reads without python-socketio's generic
    decoding (see test_direct_read_server_fast_binary_events): each one is placed by the
    shorter path, and arrives whole and in order."""
    from node_kit import socketio_overrides

    url, got, _ = server
    placed = []
    stock_key = socketio_overrides._placeholder_key

    def counting(body, data):
        key = stock_key(body, data)
        placed.append(key)
        return key

    monkeypatch.setattr(socketio_overrides, "_placeholder_key", counting)
    client = socketio.Client(logger=False, engineio_logger=False)
    client.connect(url, transports=["websocket"], namespaces=[NS], wait_timeout=10)
    try:
        for n in range(COUNT):
            client.emit("item", {"n": n, "meta": {"cycle": n, "k": "v"},
                                 "data": bytes([n % 256]) * 7}, namespace=NS)
        for _ in range(200):
            if len(got) == COUNT:
                break
            threading.Event().wait(0.05)
        assert [d["n"] for d in got] == list(range(COUNT))
        assert [d["data"] for d in got] == [bytes([n % 256]) * 7 for n in range(COUNT)]
        assert placed == ["data"] * COUNT
    finally:
        client.disconnect()
