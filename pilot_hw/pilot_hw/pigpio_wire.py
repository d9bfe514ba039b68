"""Numbers of the pigpio daemon socket protocol (command codes, error codes, report flags).

Facts from the pigpio 1.78 client; the virtual Pi speaks them. Drivers use the
`pigpio` client library itself, never this module.
"""

from __future__ import annotations

import struct
from enum import IntEnum

REQUEST = struct.Struct("<IIII")  # cmd, p1, p2, p3 (p3 = extension length for extended commands)
REPORT = struct.Struct("<HHII")  # seq, flags, tick, level


class Cmd(IntEnum):
    MODES = 0
    MODEG = 1
    PUD = 2
    READ = 3
    WRITE = 4
    PWM = 5
    PRS = 6
    PFS = 7
    SERVO = 8
    WDOG = 9
    BR1 = 10
    BR2 = 11
    BC1 = 12
    BC2 = 13
    BS1 = 14
    BS2 = 15
    TICK = 16
    HWVER = 17
    NO = 18
    NB = 19
    NP = 20
    NC = 21
    PRG = 22
    PFG = 23
    PRRG = 24
    PIGPV = 26
    WVCLR = 27
    WVAG = 28
    WVAS = 29
    WVBSY = 32
    WVHLT = 33
    WVSM = 34
    WVSP = 35
    WVSC = 36
    TRIG = 37
    PROC = 38
    PROCD = 39
    PROCR = 40
    PROCS = 41
    SLRO = 42
    PROCP = 45
    WVCRE = 49
    WVDEL = 50
    WVTX = 51
    WVTXR = 52
    WVNEW = 53
    I2CO = 54
    I2CC = 55
    I2CRD = 56
    I2CWD = 57
    I2CWQ = 58
    I2CRS = 59
    I2CWS = 60
    I2CRB = 61
    I2CWB = 62
    I2CRW = 63
    I2CWW = 64
    I2CRK = 65
    I2CWK = 66
    I2CRI = 67
    I2CWI = 68
    I2CPC = 69
    GDC = 83
    GPW = 84
    HC = 85
    HP = 86
    CF1 = 87
    CF2 = 88
    CGI = 95
    CSI = 96
    FG = 97
    FN = 98
    NOIB = 99
    WVTXM = 100
    EVM = 115
    EVT = 116
    PROCU = 117


class Err(IntEnum):
    BAD_USER_GPIO = -2
    BAD_GPIO = -3
    BAD_MODE = -4
    BAD_LEVEL = -5
    BAD_PUD = -6
    BAD_PULSEWIDTH = -7
    BAD_DUTYCYCLE = -8
    BAD_WDOG_TIMEOUT = -15
    BAD_DUTYRANGE = -21
    BAD_PATHNAME = -23
    NO_HANDLE = -24
    BAD_HANDLE = -25
    BAD_WAVE_ID = -66
    TOO_MANY_PULSES = -36
    BAD_PULSELEN = -46
    BAD_SCRIPT = -47
    BAD_SCRIPT_ID = -48
    SCRIPT_NOT_READY = -62
    EMPTY_WAVEFORM = -69
    NO_WAVEFORM_ID = -70
    BAD_I2C_BUS = -74
    BAD_I2C_ADDR = -75
    BAD_FLAGS = -77
    BAD_PARAM = -81
    I2C_WRITE_FAILED = -82
    I2C_READ_FAILED = -83
    UNKNOWN_COMMAND = -88
    NOT_PWM_GPIO = -92
    NOT_SERVO_GPIO = -93
    NOT_HPWM_GPIO = -95
    BAD_HPWM_FREQ = -96
    BAD_HPWM_DUTY = -97
    BAD_I2C_WLEN = -109
    BAD_I2C_RLEN = -110
    BAD_FILTER = -125
    BAD_EVENT_ID = -143


NTFY_FLAGS_EVENT = 0x80
NTFY_FLAGS_ALIVE = 0x40
NTFY_FLAGS_WDOG = 0x20

MODE_INPUT = 0
MODE_OUTPUT = 1
MODE_ALT5 = 2
MODE_ALT0 = 4

PUD_OFF, PUD_DOWN, PUD_UP = 0, 1, 2

SCRIPT_INITING, SCRIPT_HALTED, SCRIPT_RUNNING, SCRIPT_WAITING, SCRIPT_FAILED = 0, 1, 2, 3, 4

# Soft PWM frequencies available at the default 5 us sample rate, and the real range at each.
PWM_FREQUENCIES_HZ = (8000, 4000, 2000, 1600, 1000, 800, 500, 400, 320,
                      250, 200, 160, 100, 80, 50, 40, 20, 10)
PWM_SAMPLE_US = 5

# GPIOs with a hardware PWM channel (40-pin Pis).
HARDWARE_PWM_GPIOS = frozenset({12, 13, 18, 19})

TICK_MASK = 0xFFFFFFFF
