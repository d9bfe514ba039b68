"""Raspberry Pi 40-pin header facts: BOARD (physical) to BCM numbering, special pins."""

from __future__ import annotations

# Physical header pin -> BCM GPIO (the pins that are GPIOs; the rest are power/ground).
BOARD_TO_BCM: dict[int, int] = {
    3: 2, 5: 3, 7: 4, 8: 14, 10: 15, 11: 17, 12: 18, 13: 27, 15: 22, 16: 23, 18: 24, 19: 10,
    21: 9, 22: 25, 23: 11, 24: 8, 26: 7, 27: 0, 28: 1, 29: 5, 31: 6, 32: 12, 33: 13, 35: 19,
    36: 16, 37: 26, 38: 20, 40: 21,
}
BCM_HEADER_GPIOS = frozenset(range(28))
HARDWARE_PWM_GPIOS = frozenset({12, 13, 18, 19})
I2C_BUS_PINS: dict[int, tuple[int, int]] = {0: (0, 1), 1: (2, 3)}  # (SDA, SCL)


def bcm_pin(pin: int, numbering: str = "BCM") -> int:
    """The BCM number of `pin` given in `numbering` ('BCM' or 'BOARD')."""
    if numbering.upper() == "BOARD":
        if pin not in BOARD_TO_BCM:
            raise ValueError(f"physical pin {pin} is not a GPIO on the 40-pin header")
        return BOARD_TO_BCM[pin]
    if pin not in BCM_HEADER_GPIOS:
        raise ValueError(f"BCM {pin} is not a GPIO on the 40-pin header")
    return pin
