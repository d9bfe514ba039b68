"""The subset of the pigpio daemon's script language the virtual Pi runs.

A script is text: whitespace-separated commands with operands. Registers are
the accumulator A, the flag F, variables v0..v149 and parameters p0..p9 (set
by run/update). Flow: TAG n, JMP/JZ/JNZ/JM/JP/JGE/JGT/JLE/JLT n, CALL/RET,
HALT. Data: LD, LDA, STA, CMP, ADD, SUB, INR, DCR, INRA, DCRA, X, XA, AND, OR,
XOR. Time: MILS, MICS. GPIO: W/WRITE, R/READ, S/SERVO, P/PWM, HP, WVHLT,
TICK, PUD. GPIO commands leave their result in A.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from pilot_hw.pigpio_wire import SCRIPT_FAILED, SCRIPT_HALTED, SCRIPT_RUNNING

_OPERAND_COUNT = {
    "TAG": 1, "JMP": 1, "JZ": 1, "JNZ": 1, "JM": 1, "JP": 1, "JGE": 1, "JGT": 1, "JLE": 1,
    "JLT": 1, "CALL": 1, "RET": 0, "HALT": 0, "LD": 2, "LDA": 1, "STA": 1, "CMP": 1,
    "ADD": 1, "SUB": 1, "INR": 1, "DCR": 1, "INRA": 0, "DCRA": 0, "X": 2, "XA": 1,
    "AND": 1, "OR": 1, "XOR": 1, "MILS": 1, "MICS": 1,
    "W": 2, "R": 1, "S": 2, "P": 2, "HP": 3, "WVHLT": 0, "TICK": 0, "PUD": 2,
}
_ALIASES = {"WRITE": "W", "READ": "R", "SERVO": "S", "PWM": "P"}
_JUMPS = {"JMP", "JZ", "JNZ", "JM", "JP", "JGE", "JGT", "JLE", "JLT", "CALL"}
_MAX_SLEEP_MS = 60_000


class ScriptError(ValueError):
    """The script text does not parse."""


@dataclass(frozen=True)
class Instruction:
    op: str
    args: tuple[str | int, ...]


@dataclass
class Program:
    instructions: list[Instruction]
    tags: dict[int, int]


def _operand(token: str) -> str | int:
    low = token.lower()
    if low[:1] in ("v", "p") and low[1:].isdigit():
        index = int(low[1:])
        if (low[0] == "v" and index >= 150) or (low[0] == "p" and index >= 10):
            raise ScriptError(f"no register {token}")
        return low
    try:
        return int(token, 0)
    except ValueError as exc:
        raise ScriptError(f"bad operand {token!r}") from exc


def parse_script(text: str) -> Program:
    tokens = text.split()
    instructions: list[Instruction] = []
    tags: dict[int, int] = {}
    i = 0
    while i < len(tokens):
        op = tokens[i].upper()
        op = _ALIASES.get(op, op)
        if op not in _OPERAND_COUNT:
            raise ScriptError(f"unknown script command {tokens[i]!r}")
        n = _OPERAND_COUNT[op]
        args = tuple(_operand(t) for t in tokens[i + 1:i + 1 + n])
        if len(args) != n:
            raise ScriptError(f"{op} needs {n} operand(s)")
        if op == "TAG":
            if not isinstance(args[0], int) or args[0] in tags:
                raise ScriptError(f"bad or duplicate tag {args[0]}")
            tags[args[0]] = len(instructions)
        else:
            instructions.append(Instruction(op, args))
        i += 1 + n
    for ins in instructions:
        if ins.op in _JUMPS and ins.args[0] not in tags:
            raise ScriptError(f"{ins.op} to unknown tag {ins.args[0]}")
    return Program(instructions, tags)


def _i32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


@dataclass
class ScriptState:
    """One stored script: its program, registers and run status."""

    program: Program
    params: list[int] = field(default_factory=lambda: [0] * 10)
    variables: list[int] = field(default_factory=lambda: [0] * 150)
    status: int = SCRIPT_HALTED
    task: asyncio.Task | None = None


GpioCall = Callable[..., int]


class ScriptRunner:
    """Executes a ScriptState on the daemon's event loop; `gpio` maps ops to daemon calls."""

    def __init__(self, state: ScriptState, gpio: dict[str, GpioCall]) -> None:
        self.state = state
        self.gpio = gpio
        self.acc = 0
        self.flag = 0
        self.stack: list[int] = []

    def _get(self, operand: str | int) -> int:
        if isinstance(operand, int):
            return operand
        index = int(operand[1:])
        return self.state.variables[index] if operand[0] == "v" else self.state.params[index]

    def _set(self, operand: str | int, value: int) -> None:
        if isinstance(operand, int):
            raise ScriptError("cannot store into a constant")
        index = int(operand[1:])
        target = self.state.variables if operand[0] == "v" else self.state.params
        target[index] = _i32(value)

    async def run(self) -> None:
        program = self.state.program
        pc = 0
        steps = 0
        try:
            while 0 <= pc < len(program.instructions):
                ins = program.instructions[pc]
                pc = await self._step(ins, pc + 1)
                steps += 1
                if steps % 1000 == 0:  # never starve the daemon on a loop without delays
                    await asyncio.sleep(0)
            self.state.status = SCRIPT_HALTED
        except asyncio.CancelledError:
            self.state.status = SCRIPT_HALTED
            raise
        except (ScriptError, IndexError, ZeroDivisionError):
            self.state.status = SCRIPT_FAILED

    async def _step(self, ins: Instruction, next_pc: int) -> int:
        op, a = ins.op, ins.args
        tags = self.state.program.tags
        if op == "HALT":
            return -1
        if op == "JMP":
            return tags[a[0]]
        if op in ("JZ", "JNZ", "JM", "JP", "JGE", "JGT", "JLE", "JLT"):
            f = self.flag
            taken = {"JZ": f == 0, "JNZ": f != 0, "JM": f < 0, "JP": f >= 0, "JGE": f >= 0,
                     "JGT": f > 0, "JLE": f <= 0, "JLT": f < 0}[op]
            return tags[a[0]] if taken else next_pc
        if op == "CALL":
            self.stack.append(next_pc)
            return tags[a[0]]
        if op == "RET":
            return self.stack.pop()
        if op == "LD":
            self._set(a[0], self._get(a[1]))
        elif op == "LDA":
            self.acc = _i32(self._get(a[0]))
        elif op == "STA":
            self._set(a[0], self.acc)
        elif op == "CMP":
            self.flag = _i32(self.acc - self._get(a[0]))
        elif op in ("ADD", "SUB", "AND", "OR", "XOR"):
            x = self._get(a[0])
            self.acc = _i32({"ADD": self.acc + x, "SUB": self.acc - x, "AND": self.acc & x,
                             "OR": self.acc | x, "XOR": self.acc ^ x}[op])
            self.flag = self.acc
        elif op in ("INR", "DCR"):
            value = self._get(a[0]) + (1 if op == "INR" else -1)
            self._set(a[0], value)
            self.flag = _i32(value)
        elif op in ("INRA", "DCRA"):
            self.acc = _i32(self.acc + (1 if op == "INRA" else -1))
            self.flag = self.acc
        elif op == "X":
            x, y = self._get(a[0]), self._get(a[1])
            self._set(a[0], y)
            self._set(a[1], x)
        elif op == "XA":
            x = self._get(a[0])
            self._set(a[0], self.acc)
            self.acc = x
        elif op in ("MILS", "MICS"):
            amount = self._get(a[0])
            seconds = amount / 1000.0 if op == "MILS" else amount / 1e6
            if amount < 0 or seconds * 1000.0 > _MAX_SLEEP_MS:
                raise ScriptError(f"{op} {amount} out of range")
            await asyncio.sleep(seconds)
        else:  # a daemon command
            self.acc = _i32(self.gpio[op](*(self._get(x) for x in a)))
        return next_pc


def start_script(state: ScriptState, gpio: dict[str, GpioCall], params: list[int]) -> None:
    """(Re)start `state` on the running loop with `params` replacing the first parameters."""
    if state.task is not None and not state.task.done():
        state.task.cancel()
    for i, value in enumerate(params[:10]):
        state.params[i] = _i32(value)
    state.status = SCRIPT_RUNNING
    state.task = asyncio.get_running_loop().create_task(ScriptRunner(state, gpio).run())
