"""Raspberry Pi hardware drivers on pigpio, safe on every exit, and a virtual Pi speaking the pigpio daemon protocol."""
