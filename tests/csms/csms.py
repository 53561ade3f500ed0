#!/usr/bin/env python3
"""A scriptable OCPP 1.6J CSMS for hubgate's interop tests.

Built on the `ocpp` package, which validates every payload against the official OCPP 1.6 JSON
schemas. Events go to stdout as JSON lines; commands come from stdin as JSON lines.

Events:   {"event": "listening", "port": N}
          {"event": "connected", "path": "/ocpp/ID", "subprotocol": "ocpp1.6"}
          {"event": "rejected_auth", "path": ...}
          {"event": "recv", "frame": [...]}            every frame from the charge point
          {"event": "csms_callerror", "frame": [...]}  a CALLERROR we sent: the charge point's
                                                       CALL broke the schema
          {"event": "result", "tag": T, "payload": {...}}
          {"event": "call_error", "tag": T, "code": C, "description": D}
          {"event": "invalid_response", "tag": T, "error": E}  the answer broke the schema
          {"event": "raw_reply", "tag": T, "frame": [...]}
          {"event": "timeout", "tag": T}
          {"event": "disconnected"}
Commands: {"cmd": "call", "action": A, "payload": {...}, "tag": T}
          {"cmd": "raw", "frame": "text", "tag": T}
          {"cmd": "boot", "status": "Accepted", "interval": N}
          {"cmd": "authorize", "status": "Accepted"}
          {"cmd": "fail", "action": "StartTransaction", "times": 1}
                                               answer the next N such CALLs with InternalError
          {"cmd": "drop"}                      close the charge point's connection
          {"cmd": "restart", "down_s": 1.0}    stop listening, wait, listen on the same port
          {"cmd": "quit"}
"""

import argparse
import asyncio
import base64
import http
import json
import ssl
import sys
from datetime import datetime, timezone

try:
    import websockets
    from websockets.asyncio.server import serve
    from ocpp.charge_point import camel_to_snake_case
    from ocpp.exceptions import InternalError
    from ocpp.routing import on
    from ocpp.v16 import ChargePoint as OcppChargePoint
    from ocpp.v16 import call, call_result
    from ocpp.v16.enums import Action
except ImportError as e:  # pragma: no cover
    print(
        f"csms.py needs the Python packages of tests/csms/requirements.txt ({e}): "
        "python3 -m pip install -r tests/csms/requirements.txt",
        file=sys.stderr,
        flush=True,
    )
    sys.exit(3)


def emit(**event):
    print(json.dumps(event), flush=True)


def now():
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Behaviour:
    def __init__(self):
        self.boot_status = "Accepted"
        self.boot_interval = 300
        self.authorize_status = "Accepted"
        self.next_tx = 1
        # transactionId by StartTransaction content: a start sent again (after a crash of the
        # charge point between our answer and its commit) is the same transaction
        self.starts = {}
        # CALLs still to be refused with InternalError, by action
        self.fail = {}

    def failing(self, action):
        left = self.fail.get(action, 0)
        if left > 0:
            self.fail[action] = left - 1
            raise InternalError(description=f"{action} refused by the test")


class ChargePoint(OcppChargePoint):
    def __init__(self, cp_id, connection, behaviour):
        super().__init__(cp_id, connection, response_timeout=10)
        self.behaviour = behaviour

    async def route_message(self, raw_msg):
        try:
            emit(event="recv", frame=json.loads(raw_msg))
        except ValueError:
            emit(event="recv_text", text=raw_msg)
        await super().route_message(raw_msg)

    async def _send(self, message):
        if message.startswith("[4"):
            emit(event="csms_callerror", frame=json.loads(message))
        await super()._send(message)

    @on(Action.boot_notification)
    def on_boot(self, **_):
        b = self.behaviour
        return call_result.BootNotification(
            current_time=now(), interval=b.boot_interval, status=b.boot_status
        )

    @on(Action.heartbeat)
    def on_heartbeat(self, **_):
        return call_result.Heartbeat(current_time=now())

    @on(Action.status_notification)
    def on_status(self, **_):
        return call_result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, **_):
        return call_result.Authorize(id_tag_info={"status": self.behaviour.authorize_status})

    @on(Action.start_transaction)
    def on_start(self, connector_id, id_tag, meter_start, timestamp, **_):
        b = self.behaviour
        b.failing("StartTransaction")
        key = (connector_id, id_tag, meter_start, timestamp)
        tx = b.starts.get(key)
        if tx is None:
            tx = b.next_tx
            b.next_tx += 1
            b.starts[key] = tx
        return call_result.StartTransaction(
            transaction_id=tx, id_tag_info={"status": self.behaviour.authorize_status}
        )

    @on(Action.stop_transaction)
    def on_stop(self, **_):
        return call_result.StopTransaction(id_tag_info={"status": "Accepted"})

    @on(Action.meter_values)
    def on_meter_values(self, **_):
        return call_result.MeterValues()

    @on(Action.data_transfer)
    def on_data_transfer(self, **_):
        return call_result.DataTransfer(status="UnknownVendorId")

    async def do_call(self, action, payload, tag):
        self.last_raw, self.last_was_error = None, False
        try:
            request = getattr(call, action)(**camel_to_snake_case(payload))
            await self.call(request, suppress=False)
            emit(event="result", tag=tag, payload=self.last_raw[2])
        except asyncio.TimeoutError:
            emit(event="timeout", tag=tag)
        except Exception as e:
            if self.last_was_error and getattr(e, "code", None):
                # the charge point answered with a CALLERROR
                emit(event="call_error", tag=tag, code=self.last_raw[2], description=self.last_raw[3])
            else:
                # the charge point's answer broke the schema (or the request could not be built)
                emit(event="invalid_response", tag=tag, error=repr(e))

    async def do_raw(self, text, tag):
        async with self._call_lock:
            await self._connection.send(text)
            try:
                reply = await asyncio.wait_for(self._response_queue.get(), 10)
                emit(event="raw_reply", tag=tag, frame=json.loads(reply.to_json()))
            except asyncio.TimeoutError:
                emit(event="timeout", tag=tag)


def install_raw_capture(cp):
    """Remember the last answer's raw frame and kind, to tell CALLERRORs from schema breaks."""
    cp.last_raw = None
    cp.last_was_error = False
    original = cp.route_message

    async def capture(raw_msg):
        try:
            frame = json.loads(raw_msg)
            if isinstance(frame, list) and frame and frame[0] in (3, 4):
                cp.last_raw = frame
                cp.last_was_error = frame[0] == 4
        except ValueError:
            pass
        await original(raw_msg)

    cp.route_message = capture


class Csms:
    def __init__(self, args):
        self.args = args
        self.behaviour = Behaviour()
        self.cp = None
        self.server = None
        self.port = args.port

    def process_request(self, connection, request):
        if self.args.password is None:
            return None
        identity = request.path.rstrip("/").split("/")[-1]
        expected = "Basic " + base64.b64encode(f"{identity}:{self.args.password}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            emit(event="rejected_auth", path=request.path)
            return connection.respond(http.HTTPStatus.UNAUTHORIZED, "bad credentials\n")
        return None

    async def handler(self, connection):
        emit(event="connected", path=connection.request.path, subprotocol=connection.subprotocol)
        cp = ChargePoint(connection.request.path.rstrip("/").split("/")[-1], connection, self.behaviour)
        install_raw_capture(cp)
        self.cp = cp
        try:
            await cp.start()
        except websockets.ConnectionClosed:
            pass
        finally:
            if self.cp is cp:
                self.cp = None
            emit(event="disconnected")

    async def listen(self):
        ctx = None
        if self.args.tls_cert:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(self.args.tls_cert, self.args.tls_key)
            if self.args.client_ca:
                ctx.verify_mode = ssl.CERT_REQUIRED
                ctx.load_verify_locations(self.args.client_ca)
        select = (lambda conn, offered: None) if self.args.no_subprotocol else None
        self.server = await serve(
            self.handler,
            "127.0.0.1",
            self.port,
            subprotocols=["ocpp1.6"],
            select_subprotocol=select,
            process_request=self.process_request,
            ssl=ctx,
            ping_interval=None,
        )
        self.port = self.server.sockets[0].getsockname()[1]

    async def command(self, cmd):
        kind = cmd.get("cmd")
        tag = cmd.get("tag")
        if kind == "boot":
            self.behaviour.boot_status = cmd["status"]
            self.behaviour.boot_interval = cmd.get("interval", 300)
        elif kind == "authorize":
            self.behaviour.authorize_status = cmd["status"]
        elif kind == "fail":
            self.behaviour.fail[cmd["action"]] = cmd.get("times", 1)
        elif kind == "call":
            if self.cp is None:
                emit(event="no_connection", tag=tag)
            else:
                asyncio.ensure_future(self.cp.do_call(cmd["action"], cmd.get("payload", {}), tag))
        elif kind == "raw":
            if self.cp is None:
                emit(event="no_connection", tag=tag)
            else:
                asyncio.ensure_future(self.cp.do_raw(cmd["frame"], tag))
        elif kind == "drop":
            if self.cp is not None:
                await self.cp._connection.close()
        elif kind == "restart":
            self.server.close()
            await self.server.wait_closed()
            emit(event="down")
            await asyncio.sleep(cmd.get("down_s", 1.0))
            await self.listen()
            emit(event="up", port=self.port)
        elif kind == "quit":
            return False
        return True


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--password")
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    parser.add_argument("--client-ca")
    parser.add_argument("--no-subprotocol", action="store_true")
    parser.add_argument("--boot", default="Accepted")
    parser.add_argument("--boot-interval", type=int, default=300)
    parser.add_argument("--first-tx", type=int, default=1, help="first transactionId given")
    parser.add_argument("--authorize", default="Accepted", help="idTagInfo.status given")
    args = parser.parse_args()
    csms = Csms(args)
    csms.behaviour.boot_status = args.boot
    csms.behaviour.boot_interval = args.boot_interval
    csms.behaviour.next_tx = args.first_tx
    csms.behaviour.authorize_status = args.authorize
    await csms.listen()
    emit(event="listening", port=csms.port)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line:
            break
        try:
            cmd = json.loads(line)
        except ValueError:
            emit(event="bad_command", line=line.decode(errors="replace"))
            continue
        if not await csms.command(cmd):
            break


if __name__ == "__main__":
    asyncio.run(main())
