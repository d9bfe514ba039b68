"""Runs inside the gpiozero reference venv (gpiozero 2.0.1 + pigpio 1.78, unmodified): one
gpiozero session, driven line by line by the test over stdin/stdout.

    python gpiozero_child.py HOST PORT

Each request is a JSON line, {"exec": code} or {"eval": expression}; each answer is a JSON
line, {"ok": true}, {"value": ...} or {"error": "<exception>"}. The session's namespace
starts with gpiozero's names and `factory`, a PiGPIOFactory of HOST:PORT that every device
uses.
"""

from __future__ import annotations

import json
import sys
import traceback
from importlib.metadata import version


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    import gpiozero
    from gpiozero import Device
    from gpiozero.pins.pigpio import PiGPIOFactory

    factory = PiGPIOFactory(host=host, port=port)
    Device.pin_factory = factory
    namespace: dict = {name: value for name, value in vars(gpiozero).items()
                       if not name.startswith("_")}
    namespace["factory"] = factory
    print(json.dumps({"ready": version("gpiozero"), "pigpio": version("pigpio")}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        try:
            if "exec" in request:
                exec(request["exec"], namespace)
                answer: dict = {"ok": True}
            else:
                answer = {"value": eval(request["eval"], namespace)}
        except Exception as exc:
            answer = {"error": f"{type(exc).__name__}: {exc}",
                      "traceback": traceback.format_exc()}
        print(json.dumps(answer, default=repr), flush=True)
    factory.close()


if __name__ == "__main__":
    main()
