"""A register-level model of an InvenSense MPU-6050 IMU on a simulated I2C bus.

Registers (datasheet facts): WHO_AM_I 0x75 reads 0x68; PWR_MGMT_1 0x6B resets to
0x40 (asleep), bit 7 resets the device; GYRO_CONFIG 0x1B and ACCEL_CONFIG 0x1C
select full scale in bits 4:3; ACCEL_XOUT_H 0x3B .. GYRO_ZOUT_L 0x48 hold
big-endian int16 samples (accel, temperature, gyro). Multi-byte accesses
auto-increment the register pointer.
"""

from __future__ import annotations

import numpy as np

STANDARD_GRAVITY_MPS2 = 9.80665

REG_SMPLRT_DIV = 0x19
REG_CONFIG = 0x1A
REG_GYRO_CONFIG = 0x1B
REG_ACCEL_CONFIG = 0x1C
REG_ACCEL_XOUT_H = 0x3B
REG_TEMP_OUT_H = 0x41
REG_GYRO_XOUT_H = 0x43
REG_PWR_MGMT_1 = 0x6B
REG_PWR_MGMT_2 = 0x6C
REG_WHO_AM_I = 0x75

WHO_AM_I_VALUE = 0x68
PWR_MGMT_1_RESET = 0x40
PWR_SLEEP_BIT = 0x40
PWR_DEVICE_RESET_BIT = 0x80

ACCEL_LSB_PER_G = (16384.0, 8192.0, 4096.0, 2048.0)  # +-2, 4, 8, 16 g
GYRO_LSB_PER_DPS = (131.0, 65.5, 32.8, 16.4)  # +-250, 500, 1000, 2000 deg/s
ACCEL_RANGES_G = (2, 4, 8, 16)
GYRO_RANGES_DPS = (250, 500, 1000, 2000)

_READ_ONLY = frozenset(range(REG_ACCEL_XOUT_H, REG_GYRO_XOUT_H + 6)) | {REG_WHO_AM_I}
_REGISTER_COUNT = 128


def temperature_raw(temperature_c: float) -> int:
    """The TEMP_OUT value for a temperature (datasheet: T = raw / 340 + 36.53)."""
    return int(round((temperature_c - 36.53) * 340.0))


class Mpu6050Model:
    """Register file of one MPU-6050; sensor registers follow the simulated motion."""

    def __init__(self) -> None:
        self.registers = bytearray(_REGISTER_COUNT)
        self.pointer = 0
        self.accel_mps2 = np.array([0.0, 0.0, STANDARD_GRAVITY_MPS2])
        self.gyro_rad_s = np.zeros(3)
        self.temperature_c = 25.0
        self.reset()

    def reset(self) -> None:
        self.registers[:] = bytes(_REGISTER_COUNT)
        self.registers[REG_PWR_MGMT_1] = PWR_MGMT_1_RESET
        self.registers[REG_WHO_AM_I] = WHO_AM_I_VALUE

    @property
    def asleep(self) -> bool:
        return bool(self.registers[REG_PWR_MGMT_1] & PWR_SLEEP_BIT)

    def set_motion(self, accel_mps2: tuple[float, float, float] | np.ndarray,
                   gyro_rad_s: tuple[float, float, float] | np.ndarray,
                   temperature_c: float = 25.0) -> None:
        self.accel_mps2 = np.asarray(accel_mps2, dtype=float).reshape(3).copy()
        self.gyro_rad_s = np.asarray(gyro_rad_s, dtype=float).reshape(3).copy()
        self.temperature_c = float(temperature_c)

    def _sample(self) -> None:
        """Latch the simulated motion into the data registers (an awake sensor samples)."""
        if self.asleep:
            return
        afs = (self.registers[REG_ACCEL_CONFIG] >> 3) & 3
        fs = (self.registers[REG_GYRO_CONFIG] >> 3) & 3
        accel = np.round(self.accel_mps2 / STANDARD_GRAVITY_MPS2 * ACCEL_LSB_PER_G[afs])
        gyro = np.round(np.degrees(self.gyro_rad_s) * GYRO_LSB_PER_DPS[fs])
        raw = np.concatenate([accel, [temperature_raw(self.temperature_c)], gyro])
        raw = np.clip(raw, -32768, 32767).astype(">i2")
        self.registers[REG_ACCEL_XOUT_H:REG_GYRO_XOUT_H + 6] = raw.tobytes()

    def read(self, register: int, count: int) -> bytes:
        self._sample()
        out = bytes(self.registers[(register + i) % _REGISTER_COUNT] for i in range(count))
        self.pointer = (register + count) % _REGISTER_COUNT
        return out

    def write(self, register: int, data: bytes) -> None:
        for offset, value in enumerate(data):
            reg = (register + offset) % _REGISTER_COUNT
            if reg == REG_PWR_MGMT_1 and value & PWR_DEVICE_RESET_BIT:
                self.reset()
                continue
            if reg not in _READ_ONLY:
                self.registers[reg] = value
        self.pointer = (register + len(data)) % _REGISTER_COUNT

