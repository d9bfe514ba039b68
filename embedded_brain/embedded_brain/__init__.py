"""The embedded brain: a local spiking network that learns and serves the Artificial
Brains realtime protocol (SDK 0.1) and the Prima-Lux device API (SDK 0.4); see README.md."""
